"""Authenticators: every passkey, with its provider, its use, and a way to revoke it."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import expose
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin.actions import Actor, RowAction
from keyfob.admin.base import KeyfobView, labels
from keyfob.admin.filters import yes_no
from keyfob.admin.formatting import backup, provider, provider_and_aaguid
from keyfob.auth import moderation
from keyfob.i18n import gettext, lazy_gettext
from keyfob.models import Passkey


class PasskeyAdmin(KeyfobView, model=Passkey):
    name = lazy_gettext("Authenticator")
    name_plural = lazy_gettext("Authenticators")
    icon = "fa-solid fa-key"
    column_list: ClassVar[list[str]] = [
        "user",
        "name",
        "provider",
        "created_at",
        "last_used_at",
        "sign_count",
        "transports",
        "backup",
    ]
    column_details_list: ClassVar[list[str]] = [
        "user",
        "name",
        "provider",
        "aaguid",
        "created_at",
        "last_used_at",
        "sign_count",
        "transports",
        "backup_eligible",
        "backed_up",
    ]
    column_labels = labels(
        {
            "user": lazy_gettext("Owner"),
            "user.email": lazy_gettext("Owner"),
            "name": lazy_gettext("Name"),
            "provider": lazy_gettext("Provider"),
            "aaguid": lazy_gettext("AAGUID"),
            "created_at": lazy_gettext("Created"),
            "last_used_at": lazy_gettext("Last used"),
            "sign_count": lazy_gettext("Sign count"),
            "transports": lazy_gettext("Transports"),
            "backup_eligible": lazy_gettext("Backup eligible"),
            "backed_up": lazy_gettext("Backed up (synced)"),
            "backup": lazy_gettext("Backup"),
        }
    )
    column_searchable_list = ("user.email", Passkey.name, Passkey.aaguid)
    column_sortable_list = (
        Passkey.name,
        Passkey.created_at,
        Passkey.last_used_at,
        Passkey.sign_count,
    )
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("created_at", True)]
    column_filters = (
        yes_no(
            title=lazy_gettext("Synced"),
            parameter_name="synced",
            condition=lambda: Passkey.backed_up.is_(True),
        ),
        yes_no(
            title=lazy_gettext("Backup eligible"),
            parameter_name="eligible",
            condition=lambda: Passkey.backup_eligible.is_(True),
        ),
        yes_no(
            title=lazy_gettext("Ever used"),
            parameter_name="used",
            condition=lambda: Passkey.last_used_at.is_not(None),
        ),
    )
    column_formatters: ClassVar[dict[Any, Any]] = {
        "provider": provider_and_aaguid,
        "backup": backup,
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {"provider": provider}

    def row_actions(self, request: Request, row: Any) -> list[RowAction]:
        confirm = gettext("Revoke this passkey")
        return [self.row_action(request, row, "revoke", gettext("Revoke"), confirm=confirm)]

    @expose("/{pk:int}/revoke", methods=["POST"])
    async def revoke(self, request: Request) -> Response:
        notifier = self.runtime.notifier

        async def step(db: AsyncSession, actor: Actor, pk: int) -> object:
            return await moderation.revoke_passkey(
                db, passkey_id=pk, by=actor.user, now=actor.now, ip=actor.ip, notifier=notifier
            )

        done = gettext(
            "The passkey is revoked: it no longer signs anyone in, and the browsers it signed "
            "in are signed out."
        )
        return await self.act(request, step, done=done, stay=False)
