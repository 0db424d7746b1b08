"""Mail outbox: what is queued, sent or failed, and why; never what a mail says.

A queued mail's text holds a sign-in code until it is delivered, and staff must not be able to
read one: the body columns are not listed, searched, sorted, exported or even loaded here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import expose
from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import defer
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin import steps
from keyfob.admin.actions import RowAction
from keyfob.admin.base import KeyfobView, labels
from keyfob.admin.filters import ChoiceFilter, DistinctValuesFilter
from keyfob.i18n import gettext, lazy_gettext
from keyfob.models import OutboxMail


def queued() -> ColumnElement[bool]:
    return and_(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None))


def status(mail: Any, _name: str) -> str:
    if mail.sent_at is not None:
        return gettext("Sent")
    if mail.failed_at is not None:
        return gettext("Failed")
    return gettext("Queued")


def _without_body(statement: Select[Any]) -> Select[Any]:
    return statement.options(
        defer(OutboxMail.text, raiseload=True), defer(OutboxMail.html, raiseload=True)
    )


class OutboxAdmin(KeyfobView, model=OutboxMail):
    name = lazy_gettext("Mail")
    name_plural = lazy_gettext("Mail outbox")
    icon = "fa-solid fa-envelope"
    column_list: ClassVar[list[str]] = [
        "to_addr",
        "kind",
        "status",
        "attempts",
        "created_at",
        "next_try_at",
        "sent_at",
        "last_error",
    ]
    column_details_list: ClassVar[list[str]] = [
        "to_addr",
        "kind",
        "status",
        "attempts",
        "created_at",
        "next_try_at",
        "claimed_until",
        "sent_at",
        "failed_at",
        "last_error",
    ]
    column_labels = labels(
        {
            "to_addr": lazy_gettext("To"),
            "kind": lazy_gettext("Kind"),
            "status": lazy_gettext("Status"),
            "attempts": lazy_gettext("Attempts"),
            "created_at": lazy_gettext("Queued at"),
            "next_try_at": lazy_gettext("Next try"),
            "claimed_until": lazy_gettext("Being sent until"),
            "sent_at": lazy_gettext("Sent at"),
            "failed_at": lazy_gettext("Given up"),
            "last_error": lazy_gettext("Last error"),
        }
    )
    column_searchable_list = (OutboxMail.to_addr,)
    column_sortable_list = (OutboxMail.created_at, OutboxMail.next_try_at, OutboxMail.attempts)
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("created_at", True)]
    column_filters = (
        ChoiceFilter(
            title=lazy_gettext("Status"),
            parameter_name="status",
            choices={
                "queued": (lazy_gettext("Queued"), queued),
                "sent": (lazy_gettext("Sent"), lambda: OutboxMail.sent_at.is_not(None)),
                "failed": (lazy_gettext("Failed"), lambda: OutboxMail.failed_at.is_not(None)),
            },
        ),
        DistinctValuesFilter(OutboxMail.kind, title=lazy_gettext("Kind")),
    )
    column_formatters: ClassVar[dict[Any, Any]] = {"status": status}
    column_formatters_detail = column_formatters

    def list_query(self, request: Request) -> Select[Any]:
        return _without_body(select(OutboxMail))

    def details_query(self, request: Request) -> Select[Any]:
        return _without_body(super().details_query(request))

    def row_actions(self, request: Request, row: Any) -> list[RowAction]:
        if row.sent_at is not None or row.failed_at is not None:
            return []
        return [self.row_action(request, row, "retry", gettext("Retry now"))]

    @expose("/{pk:int}/retry", methods=["POST"])
    async def retry(self, request: Request) -> Response:
        done = gettext("The mail will be sent again now.")
        return await self.act(request, steps.retry_mail, done=done, recent=False)
