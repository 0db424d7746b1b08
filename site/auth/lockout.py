"""Account lockout for code sign-in, kept on the account so staff can see and lift it.

After `threshold` failed code checks within `window`, code sign-in is locked for `duration`.
A new code does not reset the count (NIST SP 800-63B-4 §3.1.3.2); a success does. The lock
ends by itself. Passkey sign-in ignores it, so a lock is never a weapon against the owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from keyfob.auth import audit
from keyfob.models import User

COUNTED = ("code_failures", "code_failures_since", "locked_until")


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    window: timedelta
    duration: timedelta


def is_locked(user: User, *, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


async def record_failure(
    db: AsyncSession, user: User, *, policy: LockoutPolicy, now: datetime, ip: str
) -> None:
    await record_failure_for(db, user.email, user, policy=policy, now=now, ip=ip)


async def record_failure_for(
    db: AsyncSession,
    email: str,
    user: User | None,
    *,
    policy: LockoutPolicy,
    now: datetime,
    ip: str,
) -> None:
    """Counted with one UPDATE ... RETURNING keyed by the address, so parallel failures are all
    counted and an address with no account costs the same statement as one with an account:
    how long a wrong code takes tells nothing about whether the account exists."""
    recent = and_(
        User.code_failures_since.is_not(None), User.code_failures_since > now - policy.window
    )
    counted = (
        await db.execute(
            update(User)
            .where(User.email == email)
            .values(
                code_failures=case((recent, User.code_failures + 1), else_=1),
                code_failures_since=case((recent, User.code_failures_since), else_=now),
            )
            .returning(User.code_failures, User.code_failures_since, User.locked_until)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if counted is None or user is None:
        return
    for name, value in zip(COUNTED, counted, strict=True):
        set_committed_value(user, name, value)
    if user.code_failures >= policy.threshold and not is_locked(user, now=now):
        user.locked_until = now + policy.duration
        user.lock_reason = "code_failures"
        audit.record(
            db,
            "account_locked",
            now=now,
            user=user,
            ip=ip,
            failures=user.code_failures,
            until=user.locked_until.isoformat(),
        )


def record_success(user: User) -> None:
    user.code_failures = 0
    user.code_failures_since = None
    user.locked_until = None
    user.lock_reason = ""


async def unlock(db: AsyncSession, user: User, *, now: datetime, by: str) -> None:
    """Lifts a lock and clears the count; for staff."""
    record_success(user)
    audit.record(db, "account_unlocked", now=now, user=user, by=by)
