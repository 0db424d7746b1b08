"""CSRF protection for every back-office route, which SQLAdmin does not have of its own.

Guaranteed: no request other than GET, HEAD or OPTIONS reaches a back-office endpoint unless
it carries the token of this browser's back-office session (form field `csrf_token` or header
`X-CSRF-Token`), and its Origin and Sec-Fetch-Site, when the browser sends them, say it came
from this site. The token lives in the SameSite=Strict back-office cookie and is tied to one
sign-in: another sign-in in the same browser gets a new one. The checks wrap each route, so a
refusal is an ordinary 403 page and the form is parsed once, here: a body that is not a form
is a 400 before SQLAdmin sees it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyfob.errors import KeyfobError
from keyfob.i18n import gettext
from keyfob.web.bodies import read_form

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
CSRF_KEY = "csrf"
BOUND_KEY = "sign_in"

Endpoint = Callable[[Request], Awaitable[Response]]


class CrossSiteRefused(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            403,
            gettext(
                "This form is out of date or was sent from another site, so nothing was "
                "changed. Reload the page and try again."
            ),
        )


def bind(session: MutableMapping[str, Any], *, sign_in: str, method: str) -> None:
    """Keeps the token of this sign-in, or starts afresh for a new one (on a safe request
    only: a form sent under another sign-in's token is refused)."""
    if session.get(BOUND_KEY) == sign_in and isinstance(session.get(CSRF_KEY), str):
        return
    if method not in SAFE_METHODS:
        raise CrossSiteRefused
    session.clear()
    session[BOUND_KEY] = sign_in
    session[CSRF_KEY] = secrets.token_urlsafe(32)


def token_of(request: Request) -> str:
    """For templates: the value every form of the back office sends back."""
    value = request.session.get(CSRF_KEY)
    return value if isinstance(value, str) else ""


async def check(request: Request, *, origin: str) -> None:
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("origin", origin) != origin:
        raise CrossSiteRefused
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        raise CrossSiteRefused
    form = await _form_of(request)
    sent = request.headers.get(HEADER)
    if sent is None:
        value = form.get(FIELD)
        sent = value if isinstance(value, str) else ""
    expected = token_of(request)
    if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CrossSiteRefused


async def _form_of(request: Request) -> FormData:
    """Read here for every change, so SQLAdmin never meets a body it would answer with a 500."""
    try:
        return await read_form(request)
    except KeyfobError as exc:
        raise HTTPException(exc.status, exc.text()) from exc


def guard_routes(routes: list[BaseRoute], *, origin: str) -> list[BaseRoute]:
    """Every plain route, checked first; mounts (SQLAdmin's static files) only answer GET."""
    return [_guarded(route, origin) if isinstance(route, Route) else route for route in routes]


def _guarded(route: Route, origin: str) -> Route:
    endpoint: Endpoint = route.endpoint

    async def checked(request: Request) -> Response:
        await check(request, origin=origin)
        return await endpoint(request)

    return Route(
        route.path,
        checked,
        methods=route.methods,
        name=route.name,
        include_in_schema=route.include_in_schema,
    )
