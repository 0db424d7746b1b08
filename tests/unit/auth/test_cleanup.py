"""The purge removes only what has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import codes, passkeys
from keyfob.auth.cleanup import Retention, purge_expired
from keyfob.auth.sessions import open_session
from keyfob.models import AuditEvent, EmailCode, SignInSession, User, WebAuthnChallenge

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEEP = Retention(
    audit=timedelta(days=365), session_idle=timedelta(days=7), session_lifetime=timedelta(days=30)
)


async def count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_expired_rows_go_and_live_ones_stay(db: AsyncSession) -> None:
    user = User(email="ann@example.org", created_at=NOW)
    db.add(user)
    await db.flush()
    await codes.issue_code(
        db,
        email="old@example.org",
        key=b"k",
        now=NOW - timedelta(hours=1),
        ttl=timedelta(minutes=10),
        resend_after=timedelta(0),
    )
    await codes.issue_code(
        db,
        email="new@example.org",
        key=b"k",
        now=NOW,
        ttl=timedelta(minutes=10),
        resend_after=timedelta(0),
    )
    await passkeys.begin_authentication(
        db, rp_id="localhost", now=NOW - timedelta(hours=1), ttl=timedelta(minutes=5)
    )
    await passkeys.begin_authentication(db, rp_id="localhost", now=NOW, ttl=timedelta(minutes=5))
    await open_session(
        db,
        user=user,
        method="passkey",
        recovery=False,
        ip="",
        user_agent="",
        now=NOW - timedelta(days=8),
    )
    await open_session(
        db, user=user, method="passkey", recovery=False, ip="", user_agent="", now=NOW
    )
    db.add(AuditEvent(kind="old", at=NOW - timedelta(days=400)))
    db.add(AuditEvent(kind="new", at=NOW))
    await db.flush()

    await purge_expired(db, now=NOW, keep=KEEP)

    assert (await db.scalars(select(EmailCode.email))).all() == ["new@example.org"]
    assert await count(db, WebAuthnChallenge) == 1
    assert await count(db, SignInSession) == 1
    assert (await db.scalars(select(AuditEvent.kind))).all() == ["new"]
