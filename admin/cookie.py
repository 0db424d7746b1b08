"""The back office's own cookie, kept apart from the site's session cookie.

SQLAdmin's authentication backend adds a second Starlette SessionMiddleware, and both
middlewares keep their data in `scope["session"]`: mounted inside the site, the inner one would
hide the site's session and the outer one would then write the back office's data into the
site's cookie. `KeepSiteSession` runs around the inner middleware, so the site's session stays
readable (at `SITE_SESSION`) and is put back before the site's middleware sees the response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyfob.settings import Settings

SITE_SESSION = "keyfob.site_session"
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True)
class AdminCookie:
    """SameSite=Strict, HttpOnly, its own name; Secure with the `__Host-` prefix on https.

    Strict means no other site can make a browser send it, not even by a link: a request
    from elsewhere reaches the back office without its CSRF token."""

    name: str
    secret: str
    secure: bool

    @classmethod
    def for_site(cls, settings: Settings) -> AdminCookie:
        return cls(
            name="__Host-keyfob-admin" if settings.https else "keyfob-admin",
            # A key of its own, so a site cookie can never pass for a back-office one.
            secret=f"keyfob-admin:{settings.secret_key}",
            secure=settings.https,
        )

    def middleware(self) -> list[Middleware]:
        return [
            Middleware(KeepSiteSession),
            Middleware(
                SessionMiddleware,
                secret_key=self.secret,
                session_cookie=self.name,
                max_age=LIFETIME_SECONDS,
                path="/",
                same_site="strict",
                https_only=self.secure,
            ),
        ]


class KeepSiteSession:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        had_session = "session" in scope
        site = scope.get("session")
        scope[SITE_SESSION] = site if site is not None else {}

        def restore() -> None:
            if had_session:
                scope["session"] = site
            else:
                scope.pop("session", None)

        async def send_as_site(message: Message) -> None:
            if message["type"] == "http.response.start":
                restore()
            await send(message)

        try:
            await self.app(scope, receive, send_as_site)
        finally:
            restore()


def site_session(request: Request) -> dict[str, Any]:
    """The site's own session (its `sid` names the sign-in), not the back office's."""
    found: dict[str, Any] = request.scope.get(SITE_SESSION, {})
    return found
