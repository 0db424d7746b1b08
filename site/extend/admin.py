"""Back-office views for a site owner's package: the same staff gate, CSRF guard, error pages
and look as Keyfob's own views.

`AdminView` is a read-only list/details view of one model (SQLAdmin's ModelView with Keyfob's
defaults); its row actions go through `act`, which runs the step in one transaction with an
audit entry ("staff_action": who, from where, which view, action and row) and, for a
sensitive step, first asks for a recently confirmed passkey.
`AdminPage` is a page of its own (SQLAdmin's BaseView). Every `@expose`d route of either needs
a staff member signed in with a passkey, like every other back-office page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqladmin import BaseView, expose
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from keyfob.admin.actions import Actor, Step
from keyfob.admin.auth import current_staff
from keyfob.admin.base import KeyfobView, identity, labels
from keyfob.auth import audit
from keyfob.web.runtime import Runtime


class AdminView(KeyfobView):
    async def act(
        self, request: Request, step: Step, *, done: str, stay: bool = True, recent: bool = True
    ) -> Response:
        action = request.url.path.rstrip("/").rpartition("/")[2]

        async def audited(db: AsyncSession, actor: Actor, pk: int) -> object:
            result = await step(db, actor, pk)
            audit.record(
                db,
                "staff_action",
                now=actor.now,
                email=actor.user.email,
                ip=actor.ip,
                view=self.identity,
                action=action,
                row=pk,
            )
            return result

        return await super().act(request, audited, done=done, stay=stay, recent=recent)


class AdminPage(BaseView):
    """A back-office page: render a template from your package's templates/admin/ folder
    (extend "sqladmin/layout.html" for the back office's frame)."""

    @property
    def runtime(self) -> Runtime:
        runtime = getattr(self._admin_ref, "runtime", None)
        assert isinstance(runtime, Runtime), "added to Keyfob's back office"
        return runtime

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One read-only unit of work (rolled back at the end)."""
        async with self.runtime.sessionmaker() as db:
            yield db

    async def render(
        self, request: Request, template: str, context: dict[str, Any] | None = None
    ) -> Response:
        response: Response = await self.templates.TemplateResponse(
            request, template, {"title": self.name, **(context or {})}
        )
        return response


def staff_id(request: Request) -> int:
    """The account id of the staff member making this back-office request."""
    return current_staff(request).user_id


__all__ = ["AdminPage", "AdminView", "expose", "identity", "labels", "staff_id"]
