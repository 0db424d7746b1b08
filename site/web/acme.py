"""/.well-known/acme-challenge/{token}: the site's own answer to ACME HTTP-01 challenges.

Also the plain-HTTP app `keyfob serve --https --redirect-http PORT` runs on PORT: it answers
challenges itself (Let's Encrypt always asks on port 80) and sends everything else to the
HTTPS origin, built from KEYFOB_SITE_URL rather than the request's Host header.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from keyfob.certs import http01
from keyfob.web.deps import CurrentSettings

router = APIRouter()

CHALLENGE_ROUTE = http01.PATH_PREFIX + "{token}"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.get(CHALLENGE_ROUTE, include_in_schema=False)
async def acme_challenge(token: str, settings: CurrentSettings) -> Response:
    return answer(http01.challenge_dir(settings.var_dir), token)


def answer(folder: Path, token: str) -> Response:
    """The published key authorization, or 404 for anything unknown or malformed."""
    found = http01.lookup(folder, token)
    if found is None:
        return PlainTextResponse("Not Found", status_code=404)
    return PlainTextResponse(found)


def plain_http_app(*, var_dir: Path, origin: str) -> Starlette:
    """Challenges answered here; every other request redirected (308 keeps the method)."""
    folder = http01.challenge_dir(var_dir)

    async def challenge(request: Request) -> Response:
        return answer(folder, request.path_params["token"])

    async def to_https(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{origin}{request.url.path}{query}", status_code=308)

    return Starlette(
        routes=[
            Route(CHALLENGE_ROUTE, challenge, methods=["GET"]),
            Route("/{path:path}", to_https, methods=METHODS),
        ]
    )
