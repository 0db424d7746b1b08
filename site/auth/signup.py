"""Email-code sign-up and recovery: prove an address, then get an account or a recovery session.

Both outcomes start the same way, so nothing a visitor sees says whether an account exists: the
same code is issued and the same page shown; only the mail's wording differs, and it goes to
the address's owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit, codes
from keyfob.auth.addresses import normalise_email
from keyfob.errors import CodeRejected
from keyfob.mail import outbox
from keyfob.mail.messages import MailRenderer
from keyfob.models import EmailCode, User


@dataclass(frozen=True)
class CodePolicy:
    key: bytes
    ttl: timedelta
    resend_after: timedelta
    max_attempts: int


@dataclass(frozen=True)
class Client:
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Redeemed:
    user: User
    created: bool


async def request_code(
    db: AsyncSession,
    *,
    email: str,
    locale: str,
    policy: CodePolicy,
    mail: MailRenderer,
    client: Client,
    now: datetime,
) -> str:
    """Queue a code for `email` and return the code's id for the browser session.

    Raises InvalidEmail or ResendTooSoon before doing any work."""
    address = normalise_email(email)
    issued = await codes.issue_code(
        db, email=address, key=policy.key, now=now, ttl=policy.ttl, resend_after=policy.resend_after
    )
    user = await db.scalar(select(User).where(User.email == address))
    template = "code_sign_in" if user is not None else "code_sign_up"
    message = mail.render(
        template,
        to=address,
        locale=(user.locale if user and user.locale else locale),
        code=issued.code,
        minutes=int(policy.ttl.total_seconds() // 60),
    )
    outbox.enqueue(db, message, now=now)
    audit.record(
        db,
        "code_sent",
        now=now,
        user=user,
        email=address,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    return issued.id


async def pending_email(db: AsyncSession, *, code_id: str | None, now: datetime) -> str | None:
    """The address a live code was sent to, for the code page; None when there is none."""
    if not code_id:
        return None
    row = await db.get(EmailCode, code_id)
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row.email


async def redeem_code(
    db: AsyncSession,
    *,
    code_id: str | None,
    code: str,
    policy: CodePolicy,
    client: Client,
    now: datetime,
    locale: str,
) -> Redeemed:
    """Consume the code and return the account, creating it on first proof of the address.

    Raises CodeRejected; the failure is counted and audited, so the caller must commit."""
    if not code_id:
        raise CodeRejected
    try:
        row = await codes.verify_code(
            db,
            code_id=code_id,
            code=code,
            key=policy.key,
            now=now,
            max_attempts=policy.max_attempts,
        )
    except CodeRejected:
        audit.record(
            db, "code_failed", now=now, ip=client.ip, user_agent=client.user_agent, code_id=code_id
        )
        raise
    user = await db.scalar(select(User).where(User.email == row.email))
    created = user is None
    if user is None:
        user = User(email=row.email, email_verified_at=now, locale=locale, created_at=now)
        db.add(user)
        await db.flush()
        audit.record(
            db, "account_created", now=now, user=user, ip=client.ip, user_agent=client.user_agent
        )
    elif user.email_verified_at is None:
        user.email_verified_at = now
    audit.record(
        db, "code_accepted", now=now, user=user, ip=client.ip, user_agent=client.user_agent
    )
    return Redeemed(user=user, created=created)
