"""Sessions: the signed-in browsers that are live now, and a way to end one."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import expose
from sqlalchemy import Select, select
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin import steps
from keyfob.admin.actions import RowAction
from keyfob.admin.base import KeyfobView, labels
from keyfob.admin.filters import ChoiceFilter, yes_no
from keyfob.admin.formatting import device, sign_in_method
from keyfob.i18n import gettext, lazy_gettext
from keyfob.models import SignInSession, utcnow


class SessionAdmin(KeyfobView, model=SignInSession):
    name = lazy_gettext("Session")
    name_plural = lazy_gettext("Sessions")
    icon = "fa-solid fa-desktop"
    column_list: ClassVar[list[str]] = [
        "user",
        "method",
        "is_recovery",
        "device",
        "ip",
        "created_at",
        "last_seen_at",
    ]
    column_details_list: ClassVar[list[str]] = [
        "user",
        "method",
        "is_recovery",
        "device",
        "user_agent",
        "ip",
        "created_at",
        "authenticated_at",
        "last_seen_at",
    ]
    column_labels = labels(
        {
            "user": lazy_gettext("Account"),
            "user.email": lazy_gettext("Account"),
            "method": lazy_gettext("Signed in with"),
            "is_recovery": lazy_gettext("Recovery"),
            "device": lazy_gettext("Device"),
            "user_agent": lazy_gettext("User-Agent"),
            "ip": lazy_gettext("IP address"),
            "created_at": lazy_gettext("Signed in"),
            "authenticated_at": lazy_gettext("Last confirmed"),
            "last_seen_at": lazy_gettext("Last seen"),
        }
    )
    column_searchable_list = ("user.email", SignInSession.ip)
    column_sortable_list = (SignInSession.created_at, SignInSession.last_seen_at)
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("last_seen_at", True)]
    column_filters = (
        ChoiceFilter(
            title=lazy_gettext("Signed in with"),
            parameter_name="method",
            choices={
                "passkey": (lazy_gettext("Passkey"), lambda: SignInSession.method == "passkey"),
                "code": (lazy_gettext("Emailed code"), lambda: SignInSession.method == "code"),
            },
        ),
        yes_no(
            title=lazy_gettext("Recovery"),
            parameter_name="recovery",
            condition=lambda: SignInSession.is_recovery.is_(True),
        ),
    )
    column_formatters: ClassVar[dict[Any, Any]] = {"device": device, "method": sign_in_method}
    column_formatters_detail = column_formatters

    def list_query(self, request: Request) -> Select[Any]:
        """Live only: what keyfob.auth.sessions.find_session would still accept."""
        settings = self.runtime.settings
        now = utcnow()
        return select(SignInSession).where(
            SignInSession.created_at > now - settings.session_lifetime,
            SignInSession.last_seen_at > now - settings.session_idle,
        )

    def row_actions(self, request: Request, row: Any) -> list[RowAction]:
        confirm = gettext("End this session")
        return [self.row_action(request, row, "revoke", gettext("Sign out"), confirm=confirm)]

    @expose("/{pk:int}/revoke", methods=["POST"])
    async def revoke(self, request: Request) -> Response:
        done = gettext("The session has ended.")
        return await self.act(request, steps.revoke_session, done=done, stay=False)
