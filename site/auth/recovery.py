"""A second recovery factor: an authenticator app (TOTP, RFC 6238) and one-time recovery codes.

With either enrolled, an emailed code alone no longer recovers the account. TOTP: 6 digits,
30 s, one step of drift either way; the last accepted step is stored and a code for it or an
earlier step is refused (pyotp's own verify allows replay). Recovery codes carry 50 bits from
`secrets`, are shown once, stored as keyed digests and compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit, codes, lockout
from keyfob.auth.client import Client
from keyfob.auth.notices import Notifier
from keyfob.auth.sealing import Sealer
from keyfob.auth.throttle import Throttle, enforce
from keyfob.errors import CodeRejected, SecondFactorRejected
from keyfob.models import AuthenticatorApp, EmailCode, RecoveryCode, User

if TYPE_CHECKING:
    from keyfob.auth.signup import CodePolicy

CODES = 10
SECOND_FACTOR = "second_factor"
DRIFT_STEPS = 1
STEP_SECONDS = 30


@dataclass(frozen=True)
class RecoveryKeys:
    sealer: Sealer
    digest_key: bytes
    issuer: str


@dataclass(frozen=True)
class RecoveryStatus:
    app: bool
    codes_left: int
    codes_issued: bool

    @property
    def enrolled(self) -> bool:
        return self.app or self.codes_left > 0


def make_recovery_code() -> str:
    """50 random bits as ten base32 characters, grouped xxxx-xxxx-xx for reading aloud."""
    raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def code_digest(code: str, *, key: bytes) -> str:
    return hmac.new(key, normalise_code(code).encode(), hashlib.sha256).hexdigest()


async def status(db: AsyncSession, *, user_id: int) -> RecoveryStatus:
    app = await db.scalar(
        select(AuthenticatorApp.id).where(
            AuthenticatorApp.user_id == user_id, AuthenticatorApp.confirmed_at.is_not(None)
        )
    )
    left = await db.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    issued = await db.scalar(
        select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user_id)
    )
    return RecoveryStatus(app=app is not None, codes_left=int(left or 0), codes_issued=bool(issued))


async def begin_app(db: AsyncSession, *, user: User, keys: RecoveryKeys) -> str:
    """A fresh secret, kept sealed and unconfirmed until a code from the app proves it."""
    secret = pyotp.random_base32()
    row = await db.scalar(select(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if row is not None and row.confirmed_at is not None:
        raise CodeRejected
    if row is None:
        row = AuthenticatorApp(user_id=user.id, secret_sealed=b"")
        db.add(row)
    row.secret_sealed = keys.sealer.seal(secret.encode())
    row.last_step = 0
    await db.flush()
    return secret


async def pending_secret(db: AsyncSession, *, user: User, keys: RecoveryKeys) -> str | None:
    row = await db.scalar(select(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if row is None or row.confirmed_at is not None:
        return None
    return keys.sealer.unseal(row.secret_sealed).decode()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, *, now: float, after: int) -> int | None:
    """The time step `code` belongs to, within one step of drift, if later than `after`."""
    candidate = normalise_code(code)
    if len(candidate) != 6 or not candidate.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), candidate) and step > after:
            found = step
    return found


async def confirm_app(
    db: AsyncSession,
    *,
    user: User,
    code: str,
    keys: RecoveryKeys,
    notifier: Notifier,
    client: Client,
    now: datetime,
) -> None:
    """Turns the app on. Raises CodeRejected when the code does not match the pending secret."""
    row = await db.scalar(select(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if row is None or row.confirmed_at is not None:
        raise CodeRejected
    secret = keys.sealer.unseal(row.secret_sealed).decode()
    step = matching_step(secret, code, now=now.timestamp(), after=row.last_step)
    if step is None:
        raise CodeRejected
    row.last_step = step
    row.confirmed_at = now
    audit.record(db, "recovery_app_added", now=now, user=user, client=client)
    notifier.send(db, user, "recovery_app_added", now=now)


async def remove_app(
    db: AsyncSession,
    *,
    user: User,
    notifier: Notifier | None,
    client: Client,
    now: datetime,
    by: str = "",
) -> None:
    gone = await db.execute(delete(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if gone.rowcount:  # type: ignore[attr-defined]
        audit.record(
            db,
            "recovery_app_removed",
            now=now,
            user=user,
            client=client,
            by=by or user.email,
        )
        if notifier is not None:
            notifier.send(db, user, "recovery_app_removed", now=now)


async def replace_codes(
    db: AsyncSession,
    *,
    user: User,
    keys: RecoveryKeys,
    notifier: Notifier,
    client: Client,
    now: datetime,
) -> list[str]:
    """A whole new set; the old codes stop working. The plain codes exist only in the answer."""
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    plain = [make_recovery_code() for _ in range(CODES)]
    db.add_all(
        RecoveryCode(user_id=user.id, digest=code_digest(c, key=keys.digest_key), created_at=now)
        for c in plain
    )
    await db.flush()
    audit.record(
        db,
        "recovery_codes_replaced",
        now=now,
        user=user,
        client=client,
    )
    notifier.send(db, user, "recovery_codes_replaced", now=now)
    return plain


async def remove_codes(
    db: AsyncSession,
    *,
    user: User,
    notifier: Notifier | None,
    client: Client,
    now: datetime,
    by: str,
) -> None:
    """Staff removing a person's codes: audited, and the person is told in their language."""
    gone = await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(
        db,
        "recovery_codes_removed",
        now=now,
        user=user,
        client=client,
        by=by,
    )
    if gone.rowcount and notifier is not None:  # type: ignore[attr-defined]
        notifier.send(db, user, "recovery_codes_removed", now=now)


async def verify_second_factor(
    db: AsyncSession, *, user: User, code: str, keys: RecoveryKeys, now: datetime
) -> str:
    """Accepts a current app code or an unused recovery code, each at most once.
    Returns which ("app" or "recovery_code"); raises CodeRejected otherwise."""
    app = await db.scalar(
        select(AuthenticatorApp).where(
            AuthenticatorApp.user_id == user.id, AuthenticatorApp.confirmed_at.is_not(None)
        )
    )
    if app is not None:
        secret = keys.sealer.unseal(app.secret_sealed).decode()
        step = matching_step(secret, code, now=now.timestamp(), after=app.last_step)
        if step is not None and await _advance(db, app.id, step):
            return "app"
    wanted = code_digest(code, key=keys.digest_key)
    unused = await db.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    match = None
    for row in unused:
        if hmac.compare_digest(row.digest, wanted):
            match = row
    if match is None:
        raise SecondFactorRejected
    spent = await db.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise SecondFactorRejected
    return "recovery_code"


async def _advance(db: AsyncSession, app_id: int, step: int) -> bool:
    """Moves last_step forward in one conditional UPDATE: a parallel replay loses."""
    moved = await db.execute(
        update(AuthenticatorApp)
        .where(AuthenticatorApp.id == app_id, AuthenticatorApp.last_step < step)
        .values(last_step=step)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


async def start_second_factor(
    db: AsyncSession, *, user: User, policy: CodePolicy, now: datetime
) -> str:
    """After the emailed code: a server-side, single-use, short-lived step that waits for the
    second factor. Nothing is mailed; its id goes in the browser session."""
    issued = await codes.issue_code(
        db,
        email=user.email,
        key=policy.key,
        now=now,
        ttl=policy.ttl,
        resend_after=timedelta(0),
        purpose=SECOND_FACTOR,
        user_id=user.id,
    )
    return issued.id


async def finish_second_factor(
    db: AsyncSession,
    *,
    pending_id: str | None,
    code: str,
    keys: RecoveryKeys,
    policy: CodePolicy,
    throttle: Throttle,
    client: Client,
    now: datetime,
) -> User:
    """Raises Throttled or CodeRejected. Wrong codes count toward the account's lockout, and
    a locked account is refused even the right code."""
    await enforce(
        throttle,
        db,
        "verify_code:ip",
        client.ip,
        now=now,
        client=client,
    )
    pending = await db.get(EmailCode, pending_id) if pending_id else None
    if pending is None or pending.purpose != SECOND_FACTOR or pending.user_id is None:
        raise CodeRejected
    user = await db.get_one(User, pending.user_id)
    try:
        await codes.spend_attempt(
            db, code_id=pending.id, now=now, max_attempts=policy.max_attempts, purpose=SECOND_FACTOR
        )
        if lockout.is_locked(user, now=now) or not user.is_active:
            raise CodeRejected
        method = await verify_second_factor(db, user=user, code=code, keys=keys, now=now)
    except CodeRejected as exc:
        audit.record(
            db,
            "second_factor_failed",
            now=now,
            user=user,
            client=client,
        )
        await lockout.record_failure(db, user, policy=policy.lockout, now=now, ip=client.ip)
        raise SecondFactorRejected from exc
    await db.execute(update(EmailCode).where(EmailCode.id == pending.id).values(used_at=now))
    lockout.record_success(user)
    audit.record(
        db,
        "second_factor_accepted",
        now=now,
        user=user,
        client=client,
        method=method,
    )
    return user
