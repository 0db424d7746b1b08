"""What can be done with notes, as plain functions over a database session. Every query is
scoped to one account: a note id alone never reaches a note."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.extend import AccountDeleted, User
from notes.models import Note


async def add(db: AsyncSession, *, user_id: int, text: str, now: datetime) -> Note:
    note = Note(user_id=user_id, text=text, created_at=now)
    db.add(note)
    await db.flush()
    return note


async def of_account(db: AsyncSession, *, user_id: int) -> Sequence[Note]:
    """Newest first."""
    found = await db.scalars(
        select(Note).where(Note.user_id == user_id).order_by(Note.created_at.desc(), Note.id.desc())
    )
    return found.all()


async def remove(db: AsyncSession, *, user_id: int, note_id: int) -> bool:
    """False when the account has no such note, whoever else's it may be."""
    gone = await db.execute(
        delete(Note).where(Note.id == note_id, Note.user_id == user_id).returning(Note.id)
    )
    return gone.first() is not None


async def counts(db: AsyncSession) -> list[tuple[str, int]]:
    """(email, number of notes) for every account with notes, most notes first."""
    rows = await db.execute(
        select(User.email, func.count(Note.id))
        .join(Note, Note.user_id == User.id)
        .group_by(User.id, User.email)
        .order_by(func.count(Note.id).desc(), User.email)
    )
    return [(email, count) for email, count in rows]


async def forget_account(db: AsyncSession, event: AccountDeleted) -> None:
    """Keyfob deletes an account: its notes go with it, in the same transaction."""
    await db.execute(delete(Note).where(Note.user_id == event.user_id))
