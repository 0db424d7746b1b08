from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from keyfob.models.base import Base, utcnow


def new_user_handle() -> bytes:
    """WebAuthn user handle: 64 random bytes, never the email (WebAuthn §14.6.1)."""
    return secrets.token_bytes(64)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    webauthn_handle: Mapped[bytes] = mapped_column(
        LargeBinary(64), unique=True, default=new_user_handle
    )
    email_verified_at: Mapped[datetime | None]
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    last_sign_in_method: Mapped[str | None] = mapped_column(String(16))
    code_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    code_failures_since: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    lock_reason: Mapped[str] = mapped_column(String(64), default="", server_default="")

    def __str__(self) -> str:
        return self.email
