"""Account events a site built on Keyfob can follow, so its own rows stay in step.

Handlers run inside the transaction of the change itself, on the same database session: a
handler that fails rolls the change back (an account is never deleted while its owner's rows
stay behind), and what a handler writes commits with it. The events reach a session through
its `info`, set by the sessionmaker the composition root builds, so flows stay plain functions
over a session and nothing global holds the handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

INFO_KEY = "keyfob.events"


@dataclass(frozen=True)
class AccountCreated:
    """A person proved their address and has an account (or staff made one)."""

    user_id: int
    email: str


@dataclass(frozen=True)
class EmailChanged:
    user_id: int
    old_email: str
    new_email: str


@dataclass(frozen=True)
class AccountDeleted:
    """Emitted before the account's row goes: delete or anonymise what refers to it now."""

    user_id: int


@dataclass(frozen=True)
class PasskeyAdded:
    user_id: int
    passkey_id: int


Event = AccountCreated | EmailChanged | AccountDeleted | PasskeyAdded
Handler = Callable[[AsyncSession, Any], Awaitable[None]]
EVENT_TYPES: tuple[type[Event], ...] = (AccountCreated, EmailChanged, AccountDeleted, PasskeyAdded)


class Events:
    """Handlers by event type, in the order they were added."""

    def __init__(self, handlers: Mapping[type[Event], Sequence[Handler]] | None = None) -> None:
        self._handlers: dict[type[Event], list[Handler]] = {kind: [] for kind in EVENT_TYPES}
        for kind, found in (handlers or {}).items():
            for handler in found:
                self.on(kind, handler)

    def on(self, kind: type[Event], handler: Handler) -> None:
        if kind not in self._handlers:
            raise TypeError(f"{kind!r} is not an event Keyfob emits")
        self._handlers[kind].append(handler)

    def extend(self, others: Iterable[Events]) -> None:
        for other in others:
            for kind, handlers in other._handlers.items():
                self._handlers[kind].extend(handlers)

    async def emit(self, db: AsyncSession, event: Event) -> None:
        for handler in self._handlers[type(event)]:
            await handler(db, event)

    def session_info(self) -> dict[str, Any]:
        """For `async_sessionmaker(..., info=...)`: every session it makes carries these."""
        return {INFO_KEY: self}


async def emit(db: AsyncSession, event: Event) -> None:
    """Runs the handlers the session was made with; a session made without any runs none."""
    events = db.info.get(INFO_KEY)
    if isinstance(events, Events):
        await events.emit(db, event)
