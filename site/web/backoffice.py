"""/admin, built on its first request: only staff use the back office, and SQLAdmin with
Keyfob's views (about 4 MiB of modules and objects) would otherwise load in every worker at
start. The first request to /admin, or the first link to one of its pages, builds it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from keyfob.web.runtime import Runtime

BASE_URL = "/admin"


class BackOffice:
    """The ASGI app mounted at /admin. `routes` is what Starlette's `url_for` searches for
    `admin:…` names, so asking for a back-office URL builds it too."""

    def __init__(
        self, runtime: Runtime, *, views: Sequence[type[Any]], templates: Sequence[Path]
    ) -> None:
        """`views`, `templates`: a site owner's, after and before Keyfob's own."""
        self.runtime = runtime
        self.views = list(views)
        self.templates = list(templates)
        self._app: Starlette | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        return self.app.routes

    @property
    def app(self) -> Starlette:
        if self._app is None:
            from keyfob.admin import mount_admin
            from keyfob.admin.views import VIEWS

            host = Starlette()  # SQLAdmin mounts itself on the app it is given
            views = [*VIEWS, *self.views]
            admin = mount_admin(host, self.runtime, views=views, templates=self.templates)
            self._app = admin.admin
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
