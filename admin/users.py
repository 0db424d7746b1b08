"""Users: every account, how it signs in, and what staff can do to it."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, ClassVar

from sqladmin import expose
from sqladmin.pagination import Pagination
from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin import steps
from keyfob.admin.actions import Actor, RowAction
from keyfob.admin.auth import current_staff
from keyfob.admin.base import KeyfobView, labels
from keyfob.admin.filters import yes_no
from keyfob.admin.formatting import lock_reason, sign_in_method
from keyfob.auth import lockout, moderation, recovery
from keyfob.i18n import gettext, lazy_gettext
from keyfob.models import Passkey, User, utcnow

PASSKEY_COUNTS = "keyfob_passkey_counts"
RECOVERY = "keyfob_recovery_status"


def locked_now() -> ColumnElement[bool]:
    return and_(User.locked_until.is_not(None), User.locked_until > utcnow())


def has_passkey() -> ColumnElement[bool]:
    return exists().where(Passkey.user_id == User.id)


def passkey_count(user: Any, _name: str, request: Request) -> int:
    counts: dict[int, int] = getattr(request.state, PASSKEY_COUNTS, {})
    return counts.get(user.id, 0)


def recovery_app(user: Any, _name: str, request: Request) -> str:
    state: recovery.RecoveryStatus | None = getattr(request.state, RECOVERY, None)
    return gettext("Yes") if state is not None and state.app else gettext("No")


def recovery_codes(user: Any, _name: str, request: Request) -> int:
    state: recovery.RecoveryStatus | None = getattr(request.state, RECOVERY, None)
    return state.codes_left if state is not None else 0


LABELS = labels(
    {
        "email": lazy_gettext("Email"),
        "passkeys": lazy_gettext("Passkeys"),
        "is_staff": lazy_gettext("Staff"),
        "is_active": lazy_gettext("Enabled"),
        "email_verified_at": lazy_gettext("Verified"),
        "last_sign_in_at": lazy_gettext("Last sign-in"),
        "last_sign_in_method": lazy_gettext("Last sign-in method"),
        "created_at": lazy_gettext("Created"),
        "locale": lazy_gettext("Language"),
        "code_failures": lazy_gettext("Failed codes"),
        "code_failures_since": lazy_gettext("Failing since"),
        "locked_until": lazy_gettext("Locked until"),
        "lock_reason": lazy_gettext("Reason"),
        "recovery_app": lazy_gettext("Authenticator app"),
        "recovery_codes": lazy_gettext("Unused recovery codes"),
    }
)


class UserAdmin(KeyfobView, model=User):
    name = lazy_gettext("User")
    name_plural = lazy_gettext("Users")
    icon = "fa-solid fa-users"
    actions_in_list = False  # on the details page: the list stays readable
    column_list: ClassVar[list[str]] = [
        "email",
        "passkeys",
        "is_staff",
        "is_active",
        "email_verified_at",
        "last_sign_in_at",
        "last_sign_in_method",
        "created_at",
    ]
    column_details_list: ClassVar[list[str]] = [
        *column_list,
        "locale",
        "code_failures",
        "locked_until",
        "lock_reason",
        "recovery_app",
        "recovery_codes",
    ]
    column_labels = LABELS
    column_searchable_list = (User.email,)
    column_sortable_list = (User.email, User.created_at, User.last_sign_in_at)
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("created_at", True)]
    column_filters = (
        yes_no(
            title=lazy_gettext("Staff"),
            parameter_name="staff",
            condition=lambda: User.is_staff.is_(True),
        ),
        yes_no(title=lazy_gettext("Locked now"), parameter_name="locked", condition=locked_now),
        yes_no(
            title=lazy_gettext("Has a passkey"), parameter_name="passkey", condition=has_passkey
        ),
        yes_no(
            title=lazy_gettext("Verified"),
            parameter_name="verified",
            condition=lambda: User.email_verified_at.is_not(None),
        ),
        yes_no(
            title=lazy_gettext("Enabled"),
            parameter_name="enabled",
            condition=lambda: User.is_active.is_(True),
        ),
    )
    column_formatters: ClassVar[dict[Any, Any]] = {
        "passkeys": passkey_count,
        "last_sign_in_method": sign_in_method,
        "lock_reason": lock_reason,
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        **column_formatters,
        "recovery_app": recovery_app,
        "recovery_codes": recovery_codes,
    }
    can_edit = True
    form_columns = (User.is_staff,)
    form_args: ClassVar[dict[str, dict[str, Any]]] = {"is_staff": {"label": lazy_gettext("Staff")}}
    edit_template = "user_edit.html"

    def title_of(self, row: Any) -> str:
        return str(row.email)

    async def list(self, request: Request) -> Pagination:
        page = await super().list(request)
        await self._count_passkeys(request, [user.id for user in page.rows])
        return page

    async def get_object_for_details(self, request: Request) -> Any:
        user = await super().get_object_for_details(request)
        if user is not None:
            await self._count_passkeys(request, [user.id])
            async with self.runtime.sessionmaker() as db:
                setattr(request.state, RECOVERY, await recovery.status(db, user_id=user.id))
        return user

    async def _count_passkeys(self, request: Request, user_ids: Sequence[int]) -> None:
        statement = (
            select(Passkey.user_id, func.count())
            .where(Passkey.user_id.in_(user_ids))
            .group_by(Passkey.user_id)
        )
        async with self.runtime.sessionmaker() as db:
            rows = (await db.execute(statement)).all()
        counts = {int(user_id): int(count) for user_id, count in rows}
        setattr(request.state, PASSKEY_COUNTS, counts)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        """The edit form changes only the staff flag, through the audited flow (a recently
        confirmed passkey was checked first, see KeyfobAdmin.edit)."""
        staff = current_staff(request)
        async with self.runtime.sessionmaker() as db, db.begin():
            by = await db.get_one(User, staff.user_id)
            return await moderation.set_staff_flag(
                db, user_id=int(pk), is_staff=bool(data.get("is_staff")), by=by
            )

    def related(self, request: Request, row: Any) -> builtins.list[tuple[str, str]]:
        lists = {
            "passkey": gettext("Their passkeys"),
            "sign-in-session": gettext("Their sessions"),
            "audit-event": gettext("Their audit log"),
        }
        return [
            (
                label,
                str(
                    request.url_for("admin:list", identity=view).include_query_params(
                        search=row.email
                    )
                ),
            )
            for view, label in lists.items()
        ]

    def row_actions(self, request: Request, row: Any) -> builtins.list[RowAction]:
        actions = []
        if lockout.is_locked(row, now=utcnow()):
            actions.append(self.row_action(request, row, "unlock", gettext("Unlock")))
        if row.is_active:
            confirm = gettext("Disable and sign out")
            actions.append(
                self.row_action(request, row, "disable", gettext("Disable"), confirm=confirm)
            )
        else:
            actions.append(self.row_action(request, row, "enable", gettext("Enable")))
        label, confirm = gettext("Sign out everywhere"), gettext("End every session")
        actions.append(self.row_action(request, row, "sign_out", label, confirm=confirm))
        state: recovery.RecoveryStatus | None = getattr(request.state, RECOVERY, None)
        checked = gettext("I have checked who is asking: remove it")
        if state is not None and state.app:
            label = gettext("Remove authenticator app")
            actions.append(self.row_action(request, row, "remove_app", label, confirm=checked))
        if state is not None and state.codes_issued:
            label = gettext("Remove recovery codes")
            actions.append(self.row_action(request, row, "remove_codes", label, confirm=checked))
        return actions

    @expose("/{pk:int}/disable", methods=["POST"])
    async def disable(self, request: Request) -> Response:
        return await self.act(request, steps.disable, done=gettext("The account is disabled."))

    @expose("/{pk:int}/enable", methods=["POST"])
    async def enable(self, request: Request) -> Response:
        done = gettext("The account is enabled.")
        return await self.act(request, steps.enable, done=done, recent=False)

    @expose("/{pk:int}/sign_out", methods=["POST"])
    async def sign_out(self, request: Request) -> Response:
        done = gettext("Every session of the account has ended.")
        return await self.act(request, steps.sign_out, done=done)

    @expose("/{pk:int}/unlock", methods=["POST"])
    async def unlock(self, request: Request) -> Response:
        done = gettext("The account is unlocked.")
        return await self.act(request, steps.unlock, done=done, recent=False)

    async def _remove_factors(
        self, request: Request, *, app: bool, codes: bool, done: str
    ) -> Response:
        notifier = self.runtime.notifier

        async def step(db: AsyncSession, actor: Actor, pk: int) -> object:
            return await moderation.remove_recovery_factors(
                db,
                user_id=pk,
                app=app,
                codes=codes,
                by=actor.user,
                now=actor.now,
                ip=actor.ip,
                notifier=notifier,
            )

        return await self.act(request, step, done=done)

    @expose("/{pk:int}/remove_app", methods=["POST"])
    async def remove_app(self, request: Request) -> Response:
        done = gettext("The authenticator app is removed.")
        return await self._remove_factors(request, app=True, codes=False, done=done)

    @expose("/{pk:int}/remove_codes", methods=["POST"])
    async def remove_codes(self, request: Request) -> Response:
        done = gettext("The recovery codes are removed.")
        return await self._remove_factors(request, app=False, codes=True, done=done)
