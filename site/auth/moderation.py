"""What staff may do to other people's accounts, passkeys, sessions and mail.

Every flow checks first, changes second and records third: each writes one audit event naming
the staff member (`by`), in the same transaction as the change, so the log cannot disagree
with the data. A refused flow raises before changing anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit, lockout, recovery, sessions, staff
from keyfob.auth.client import Client
from keyfob.auth.notices import Notifier
from keyfob.errors import KeyfobError, NotFound
from keyfob.i18n import lazy_gettext
from keyfob.models import OutboxMail, Passkey, SignInSession, User


class OwnAccount(KeyfobError):
    """Staff may not disable themselves or take away their own staff rights here."""

    code = "own_account"
    status = 409
    message = lazy_gettext(
        "You cannot do this to your own account. Ask another staff member, or use the command line."
    )


class MailNotRetryable(KeyfobError):
    """Only a queued mail that still has its content can be sent again."""

    code = "mail_not_retryable"
    status = 409
    message = lazy_gettext(
        "This mail was already sent or has given up, and its content is erased: it cannot "
        "be sent again."
    )


async def _user(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound
    return user


async def disable_account(
    db: AsyncSession, *, user_id: int, by: User, now: datetime, ip: str = ""
) -> User:
    """Signs the account out everywhere at once; it can sign in again only once enabled."""
    user = await _user(db, user_id)
    if user.id == by.id:
        raise OwnAccount
    user.is_active = False
    ended = await sessions.revoke_others(db, user_id=user.id, keep_id=None)
    audit.record(db, "account_disabled", now=now, user=user, ip=ip, by=by.email, sessions=ended)
    return user


async def enable_account(
    db: AsyncSession, *, user_id: int, by: User, now: datetime, ip: str = ""
) -> User:
    user = await _user(db, user_id)
    user.is_active = True
    audit.record(db, "account_enabled", now=now, user=user, ip=ip, by=by.email)
    return user


async def sign_out_everywhere(
    db: AsyncSession, *, user_id: int, by: User, now: datetime, ip: str = ""
) -> int:
    """Ends every session of the account, effective on the next request of each."""
    user = await _user(db, user_id)
    ended = await sessions.revoke_others(db, user_id=user.id, keep_id=None)
    audit.record(db, "sessions_revoked", now=now, user=user, ip=ip, by=by.email, count=ended)
    return ended


async def unlock_account(
    db: AsyncSession, *, user_id: int, by: User, now: datetime, ip: str = ""
) -> User:
    """Lifts a code sign-in lock and clears the failure count (see keyfob.auth.lockout)."""
    user = await _user(db, user_id)
    await lockout.unlock(db, user, now=now, by=by.email)
    return user


async def set_staff_flag(db: AsyncSession, *, user_id: int, is_staff: bool, by: User) -> User:
    """Grants or takes staff rights; no event when nothing changes."""
    user = await _user(db, user_id)
    if user.is_staff == is_staff:
        return user
    if user.id == by.id:
        raise OwnAccount
    return await staff.set_staff(db, email=user.email, staff=is_staff, by=by)


async def revoke_session(
    db: AsyncSession, *, session_id: int, by: User, now: datetime, ip: str = ""
) -> SignInSession:
    """The browser holding it is signed out on its next request."""
    row = await db.get(SignInSession, session_id)
    if row is None:
        raise NotFound
    await sessions.revoke_session(db, session_id=row.id)
    audit.record(
        db, "session_revoked", now=now, user=row.user, ip=ip, by=by.email, session_id=row.id
    )
    return row


async def revoke_passkey(
    db: AsyncSession,
    *,
    passkey_id: int,
    by: User,
    now: datetime,
    ip: str = "",
    notifier: Notifier | None = None,
) -> Passkey:
    """Deleted at once, so the next sign-in with it fails as an unknown credential on every
    worker, and every session it signed in ends with it: revoking is what staff do when a
    passkey is in the wrong hands. The owner is told by mail (when that notice is on)."""
    passkey = await db.get(Passkey, passkey_id)
    if passkey is None:
        raise NotFound
    owner = await db.get_one(User, passkey.user_id)
    ended = await sessions.revoke_sessions_of_passkey(db, passkey_id=passkey_id)
    await db.delete(passkey)
    await db.flush()
    audit.record(
        db,
        "passkey_revoked",
        now=now,
        user=owner,
        ip=ip,
        by=by.email,
        passkey_id=passkey_id,
        aaguid=passkey.aaguid,
        sessions_ended=ended,
    )
    if notifier is not None:
        notifier.send(db, owner, "passkey_removed", now=now, name=passkey.name)
    return passkey


async def retry_mail(
    db: AsyncSession, *, mail_id: int, by: User, now: datetime, ip: str = ""
) -> OutboxMail:
    """Makes a queued mail due now. A sent or failed mail has no content left to send."""
    mail = await db.scalar(select(OutboxMail).where(OutboxMail.id == mail_id))
    if mail is None:
        raise NotFound
    if mail.sent_at is not None or mail.failed_at is not None or not mail.text:
        raise MailNotRetryable
    mail.next_try_at = now
    audit.record(
        db,
        "mail_retried",
        now=now,
        email=mail.to_addr,
        ip=ip,
        by=by.email,
        mail_id=mail.id,
        mail_kind=mail.kind,
    )
    return mail


async def remove_recovery_factors(
    db: AsyncSession,
    *,
    user_id: int,
    app: bool,
    codes: bool,
    by: User,
    now: datetime,
    ip: str = "",
    notifier: Notifier | None = None,
) -> User:
    """For a person who lost their app or codes and proved who they are to staff in a way the
    site's operators document (see README, "Recovery"). Audited with the staff member."""
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound
    client = Client(ip=ip)
    if app:
        await recovery.remove_app(
            db, user=user, notifier=notifier, client=client, now=now, by=by.email
        )
    if codes:
        await recovery.remove_codes(
            db, user=user, notifier=notifier, client=client, now=now, by=by.email
        )
    return user
