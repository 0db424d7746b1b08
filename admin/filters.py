"""List filters SQLAdmin does not have: computed yes/no conditions and a day filter.

Any value in the query string is accepted without a 500: unknown yes/no values filter nothing,
and a day that is not YYYY-MM-DD is a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqladmin._types import _UNSET
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute
from starlette.exceptions import HTTPException
from starlette.requests import Request

from keyfob.i18n import gettext, lazy_gettext

Condition = Callable[[], ColumnElement[bool]]


class ChoiceFilter:
    """Named conditions, built per request so they may depend on the time ("locked now")."""

    has_operator = False
    default_value: Any = _UNSET
    template = "filters/choices.html"

    def __init__(
        self, *, title: str, parameter_name: str, choices: dict[str, tuple[str, Condition]]
    ) -> None:
        self.title = title
        self.parameter_name = parameter_name
        self.choices = choices

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select[Any]], Any]
    ) -> list[tuple[str, str]]:
        return [("__all", gettext("All"))] + [
            (value, str(label)) for value, (label, _) in self.choices.items()
        ]

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        choice = self.choices.get(value) if isinstance(value, str) else None
        return query if choice is None else query.where(choice[1]())


def yes_no(*, title: str, parameter_name: str, condition: Condition) -> ChoiceFilter:
    return ChoiceFilter(
        title=title,
        parameter_name=parameter_name,
        choices={
            "yes": (lazy_gettext("Yes"), condition),
            "no": (lazy_gettext("No"), lambda: ~condition()),
        },
    )


class DistinctValuesFilter:
    """One choice per value found in the column (audit event kinds, mail kinds)."""

    has_operator = False
    default_value: Any = _UNSET
    template = "filters/choices.html"

    def __init__(self, column: InstrumentedAttribute[str], *, title: str) -> None:
        self.column = column
        self.title = title
        self.parameter_name = column.key

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select[Any]], Any]
    ) -> list[tuple[str, str]]:
        found = await run_query(select(self.column).distinct().order_by(self.column))
        return [("__all", gettext("All"))] + [(row[0], row[0]) for row in found]

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if not isinstance(value, str) or value in ("", "__all"):
            return query
        return query.where(self.column == value)


class DayFilter:
    """On, from or until a day (UTC), with the browser's own date picker."""

    has_operator = True
    template = "filters/day.html"

    def __init__(self, column: InstrumentedAttribute[datetime], *, title: str) -> None:
        self.column = column
        self.title = title
        self.parameter_name = column.key

    def get_operation_options_for_model(self, model: Any) -> list[tuple[str, str]]:
        return [("on", gettext("On")), ("from", gettext("From")), ("until", gettext("Until"))]

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select[Any]], Any]
    ) -> list[tuple[str, str]]:
        return []

    async def get_filtered_query(
        self, query: Select[Any], operation: str, value: Any, model: Any
    ) -> Select[Any]:
        start = _day(value)
        end = start + timedelta(days=1)
        if operation == "on":
            return query.where(self.column >= start, self.column < end)
        if operation == "from":
            return query.where(self.column >= start)
        if operation == "until":
            return query.where(self.column < end)
        return query


def _day(value: Any) -> datetime:
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise HTTPException(400, gettext("Enter a date as YYYY-MM-DD.")) from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
