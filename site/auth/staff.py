"""Staff rights, granted from the command line (and later the back office), always audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob import events
from keyfob.auth import audit
from keyfob.auth.addresses import normalise_email
from keyfob.models import User, utcnow


async def set_staff(db: AsyncSession, *, email: str, staff: bool, by: User | None = None) -> User:
    """Creates the account when granting staff to a new address; it signs in like anyone."""
    address = normalise_email(email)
    now = utcnow()
    user = await db.scalar(select(User).where(User.email == address))
    if user is None:
        if not staff:
            raise ValueError(f"no account for {address}")
        user = User(email=address, created_at=now)
        db.add(user)
        await db.flush()
        await events.emit(db, events.AccountCreated(user_id=user.id, email=user.email))
    user.is_staff = staff
    audit.record(
        db,
        "staff_granted" if staff else "staff_revoked",
        now=now,
        user=user,
        by=by.email if by else "command line",
    )
    return user
