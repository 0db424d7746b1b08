"""Recent re-authentication ("sudo mode") and the limits of a recovery session.

Dangerous actions need a sign-in within `within` (5 minutes by default): a passkey, or a fresh
code sent to the account's address. A session opened by an emailed code is a recovery session:
it may add a passkey, see the account and sign out; confirming with a passkey upgrades it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit, codes, lockout, passkeys, sessions
from keyfob.auth.account_codes import verify_account_code
from keyfob.auth.client import Client
from keyfob.auth.passkeys import Expectation
from keyfob.auth.signup import CodePolicy
from keyfob.auth.throttle import Throttle, enforce
from keyfob.errors import PasskeyRejected, PasskeySignInRequired, ReauthRequired
from keyfob.mail import outbox
from keyfob.mail.messages import MailRenderer
from keyfob.models import SignInSession

PURPOSE = "reauth"


def require_full_session(session: SignInSession) -> None:
    if session.is_recovery:
        raise PasskeySignInRequired


def require_recent(
    session: SignInSession, *, now: datetime, within: timedelta, passkey: bool = False
) -> None:
    """`passkey`: only a recent passkey counts, not a code (the mailbox alone is not enough)."""
    if now - session.authenticated_at > within:
        raise ReauthRequired(passkey=passkey)
    if passkey and session.authenticated_by != "passkey":
        raise ReauthRequired(passkey=True)


async def confirm_with_passkey(
    db: AsyncSession,
    *,
    session: SignInSession,
    challenge_id: str | None,
    credential: dict[str, Any],
    expect: Expectation,
    now: datetime,
    client: Client,
) -> str:
    """Only the session's own passkeys count. A recovery session becomes a full one. Returns
    the session's new token."""
    signed_in = await passkeys.finish_authentication(
        db,
        challenge_id=challenge_id,
        credential=credential,
        expect=expect,
        now=now,
        client=client,
    )
    if signed_in.user.id != session.user_id:
        raise PasskeyRejected
    token = await sessions.upgrade_session(db, session, now=now, passkey_id=signed_in.passkey_id)
    audit.record(
        db,
        "reauth",
        now=now,
        user=session.user,
        client=client,
        method="passkey",
        passkey_id=signed_in.passkey_id,
    )
    return token


async def send_code(
    db: AsyncSession,
    *,
    session: SignInSession,
    policy: CodePolicy,
    mail: MailRenderer,
    throttle: Throttle,
    client: Client,
    now: datetime,
) -> str:
    user = session.user
    await enforce(
        throttle,
        db,
        "send_code:address",
        user.email,
        now=now,
        client=client,
    )
    issued = await codes.issue_code(
        db,
        email=user.email,
        key=policy.key,
        now=now,
        ttl=policy.ttl,
        resend_after=policy.resend_after,
        purpose=PURPOSE,
        user_id=user.id,
    )
    message = mail.render(
        "code_confirm",
        to=user.email,
        locale=user.locale or "en",
        code=issued.code,
        minutes=int(policy.ttl.total_seconds() // 60),
    )
    outbox.enqueue(db, message, now=now)
    return issued.id


async def confirm_with_code(
    db: AsyncSession,
    *,
    session: SignInSession,
    code_id: str | None,
    code: str,
    policy: CodePolicy,
    throttle: Throttle,
    client: Client,
    now: datetime,
) -> str:
    """A fresh code makes the session recent again; it does not upgrade a recovery session.
    Failures count toward the account's lockout like sign-in codes. Returns the session's new
    token."""
    user = session.user
    await verify_account_code(
        db,
        user=user,
        code_id=code_id,
        code=code,
        purpose=PURPOSE,
        policy=policy,
        throttle=throttle,
        client=client,
        now=now,
    )
    lockout.record_success(user)
    session.authenticated_at = now
    session.authenticated_by = "code"
    audit.record(db, "reauth", now=now, user=user, client=client, method="code")
    return sessions.rotate_token(session)
