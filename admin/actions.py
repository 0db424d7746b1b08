"""Row actions: a POST per button, one keyfob.auth.moderation flow per action, one transaction.

SQLAdmin's own `@action`s are GET links (and its bulk actions need its JavaScript); these are
plain forms instead, checked by `keyfob.admin.csrf` like every other back-office POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqladmin import Flash
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyfob.admin.auth import client_ip, current_staff
from keyfob.models import User, utcnow
from keyfob.web.runtime import Runtime


@dataclass(frozen=True)
class RowAction:
    """A button on a row. With `confirm`, the button only opens a second one that acts."""

    label: str
    url: str
    confirm: str = ""


@dataclass(frozen=True)
class Actor:
    """The staff member acting, as the flows record them."""

    user: User
    ip: str
    now: datetime


Step = Callable[[AsyncSession, Actor, int], Awaitable[object]]


async def perform(
    request: Request, runtime: Runtime, step: Step, *, done: str, then: str
) -> Response:
    """Runs `step` on the row named by the path's `pk`. A KeyfobError rolls everything back
    and becomes the back office's 4xx page."""
    staff = current_staff(request)
    pk: int = request.path_params["pk"]
    async with runtime.sessionmaker() as db, db.begin():
        actor = Actor(
            user=await db.get_one(User, staff.user_id),
            ip=client_ip(request, runtime),
            now=utcnow(),
        )
        await step(db, actor, pk)
    runtime.mail_wake.set()  # a flow may have queued a notice
    Flash.success(request, done)
    return RedirectResponse(then, status_code=303)


def back_to(request: Request, *, origin: str, fallback: str) -> str:
    """The back-office page the form was on, from Referer; never a page elsewhere."""
    parts = urlsplit(request.headers.get("referer", ""))
    if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith("/admin/"):
        return fallback
    return parts.path + (f"?{parts.query}" if parts.query else "")
