"""What every back-office list shares: read-only unless a view says otherwise, Keyfob's
formatting, row actions as POST forms, and a 404 (not a 500) for an identifier that is no
number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast

from babel.support import LazyProxy
from sqladmin import ModelView
from sqladmin._types import MODEL_ATTR
from sqlalchemy import Select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin.actions import RowAction, Step, back_to, perform
from keyfob.admin.auth import require_recent_passkey
from keyfob.admin.formatting import TYPE_FORMATTERS
from keyfob.web.runtime import Runtime

V = TypeVar("V", bound=type[ModelView])


class _Label(LazyProxy):
    """A lazy label SQLAdmin can also use as a dict key (it builds a reverse map of labels)."""

    def __hash__(self) -> int:
        return hash(str(self))


def labels(table: dict[str, str]) -> dict[MODEL_ATTR, str]:
    """Column labels from lazy_gettext strings, still translated at each use."""
    labelled: dict[MODEL_ATTR, str] = {
        name: cast(str, _Label(str, text, enable_cache=False)) for name, text in table.items()
    }
    return labelled


MAX_ID_DIGITS = 18


def identity(name: str) -> Callable[[V], V]:
    """SQLAdmin names a view after its model; a second view of one model needs its own name."""

    def rename(view: V) -> V:
        view.identity = name
        return view

    return rename


class KeyfobView(ModelView):
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    can_import = False
    page_size = 25
    page_size_options: ClassVar[list[int]] = [25, 50, 100]
    actions_in_list: ClassVar[bool] = True
    list_template = "list.html"
    details_template = "details.html"
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = TYPE_FORMATTERS

    @property
    def runtime(self) -> Runtime:
        runtime = getattr(self._admin_ref, "runtime", None)
        assert isinstance(runtime, Runtime), "added to a keyfob.admin KeyfobAdmin"
        return runtime

    def title_of(self, row: Any) -> str:
        """How a details page names its row."""
        return f"#{row.id}"

    def row_actions(self, request: Request, row: Any) -> list[RowAction]:
        """The buttons for one row, in the list and on its details page."""
        return []

    def related(self, request: Request, row: Any) -> list[tuple[str, str]]:
        """Links from a details page to other lists about the same row: (label, url)."""
        return []

    def row_action(
        self, request: Request, row: Any, name: str, label: str, *, confirm: str = ""
    ) -> RowAction:
        """The button for this view's `@expose`d POST endpoint `name`, for `row`."""
        url = request.url_for(f"admin:view-{self.identity}-{name}", pk=row.id)
        return RowAction(label=label, url=str(url), confirm=confirm)

    def list_url(self, request: Request) -> str:
        return str(request.url_for("admin:list", identity=self.identity))

    async def act(
        self, request: Request, step: Step, *, done: str, stay: bool = True, recent: bool = True
    ) -> Response:
        """`stay`: back to the page the button was on; else to the list (the row is gone).
        `recent`: a sensitive step, which needs a recently confirmed passkey."""
        back = back_to(
            request, origin=self.runtime.settings.origin, fallback=self.list_url(request)
        )
        then = back if stay else self.list_url(request)
        if recent:
            require_recent_passkey(request, within=self.runtime.settings.reauth_within, back=back)
        return await perform(request, self.runtime, step, done=done, then=then)

    def search_placeholder(self) -> str:
        return ", ".join(str(self._column_labels.get(f, f)) for f in self._search_fields)

    def form_details_query(self, request: Request) -> Select[Any]:
        _require_numeric_pk(request)
        return super().form_details_query(request)

    def form_edit_query(self, request: Request) -> Select[Any]:
        _require_numeric_pk(request)
        return super().form_edit_query(request)


def _require_numeric_pk(request: Request) -> None:
    pk = request.path_params.get("pk")
    if not isinstance(pk, str) or not (pk.isascii() and pk.isdigit()) or len(pk) > MAX_ID_DIGITS:
        raise HTTPException(404)
