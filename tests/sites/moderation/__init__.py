"""A site package for tests only: one back-office list with a row action, to show an owner's
staff action passes the same gate, recency check and audit as Keyfob's own; and one JSON route
per person dependency of keyfob.extend, answering with who it let in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin.actions import Actor
from keyfob.extend import (
    Extension,
    MaybeSignedIn,
    Person,
    SignedIn,
    SignedInOrRecovering,
    Staff,
    User,
    signed_in_within,
)
from keyfob.extend.admin import AdminView, expose, identity

FLAGGED: list[int] = []


@identity("flag-user")
class FlagView(AdminView, model=User):
    name = "Flags"
    column_list = (User.id, User.email)

    @expose("/{pk:int}/flag", methods=["POST"])
    async def flag(self, request: Request) -> Response:
        return await self.act(request, flag_account, done="Flagged.")


async def flag_account(db: AsyncSession, actor: Actor, pk: int) -> None:
    FLAGGED.append(pk)


router = APIRouter(prefix="/who")


def _seen(person: Person | None) -> dict[str, object]:
    return {"email": person.email if person else None, "recovery": bool(person and person.recovery)}


@router.get("/maybe")
async def maybe(person: MaybeSignedIn) -> dict[str, object]:
    return _seen(person)


@router.get("/signed-in")
async def signed_in(person: SignedIn) -> dict[str, object]:
    return _seen(person)


@router.get("/recovering")
async def recovering(person: SignedInOrRecovering) -> dict[str, object]:
    return _seen(person)


@router.get("/staff")
async def staff(person: Staff) -> dict[str, object]:
    return _seen(person)


@router.get("/recent")
async def recent(person: Annotated[Person, Depends(signed_in_within(2))]) -> dict[str, object]:
    return _seen(person)


@router.get("/loose")
async def loose() -> Response:
    """A route that tries to loosen the site's headers, as careless owner code might."""
    return Response(
        "framed",
        headers={
            "Content-Security-Policy": "default-src * 'unsafe-inline'",
            "X-Frame-Options": "ALLOWALL",
            "Cache-Control": "private, max-age=60",
        },
    )


def extension() -> Extension:
    return Extension.of_package(__name__, routers=[router], admin_views=[FlagView])
