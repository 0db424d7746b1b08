"""One table: a note belongs to one account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from keyfob.extend import Base, UTCDateTime

MAX_LENGTH = 2000


class Note(Base):
    __tablename__ = "notes_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No ON DELETE CASCADE: deleting an account must go through store.forget_account, and the
    # database refuses the deletion if it did not.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(String(MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
