"""One-time email codes: six digits, stored only as a keyed digest, single use, attempt-limited.

Guarantees: a database leak reveals no live code (HMAC with a server key); a code works once,
for `ttl`, and dies after `max_attempts` wrong tries; a new code for an address replaces the
old one; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.errors import CodeRejected, ResendTooSoon
from keyfob.models import EmailCode

CODE_DIGITS = 6


@dataclass(frozen=True)
class IssuedCode:
    id: str
    code: str
    expires_at: datetime


def make_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def digest(code: str, *, key: bytes, code_id: str) -> str:
    """Bound to the row id, so a digest copied to another row does not verify."""
    return hmac.new(key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "")


async def issue_code(
    db: AsyncSession,
    *,
    email: str,
    key: bytes,
    now: datetime,
    ttl: timedelta,
    resend_after: timedelta,
    purpose: str = "sign_in",
    user_id: int | None = None,
) -> IssuedCode:
    """Replace any earlier code for `email` and `purpose`; raises ResendTooSoon inside the
    cooldown."""
    same = (EmailCode.email == email, EmailCode.purpose == purpose)
    latest = await db.scalar(
        select(EmailCode.created_at).where(*same).order_by(EmailCode.created_at.desc()).limit(1)
    )
    if latest is not None and now - latest < resend_after:
        raise ResendTooSoon(retry_after=int((resend_after - (now - latest)).total_seconds()) + 1)
    await db.execute(delete(EmailCode).where(*same))
    code_id = secrets.token_hex(16)
    code = make_code()
    row = EmailCode(
        id=code_id,
        purpose=purpose,
        user_id=user_id,
        email=email,
        code_digest=digest(code, key=key, code_id=code_id),
        created_at=now,
        expires_at=now + ttl,
    )
    db.add(row)
    await db.flush()
    return IssuedCode(id=code_id, code=code, expires_at=row.expires_at)


async def spend_attempt(
    db: AsyncSession, *, code_id: str, now: datetime, max_attempts: int, purpose: str = "sign_in"
) -> None:
    """Counts one try on a live code, in one conditional UPDATE so parallel guesses cannot
    exceed `max_attempts`. Raises CodeRejected when the code is used, expired or spent."""
    counted = await db.execute(
        update(EmailCode)
        .where(
            EmailCode.id == code_id,
            EmailCode.purpose == purpose,
            EmailCode.used_at.is_(None),
            EmailCode.expires_at > now,
            EmailCode.attempts < max_attempts,
        )
        .values(attempts=EmailCode.attempts + 1)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise CodeRejected


async def verify_code(
    db: AsyncSession,
    *,
    code_id: str,
    code: str,
    key: bytes,
    now: datetime,
    max_attempts: int,
    purpose: str = "sign_in",
) -> EmailCode:
    """Consume the code at most once. Raises CodeRejected for every kind of failure.

    The attempt is counted before the comparison. The caller must commit even when this
    raises, or the count is lost."""
    await spend_attempt(db, code_id=code_id, now=now, max_attempts=max_attempts, purpose=purpose)
    row = await db.get(EmailCode, code_id, populate_existing=True)
    if row is None:
        raise CodeRejected
    expected = digest(normalise(code), key=key, code_id=code_id)
    if not hmac.compare_digest(expected, row.code_digest):
        raise CodeRejected
    claimed = await db.execute(
        update(EmailCode)
        .where(EmailCode.id == code_id, EmailCode.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise CodeRejected
    row.used_at = now
    return row
