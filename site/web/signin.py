"""Opening and closing a signed-in session in the browser."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit, sessions
from keyfob.auth.audit import Subject
from keyfob.models import SignInSession, utcnow
from keyfob.web.deps import SESSION_KEY, client_of

AFTER_SIGN_IN = "after_sign_in"  # a local path to go to once signed in, from /login?next=


async def start_session(
    request: Request,
    db: AsyncSession,
    *,
    user: Subject,
    method: str,
    recovery: bool,
    passkey_id: int | None = None,
    **detail: Any,
) -> None:
    """Rotates the browser session: nothing from before sign-in (CSRF token included) survives.
    `passkey_id`: the passkey that signed in, if one did."""
    client = client_of(request)
    now = utcnow()
    previous = request.session.get(SESSION_KEY)
    if isinstance(previous, str):
        await sessions.revoke_token(db, token=previous)
    token = await sessions.open_session(
        db,
        user=user,
        method=method,
        recovery=recovery,
        ip=client.ip,
        user_agent=client.user_agent,
        now=now,
        passkey_id=passkey_id,
    )
    if passkey_id is not None:
        detail["passkey_id"] = passkey_id
    await audit.write(
        db, "sign_in", now=now, user=user, client=client, method=method, recovery=recovery, **detail
    )
    request.session.clear()
    request.session[SESSION_KEY] = token


def rotate(request: Request, token: str) -> None:
    """The browser's side of a privilege change: the session's new token, and nothing else
    from before (the CSRF token included)."""
    request.session.clear()
    request.session[SESSION_KEY] = token


async def end_session(request: Request, db: AsyncSession, session: SignInSession) -> None:
    client = client_of(request)
    await sessions.revoke_session(db, session_id=session.id)
    audit.record(db, "sign_out", now=utcnow(), user=session.user, client=client)
    request.session.clear()
