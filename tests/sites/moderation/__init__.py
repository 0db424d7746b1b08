"""A site package for tests only: one back-office list with a row action, to show an owner's
staff action passes the same gate, recency check and audit as Keyfob's own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin.actions import Actor
from keyfob.extend import Extension, User
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


def extension() -> Extension:
    return Extension.of_package(__name__, admin_views=[FlagView])
