"""Removes what has expired, so tables stay small and old personal data does not linger.

Every statement is an idempotent DELETE, so any number of workers may run it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.models import AuditEvent, EmailCode, OutboxMail, SignInSession, WebAuthnChallenge

KEEP_SENT_MAIL = timedelta(days=30)


@dataclass(frozen=True)
class Retention:
    audit: timedelta
    session_idle: timedelta
    session_lifetime: timedelta


async def purge_expired(db: AsyncSession, *, now: datetime, keep: Retention) -> None:
    await db.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))
    await db.execute(delete(EmailCode).where(EmailCode.expires_at <= now))
    await db.execute(
        delete(SignInSession).where(
            or_(
                SignInSession.created_at <= now - keep.session_lifetime,
                SignInSession.last_seen_at <= now - keep.session_idle,
            )
        )
    )
    await db.execute(delete(AuditEvent).where(AuditEvent.at <= now - keep.audit))
    await db.execute(
        delete(OutboxMail).where(
            or_(
                OutboxMail.sent_at <= now - KEEP_SENT_MAIL,
                OutboxMail.failed_at <= now - KEEP_SENT_MAIL,
            )
        )
    )
