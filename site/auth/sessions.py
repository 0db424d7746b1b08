"""Signed-in sessions: server-side, revocable, and bounded by idle and absolute lifetimes.

The browser holds a 256-bit random token; the database holds only its SHA-256, so a leaked
table cannot be replayed as cookies. Lifetimes are enforced here, not by cookie expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth.audit import Subject
from keyfob.models import SignInSession, User, table
from keyfob.prepared import Prepared, link

TOUCH_EVERY = timedelta(minutes=1)
SESSIONS = table(SignInSession)
USERS = table(User)
_OPEN = Prepared(insert(SESSIONS))
_SIGNED_IN = Prepared(
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"))
    .values(last_sign_in_at=bindparam("now"), last_sign_in_method=bindparam("method"))
)
_REVOKE = Prepared(delete(SESSIONS).where(SESSIONS.c.token_hash == bindparam("token_hash")))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    db: AsyncSession,
    *,
    user: Subject,
    method: str,
    recovery: bool,
    ip: str,
    user_agent: str,
    now: datetime,
    passkey_id: int | None = None,
) -> str:
    """Returns the token for the cookie; the token is not stored anywhere. `passkey_id` names
    the passkey that signed in, so revoking it can end the session. Two Core statements: every
    sign-in runs them, and ORM objects and their flush would cost several times as much.
    Pending ORM rows are written first, so a user created in this transaction has its id."""
    await link(db)
    token = secrets.token_urlsafe(32)
    await _OPEN.later(
        db,
        {
            "user_id": user.id,
            "token_hash": hash_token(token),
            "method": method,
            "is_recovery": recovery,
            "created_at": now,
            "authenticated_at": now,
            "authenticated_by": method,
            "passkey_id": passkey_id,
            "last_seen_at": now,
            "ip": ip[:45],
            "user_agent": user_agent[:400],
        },
    )
    await _SIGNED_IN.later(db, {"user_id": user.id, "now": now, "method": method})
    return token


async def find_session(
    db: AsyncSession,
    *,
    token: str,
    now: datetime,
    idle: timedelta,
    lifetime: timedelta,
) -> SignInSession | None:
    """The live session for `token`, or None. Touches last_seen at most once a minute."""
    row = await db.scalar(
        select(SignInSession).where(SignInSession.token_hash == hash_token(token))
    )
    if row is None:
        return None
    if now - row.created_at > lifetime or now - row.last_seen_at > idle or not row.user.is_active:
        await db.delete(row)
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    return row


async def upgrade_session(
    db: AsyncSession, session: SignInSession, *, now: datetime, passkey_id: int
) -> str:
    """The session has just been proved with a passkey (re-authentication, or a recovery
    session that registered one): it is full, recent, and counts as that passkey's. Returns
    its new token (see `rotate_token`). Written with the request's transaction."""
    session.is_recovery = False
    session.method = "passkey"
    session.authenticated_at = now
    session.authenticated_by = "passkey"
    session.passkey_id = passkey_id
    token = rotate_token(session)
    await db.flush()
    return token


def rotate_token(session: SignInSession) -> str:
    """A new token for a session that gained privilege (OWASP ASVS v5 session management): the
    old one, which may have been seen while the session was weaker, no longer names it."""
    token = secrets.token_urlsafe(32)
    session.token_hash = hash_token(token)
    return token


async def revoke_session(db: AsyncSession, *, session_id: int) -> None:
    await db.execute(delete(SignInSession).where(SignInSession.id == session_id))


async def revoke_sessions_of_passkey(
    db: AsyncSession, *, passkey_id: int, keep_id: int | None = None
) -> int:
    """Ends every session the passkey signed in but `keep_id`, effective at once."""
    return await _revoke(db, SignInSession.passkey_id == passkey_id, keep_id=keep_id)


async def revoke_token(db: AsyncSession, *, token: str) -> None:
    """Ends whatever session `token` names, if any: used when a browser signs in again."""
    await _REVOKE.later(db, {"token_hash": hash_token(token)})


async def list_sessions(db: AsyncSession, *, user_id: int) -> list[SignInSession]:
    rows = await db.scalars(
        select(SignInSession)
        .where(SignInSession.user_id == user_id)
        .order_by(SignInSession.last_seen_at.desc())
    )
    return list(rows)


async def revoke_own(db: AsyncSession, *, user_id: int, session_id: int) -> bool:
    """Ends one of the user's sessions; another user's session id matches nothing."""
    gone = await db.execute(
        delete(SignInSession).where(
            SignInSession.id == session_id, SignInSession.user_id == user_id
        )
    )
    return bool(gone.rowcount)  # type: ignore[attr-defined]


async def revoke_others(db: AsyncSession, *, user_id: int, keep_id: int | None) -> int:
    """Ends every session of the user but `keep_id` (None: every one), effective at once."""
    return await _revoke(db, SignInSession.user_id == user_id, keep_id=keep_id)


async def _revoke(db: AsyncSession, which: ColumnElement[bool], *, keep_id: int | None) -> int:
    statement = delete(SignInSession).where(which)
    if keep_id is not None:
        statement = statement.where(SignInSession.id != keep_id)
    gone = await db.execute(statement)
    return int(gone.rowcount)  # type: ignore[attr-defined]
