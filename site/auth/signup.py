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

from keyfob import events
from keyfob.auth import audit, codes, lockout, recovery
from keyfob.auth.addresses import normalise_email
from keyfob.auth.client import Client
from keyfob.auth.lockout import LockoutPolicy, is_locked
from keyfob.auth.notices import Notifier
from keyfob.auth.throttle import Throttle, enforce
from keyfob.errors import CodeRejected
from keyfob.i18n import LOCALES
from keyfob.mail import outbox
from keyfob.mail.messages import MailRenderer
from keyfob.models import EmailCode, Passkey, User


@dataclass(frozen=True)
class CodePolicy:
    key: bytes
    ttl: timedelta
    resend_after: timedelta
    max_attempts: int
    lockout_threshold: int
    lockout_window: timedelta
    lockout_duration: timedelta
    require_second_factor: bool = True

    @property
    def lockout(self) -> LockoutPolicy:
        return LockoutPolicy(
            threshold=self.lockout_threshold,
            window=self.lockout_window,
            duration=self.lockout_duration,
        )


@dataclass(frozen=True)
class Redeemed:
    user: User
    created: bool
    needs_second_factor: bool = False


async def request_code(
    db: AsyncSession,
    *,
    email: str,
    locale: str,
    policy: CodePolicy,
    mail: MailRenderer,
    client: Client,
    now: datetime,
    throttle: Throttle,
) -> str:
    """Queue a code for `email` and return the code's id for the browser session.

    Raises InvalidEmail, Throttled or ResendTooSoon before doing any work."""
    address = normalise_email(email)
    for action, key in (("send_code:ip", client.ip), ("send_code:address", address)):
        await enforce(throttle, db, action, key, now=now, client=client)
    issued = await codes.issue_code(
        db, email=address, key=policy.key, now=now, ttl=policy.ttl, resend_after=policy.resend_after
    )
    found = (
        await db.execute(
            select(User, select(Passkey.id).where(Passkey.user_id == User.id).exists()).where(
                User.email == address
            )
        )
    ).first()
    user, has_passkey = found if found is not None else (None, False)
    # An account with no passkey yet (made by `keyfob staff add`, or a sign-up left half way)
    # is finishing its sign-up: "recovery code" would read as an error there.
    template = "code_sign_in" if has_passkey else "code_sign_up"
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
        client=client,
    )
    return issued.id


async def pending_email(db: AsyncSession, *, code_id: str | None, now: datetime) -> str | None:
    """The address a live code was sent to, for the code page; None when there is none."""
    if not code_id:
        return None
    row = await db.get(EmailCode, code_id)
    if row is None or row.purpose != "sign_in" or row.used_at is not None or row.expires_at <= now:
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
    throttle: Throttle,
    notifier: Notifier | None = None,
) -> Redeemed:
    """Consume the code and return the account, creating it on first proof of the address.

    Raises Throttled or CodeRejected; a failure is counted on the code and on the account and
    audited, so the caller must commit. A locked or disabled account gets CodeRejected even
    for the right code, exactly as for a wrong one, so the lock is no oracle."""
    await enforce(
        throttle,
        db,
        "verify_code:ip",
        client.ip,
        now=now,
        client=client,
    )
    pending = await db.get(EmailCode, code_id) if code_id else None
    if pending is None or pending.purpose != "sign_in":
        raise CodeRejected
    user = await db.scalar(select(User).where(User.email == pending.email))
    try:
        if user is not None and (is_locked(user, now=now) or not user.is_active):
            await codes.spend_attempt(
                db, code_id=pending.id, now=now, max_attempts=policy.max_attempts
            )
            raise CodeRejected
        await codes.verify_code(
            db,
            code_id=pending.id,
            code=code,
            key=policy.key,
            now=now,
            max_attempts=policy.max_attempts,
        )
    except CodeRejected:
        audit.record(
            db,
            "code_failed",
            now=now,
            user=user,
            email=pending.email,
            client=client,
        )
        await lockout.record_failure_for(
            db, pending.email, user, policy=policy.lockout, now=now, ip=client.ip
        )
        raise
    if user is None:
        stored = locale if locale in LOCALES else None  # the pseudo-locale is for one page
        user = User(email=pending.email, email_verified_at=now, locale=stored, created_at=now)
        db.add(user)
        await db.flush()
        audit.record(db, "account_created", now=now, user=user, client=client)
        await events.emit(db, events.AccountCreated(user_id=user.id, email=user.email))
        created = True
    else:
        created = False
        user.email_verified_at = user.email_verified_at or now
        enrolled = (await recovery.status(db, user_id=user.id)).enrolled
        if policy.require_second_factor and enrolled:
            audit.record(
                db,
                "code_accepted",
                now=now,
                user=user,
                client=client,
                second_factor="pending",
            )
            if notifier is not None:
                notifier.send(db, user, "code_sign_in", now=now)
            return Redeemed(user=user, created=False, needs_second_factor=True)
        lockout.record_success(user)
        if notifier is not None:
            notifier.send(db, user, "code_sign_in", now=now)
    audit.record(db, "code_accepted", now=now, user=user, client=client)
    return Redeemed(user=user, created=created)
