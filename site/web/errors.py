"""Exception handlers: every failure becomes a page or JSON with a 4xx, never a traceback."""

from __future__ import annotations

import logging
from html import escape
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from keyfob.errors import KeyfobError, ReauthRequired, SignInRequired
from keyfob.i18n import gettext
from keyfob.web.rendering import render

log = logging.getLogger("keyfob.web")


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.headers.get(
        "content-type", ""
    ).startswith("application/json")


def _error(request: Request, status: int, code: str, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": code, "message": message}, status_code=status)
    return render(
        request, "errors/error.html", {"status": status, "message": message}, status_code=status
    )


def local_path(candidate: str | None, default: str = "/account") -> str:
    """Only paths on this site, so a `next` parameter can never send a person elsewhere."""
    if not candidate:
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or "\\" in candidate:
        return default
    if parts.path.startswith("//"):
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


def continue_after(request: Request) -> str:
    """Where to come back to after confirming: this page, or for a form post the page it was on."""
    if request.method == "GET":
        return local_path(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        )
    return local_path(urlsplit(request.headers.get("referer", "")).path or None)


async def keyfob_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyfobError)
    if isinstance(exc, SignInRequired) and not wants_json(request):
        return RedirectResponse("/login", status_code=303)
    if isinstance(exc, ReauthRequired):
        query = {"next": continue_after(request), **({"passkey": "1"} if exc.passkey else {})}
        target = "/account/confirm?" + urlencode(query)
        if wants_json(request):
            return JSONResponse(
                {"error": exc.code, "message": exc.text(), "redirect": target},
                status_code=exc.status,
            )
        return RedirectResponse(target, status_code=303)
    return _error(request, exc.status, exc.code, exc.text())


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {
        404: gettext("There is no page at this address."),
        405: gettext("That is not allowed here."),
    }
    message = messages.get(exc.status_code, gettext("Something was wrong with that request."))
    return _error(request, exc.status_code, "http", message)


async def validation_error(request: Request, exc: Exception) -> Response:
    return _error(request, 400, "malformed", gettext("The request was malformed."))


async def server_error(request: Request, exc: Exception) -> Response:
    """Runs outside the session middleware, so it answers without the page layout."""
    log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = gettext("Something went wrong on our side. Please try again.")
    if wants_json(request):
        return JSONResponse({"error": "server", "message": message}, status_code=500)
    return HTMLResponse(
        f"<!doctype html><title>500</title><p>{escape(message)}</p>", status_code=500
    )


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is away (down, restarting, out of connections): a 503 with Retry-After,
    answered here rather than by the server-error handler so the connection stays open.
    A statement the database refuses is a bug, and stays a 500."""
    if isinstance(exc, IntegrityError | ProgrammingError | DataError | NotSupportedError):
        return await server_error(request, exc)
    log.warning("Database unavailable on %s %s: %r", request.method, request.url.path, exc)
    message = gettext("Something went wrong on our side. Please try again.")
    headers = {"Retry-After": "5"}
    if wants_json(request):
        return JSONResponse(
            {"error": "unavailable", "message": message}, status_code=503, headers=headers
        )
    return HTMLResponse(
        f"<!doctype html><title>503</title><p>{escape(message)}</p>",
        status_code=503,
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    # the driver's own connection errors (refused, reset, timed out) reach us unwrapped too
    for unavailable in (DBAPIError, PoolTimeout, ConnectionError, TimeoutError):
        app.add_exception_handler(unavailable, database_unavailable)
    app.add_exception_handler(KeyfobError, keyfob_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
