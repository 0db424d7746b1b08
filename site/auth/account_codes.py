"""Codes sent to a signed-in person (re-authentication, a new address): checked like sign-in
codes, with every failure counted toward the account's lockout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import codes, lockout
from keyfob.auth.client import Client
from keyfob.auth.signup import CodePolicy
from keyfob.auth.throttle import Throttle, enforce
from keyfob.errors import CodeRejected
from keyfob.models import EmailCode, User


async def verify_account_code(
    db: AsyncSession,
    *,
    user: User,
    code_id: str | None,
    code: str,
    purpose: str,
    policy: CodePolicy,
    throttle: Throttle,
    client: Client,
    now: datetime,
) -> EmailCode:
    """Raises Throttled, or CodeRejected for a wrong, spent or foreign code and while the
    account is locked; the caller must commit, so the failure count is kept."""
    await enforce(throttle, db, "verify_code:ip", client.ip, now=now, client=client)
    try:
        if not code_id or lockout.is_locked(user, now=now):
            raise CodeRejected
        row = await codes.verify_code(
            db,
            code_id=code_id,
            code=code,
            key=policy.key,
            now=now,
            max_attempts=policy.max_attempts,
            purpose=purpose,
        )
        if row.user_id != user.id:
            raise CodeRejected
    except CodeRejected:
        await lockout.record_failure(db, user, policy=policy.lockout, now=now, ip=client.ip)
        raise
    return row
