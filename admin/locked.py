"""Locked accounts: only those whose code sign-in is locked at this moment."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import expose
from sqlalchemy import Select, select
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin import steps
from keyfob.admin.actions import RowAction
from keyfob.admin.base import KeyfobView, identity
from keyfob.admin.formatting import lock_reason
from keyfob.admin.users import LABELS, locked_now
from keyfob.auth import lockout
from keyfob.i18n import gettext, lazy_gettext
from keyfob.models import User, utcnow


@identity("locked-account")
class LockedAccountAdmin(KeyfobView, model=User):
    """Only the accounts whose code sign-in is locked at this moment."""

    name = lazy_gettext("Locked account")
    name_plural = lazy_gettext("Locked accounts")
    icon = "fa-solid fa-lock"
    column_list: ClassVar[list[str]] = [
        "email",
        "lock_reason",
        "code_failures",
        "code_failures_since",
        "locked_until",
    ]
    column_details_list: ClassVar[list[str]] = [*column_list, "last_sign_in_at", "created_at"]
    column_labels = LABELS
    column_searchable_list = (User.email,)
    column_sortable_list = (User.email, User.locked_until, User.code_failures)
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("locked_until", False)]
    column_formatters: ClassVar[dict[Any, Any]] = {"lock_reason": lock_reason}
    column_formatters_detail = column_formatters

    def list_query(self, request: Request) -> Select[Any]:
        return select(User).where(locked_now())

    def row_actions(self, request: Request, row: Any) -> list[RowAction]:
        if not lockout.is_locked(row, now=utcnow()):
            return []
        return [self.row_action(request, row, "unlock", gettext("Unlock"))]

    @expose("/{pk:int}/unlock", methods=["POST"])
    async def unlock(self, request: Request) -> Response:
        done = gettext("The account is unlocked.")
        return await self.act(request, steps.unlock, done=done, stay=False, recent=False)
