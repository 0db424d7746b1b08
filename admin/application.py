"""KeyfobAdmin: SQLAdmin's Admin with the routes a staff-only, CSRF-checked panel needs.

Changed from SQLAdmin: logout is POST only (it was a GET link); login sends people to the
site's /login (the back office has no password form); the create, delete, import, export and
file routes are gone (nothing here is made, deleted or downloaded through them); every route
passes keyfob.admin.csrf first; errors are Keyfob's own pages; the index is the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader
from sqladmin import Admin, ModelView
from sqladmin.authentication import login_required
from sqladmin.helpers import get_object_identifier
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import URL, FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keyfob import paths
from keyfob.admin import csrf, dashboard, templating
from keyfob.admin.auth import ConfirmFirst, StaffOnly, require_recent_passkey
from keyfob.admin.cookie import AdminCookie
from keyfob.errors import KeyfobError
from keyfob.i18n import gettext, lazy_gettext
from keyfob.models import utcnow
from keyfob.web.backoffice import BASE_URL
from keyfob.web.runtime import Runtime

DROPPED_ROUTES = frozenset(
    {"create", "delete", "import", "export", "file_download", "file_preview"}
)


class KeyfobAdmin(Admin):
    def __init__(self, app: Starlette, runtime: Runtime, *, templates: Sequence[Path] = ()) -> None:
        self.runtime = runtime
        super().__init__(
            app,
            # Its own factory: SQLAdmin reconfigures the one it is given (autoflush off).
            session_maker=async_sessionmaker(runtime.engine, expire_on_commit=False),
            base_url=BASE_URL,
            title=lazy_gettext("Back office"),
            templates_dir=str(paths.TEMPLATES / "admin"),
            authentication_backend=StaffOnly(runtime, AdminCookie.for_site(runtime.settings)),
        )
        if templates:
            loader = self.templates.env.loader
            assert loader is not None
            self.templates.env.loader = ChoiceLoader([FileSystemLoader(list(templates)), loader])
        templating.install(self.templates.env, runtime.catalogs)
        self.admin.exception_handlers = {
            HTTPException: self.error_page,
            KeyfobError: self.error_page,
        }

    def seal(self) -> None:
        """Call once every view is added: their own routes are guarded too."""
        routes: list[BaseRoute] = []
        for route in self.admin.router.routes:
            name = getattr(route, "name", "")
            if name in DROPPED_ROUTES:
                continue
            if name == "login":
                route = Route("/login", self.login, methods=["GET"], name="login")
            elif name == "logout":
                route = Route("/logout", self.logout, methods=["POST"], name="logout")
            routes.append(route)
        self.admin.router.routes = csrf.guard_routes(routes, origin=self.runtime.settings.origin)

    @staticmethod
    def get_save_redirect_url(
        request: Request, form: FormData, model_view: ModelView, obj: Any
    ) -> str | URL:
        """After an edit, its details page, whatever button was pressed (SQLAdmin would go on
        to its create form, which is not served here)."""
        return request.url_for(
            "admin:details", identity=model_view.identity, pk=get_object_identifier(obj)
        )

    async def login(self, request: Request) -> Response:
        return RedirectResponse("/login", status_code=303)

    @login_required
    async def edit(self, request: Request) -> Response:
        """An edit changes who is staff: it needs a recently confirmed passkey, asked for
        before the form is read (SQLAdmin turns an error while saving into a form message)."""
        if request.method == "POST":
            params = request.path_params
            back = request.url_for("admin:details", identity=params["identity"], pk=params["pk"])
            within = self.runtime.settings.reauth_within
            require_recent_passkey(request, within=within, back=str(back.path))
        response: Response = await super().edit(request)
        return response

    @login_required
    async def index(self, request: Request) -> Response:
        async with self.runtime.sessionmaker() as db:
            stats = await dashboard.gather(db, now=utcnow())
        context = {"stats": stats, "title": gettext("Dashboard")}
        return await self.templates.TemplateResponse(request, "dashboard.html", context)

    async def error_page(self, request: Request, exc: Exception) -> Response:
        """A 4xx page in the back office's look, with a way on when there is one."""
        if isinstance(exc, ConfirmFirst):
            return RedirectResponse(exc.location, status_code=303)
        if isinstance(exc, KeyfobError):
            status, message = exc.status, exc.text()
        elif isinstance(exc, HTTPException):
            status, message = exc.status_code, _message(exc)
        else:
            raise exc
        context = {"status_code": status, "message": message, "link": getattr(exc, "link", None)}
        return await self.templates.TemplateResponse(
            request, "sqladmin/error.html", context, status_code=status
        )


def _message(exc: HTTPException) -> str:
    if exc.detail and exc.detail != HTTPStatus(exc.status_code).phrase:
        return exc.detail
    messages = {
        403: gettext("You may not do that here."),
        404: gettext("There is no page at this address."),
        405: gettext("That is not allowed here."),
    }
    return messages.get(exc.status_code, gettext("Something was wrong with that request."))
