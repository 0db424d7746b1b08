"""Who is asking, for a site owner's routes (keyfob.extend): typed FastAPI dependencies.

They give a `Person`, a plain snapshot of the signed-in account, rather than Keyfob's session
and user rows, so an owner's code cannot change an account behind Keyfob's flows. Each refusal
is one of Keyfob's own: not signed in goes to /login, a session from an emailed code is asked
for a passkey first, a stale sign-in is sent to /account/confirm and then back to the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from keyfob.auth import reauth
from keyfob.errors import Forbidden
from keyfob.models import SignInSession, utcnow
from keyfob.web.deps import CurrentSession, FullSession, OptionalSession


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    locale: str | None
    is_staff: bool
    recovery: bool
    """Signed in by an emailed code, without a passkey yet: only routes that opt in see it."""


def person_of(session: SignInSession) -> Person:
    user = session.user
    return Person(
        id=user.id,
        email=user.email,
        locale=user.locale,
        is_staff=user.is_staff,
        recovery=session.is_recovery,
    )


async def signed_in(session: FullSession) -> Person:
    return person_of(session)


async def signed_in_or_recovering(session: CurrentSession) -> Person:
    return person_of(session)


async def maybe_signed_in(session: OptionalSession) -> Person | None:
    return None if session is None or session.is_recovery else person_of(session)


async def staff(session: FullSession) -> Person:
    if not session.user.is_staff:
        raise Forbidden
    return person_of(session)


def signed_in_within(minutes: int) -> Callable[[SignInSession], Awaitable[Person]]:
    """A dependency for a sensitive page: the person confirmed it is them (passkey or code)
    within `minutes`, else they are asked to, and come back to the page."""
    if minutes < 1:
        raise ValueError("minutes must be at least 1")
    within = timedelta(minutes=minutes)

    async def check(session: FullSession) -> Person:
        reauth.require_recent(session, now=utcnow(), within=within)
        return person_of(session)

    return check


SignedIn = Annotated[Person, Depends(signed_in)]
SignedInOrRecovering = Annotated[Person, Depends(signed_in_or_recovering)]
MaybeSignedIn = Annotated[Person | None, Depends(maybe_signed_in)]
Staff = Annotated[Person, Depends(staff)]
