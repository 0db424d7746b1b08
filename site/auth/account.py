"""Changing the account's email address, and deleting the account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob import events
from keyfob.auth import audit, codes
from keyfob.auth.account_codes import verify_account_code
from keyfob.auth.addresses import normalise_email
from keyfob.auth.client import Client
from keyfob.auth.notices import Notifier
from keyfob.auth.signup import CodePolicy
from keyfob.auth.throttle import Throttle, enforce
from keyfob.errors import CodeRejected
from keyfob.mail import outbox
from keyfob.mail.messages import MailRenderer
from keyfob.models import AuditEvent, EmailCode, User

PURPOSE = "email_change"


async def start_email_change(
    db: AsyncSession,
    *,
    user: User,
    new_email: str,
    policy: CodePolicy,
    mail: MailRenderer,
    throttle: Throttle,
    client: Client,
    now: datetime,
) -> str:
    """Sends a code to the new address; if that address has an account, it gets a notice
    instead and the code is never sent, so the answer reveals nothing. Returns the code id."""
    address = normalise_email(new_email)
    for action, key in (("send_code:ip", client.ip), ("send_code:address", address)):
        await enforce(throttle, db, action, key, now=now, client=client)
    issued = await codes.issue_code(
        db,
        email=address,
        key=policy.key,
        now=now,
        ttl=policy.ttl,
        resend_after=policy.resend_after,
        purpose=PURPOSE,
        user_id=user.id,
    )
    taken = await db.scalar(select(User.id).where(User.email == address))
    locale = user.locale or "en"
    if taken is None:
        message = mail.render(
            "code_email_change",
            to=address,
            locale=locale,
            code=issued.code,
            minutes=int(policy.ttl.total_seconds() // 60),
        )
    else:
        message = mail.render("email_taken", to=address, locale=locale)
    outbox.enqueue(db, message, now=now)
    audit.record(
        db,
        "email_change_started",
        now=now,
        user=user,
        client=client,
        new_email=address,
    )
    return issued.id


async def pending_change(
    db: AsyncSession, *, user: User, code_id: str | None, now: datetime
) -> str | None:
    row = await db.get(EmailCode, code_id) if code_id else None
    if row is None or row.purpose != PURPOSE or row.user_id != user.id:
        return None
    if row.used_at is not None or row.expires_at <= now:
        return None
    return row.email


async def finish_email_change(
    db: AsyncSession,
    *,
    user: User,
    code_id: str | None,
    code: str,
    policy: CodePolicy,
    notifier: Notifier,
    throttle: Throttle,
    client: Client,
    now: datetime,
) -> str:
    """Returns the old address, which gets a notice. Raises CodeRejected or Throttled."""
    row = await verify_account_code(
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
    if await db.scalar(select(User.id).where(User.email == row.email)):
        raise CodeRejected
    old = user.email
    user.email = row.email
    user.email_verified_at = now
    audit.record(
        db,
        "email_changed",
        now=now,
        user=user,
        client=client,
        old_email=old,
    )
    notifier.send(db, user, "email_changed", now=now, to=old, old_email=old, new_email=row.email)
    await events.emit(db, events.EmailChanged(user_id=user.id, old_email=old, new_email=row.email))
    return old


async def delete_account(
    db: AsyncSession, *, user: User, notifier: Notifier, client: Client, now: datetime
) -> None:
    """Removes the account with its passkeys, sessions and codes; the audit trail keeps the
    events but loses the personal data (address, IP, browser)."""
    notifier.send(db, user, "account_deleted", now=now)
    await events.emit(db, events.AccountDeleted(user_id=user.id))
    await db.execute(
        update(AuditEvent)
        .where(AuditEvent.user_id == user.id)
        .values(email="", ip="", user_agent="", detail={})
    )
    await db.execute(
        update(AuditEvent).where(AuditEvent.email == user.email).values(email="", ip="")
    )
    audit.record(
        db, "account_deleted", now=now, user=None, ip="", user_agent="", account_id=user.id
    )
    await db.execute(delete(User).where(User.id == user.id))
