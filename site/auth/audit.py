"""The audit log: one row per security event, in the transaction of the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth.client import Client
from keyfob.models import AuditEvent, User


def record(
    db: AsyncSession,
    kind: str,
    *,
    now: datetime,
    user: User | None = None,
    email: str = "",
    ip: str = "",
    user_agent: str = "",
    client: Client | None = None,
    **detail: Any,
) -> None:
    """`client` gives the address and browser at once; `ip`/`user_agent` are for callers
    without one (the command line, staff tools)."""
    if client is not None:
        ip, user_agent = client.ip, client.user_agent
    db.add(
        AuditEvent(
            at=now,
            kind=kind,
            user_id=user.id if user is not None else None,
            email=email or (user.email if user is not None else ""),
            ip=ip[:45],
            user_agent=user_agent[:400],
            detail=detail,
        )
    )
