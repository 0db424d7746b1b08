"""The audit log: one row per security event, in the transaction of the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth.client import Client
from keyfob.models import AuditEvent, table
from keyfob.prepared import Prepared, link

EVENTS = table(AuditEvent)
_INSERT = Prepared(insert(EVENTS))


class Subject(Protocol):
    """Whom an entry is about: a `User` row, or a snapshot of one."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...


def record(
    db: AsyncSession,
    kind: str,
    *,
    now: datetime,
    user: Subject | None = None,
    email: str = "",
    ip: str = "",
    user_agent: str = "",
    client: Client | None = None,
    **detail: Any,
) -> None:
    """`client` gives the address and browser at once; `ip`/`user_agent` are for callers
    without one (the command line, staff tools). Written with the session's next flush."""
    db.add(AuditEvent(**_entry(kind, now, user, email, ip, user_agent, client, detail)))


async def write(
    db: AsyncSession,
    kind: str,
    *,
    now: datetime,
    user: Subject | None = None,
    client: Client | None = None,
    **detail: Any,
) -> None:
    """The same entry as `record`, inserted by one Core statement (`Prepared.later`: at once,
    or with the sign-in's other writes on PostgreSQL): on the passkey sign-in path an ORM
    object and its flush cost several times the insert itself. Pending ORM rows are written
    first, so a user created in this transaction has its id."""
    await link(db)
    values = _entry(kind, now, user, "", "", "", client, detail)
    await _INSERT.later(db, values)


def _entry(
    kind: str,
    now: datetime,
    user: Subject | None,
    email: str,
    ip: str,
    user_agent: str,
    client: Client | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    if client is not None:
        ip, user_agent = client.ip, client.user_agent
    return {
        "at": now,
        "kind": kind,
        "user_id": user.id if user is not None else None,
        "email": email or (user.email if user is not None else ""),
        "ip": ip[:45],
        "user_agent": user_agent[:400],
        "detail": detail,
    }
