"""The back office's home: a handful of counts, each one query, read in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.numbers import format_percent
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.i18n import babel_locale, current_locale
from keyfob.models import AuditEvent, OutboxMail, Passkey, User

RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class Dashboard:
    accounts: int
    with_passkey: int
    passkeys: int
    synced: int
    locked: int
    mail_queued: int
    mail_failed: int
    sign_ins: dict[str, int]
    last_methods: dict[str, int]

    @staticmethod
    def share(part: int, whole: int) -> str:
        """A share in the reader's number format ("42 %" in French); a dash for 0 of 0."""
        if whole == 0:
            return "—"
        return format_percent(part / whole, locale=babel_locale(current_locale()))


async def gather(db: AsyncSession, *, now: datetime) -> Dashboard:
    return Dashboard(
        accounts=await _count(db, select(func.count()).select_from(User)),
        with_passkey=await _count(db, select(func.count(func.distinct(Passkey.user_id)))),
        passkeys=await _count(db, select(func.count()).select_from(Passkey)),
        synced=await _count(db, _where(Passkey, Passkey.backed_up.is_(True))),
        locked=await _count(db, _where(User, User.locked_until > now)),
        mail_queued=await _count(
            db, _where(OutboxMail, OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None))
        ),
        mail_failed=await _count(db, _where(OutboxMail, OutboxMail.failed_at.is_not(None))),
        sign_ins=await _sign_ins(db, since=now - RECENT),
        last_methods=await _last_methods(db),
    )


def _where(model: type[Any], *conditions: ColumnElement[bool]) -> Select[Any]:
    return select(func.count()).select_from(model).where(*conditions)


async def _count(db: AsyncSession, statement: Select[Any]) -> int:
    return int(await db.scalar(statement) or 0)


async def _sign_ins(db: AsyncSession, *, since: datetime) -> dict[str, int]:
    """From the audit log, so it counts sign-ins, not accounts."""
    by_method = AuditEvent.detail["method"].as_string()
    rows = await db.execute(
        select(by_method, func.count())
        .where(AuditEvent.kind == "sign_in", AuditEvent.at >= since)
        .group_by(by_method)
    )
    return {str(method or "?"): int(count) for method, count in rows.all()}


async def _last_methods(db: AsyncSession) -> dict[str, int]:
    """How each account last signed in (never: not counted)."""
    rows = await db.execute(
        select(User.last_sign_in_method, func.count())
        .where(User.last_sign_in_method.is_not(None))
        .group_by(User.last_sign_in_method)
    )
    return {str(method): int(count) for method, count in rows.all()}
