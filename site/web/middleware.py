"""Pure ASGI middleware: `Edge` (Host check, security headers, loopback alias, request-size
cap, CSRF settings) in one layer, and the request's language."""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyfob import i18n
from keyfob.errors import BodyTooLarge
from keyfob.web.client import host_name

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PERMISSIONS = (
    "publickey-credentials-get=(self), publickey-credentials-create=(self), camera=(), "
    "microphone=(), geolocation=()"
)


CACHEABLE_PREFIXES = ("/static/", "/favicon")
# Pages show secrets (an app's key, recovery codes, a link's token) and are one person's: no
# cache, shared or the browser's, keeps a copy. A route may still say otherwise for itself.
NO_STORE = ((b"cache-control", b"no-store"),)


class BodyTooLargeSignal(Exception):
    """Raised inside a streaming body read; answered with 413 if no response started yet."""


async def _too_large(send: Send) -> None:
    body = json.dumps({"error": "too_large", "message": str(BodyTooLarge.message)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Edge:
    """Starlette's TrustedHostMiddleware, security headers, the loopback alias, a body limit
    and starlette-wtf's CSRFProtectMiddleware in one layer: as five, each read the request's
    headers again and wrapped
    `send` once more, on every request. The same answers, in the same order: the security
    headers on every response (no-store but for static files), then a Host header the site
    does not answer to refused by Starlette's check (its verdict depends on the header alone,
    so a value it passed is remembered), a local site's loopback alias sent on to its own
    name, a 413 past `body_limit` bytes, and the CSRF settings starlette-wtf's forms read."""

    KNOWN_HOSTS = 64  # Host header values remembered as passed; others go through the check

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: list[str],
        hsts: bool,
        body_limit: int,
        csrf_config: dict[str, object],
        origin: str = "",
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.body_limit = body_limit
        self.csrf_config = csrf_config
        self.origin = origin
        self.aliases = frozenset(aliases)
        self.host_check = TrustedHostMiddleware(self._host_passed, allowed_hosts=allowed_hosts)
        self.known_hosts: set[bytes] = set()
        fixed = [
            ("content-security-policy", CSP),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
            ("permissions-policy", PERMISSIONS),
            ("cross-origin-opener-policy", "same-origin"),
        ]
        if hsts:
            fixed.append(("strict-transport-security", "max-age=63072000"))
        self.security_headers = [(k.encode(), v.encode()) for k, v in fixed]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(CACHEABLE_PREFIXES)
        send = _with_headers(send, self.security_headers, () if cacheable else NO_STORE)
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        if host is not None and host in self.known_hosts:
            await self._checked(scope, receive, send)
        else:
            await self.host_check(scope, receive, send)

    async def _host_passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        if host is not None and len(self.known_hosts) < self.KNOWN_HOSTS:
            self.known_hosts.add(host)
        await self._checked(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = declared = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"content-length":
                declared = value
        if self.aliases and await self._alias(scope, host, send):
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.body_limit):
            await _too_large(send)
            return
        scope.setdefault("state", {})["csrf_config"] = self.csrf_config
        seen = 0
        limit = self.body_limit

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeSignal
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLargeSignal:
            await _too_large(send)

    async def _alias(self, scope: Scope, host: bytes | None, send: Send) -> bool:
        if scope["path"] == "/healthz" or scope["method"] not in {"GET", "HEAD"}:
            return False
        if host_name(host.decode("latin-1") if host else "") not in self.aliases:
            return False
        query = scope.get("query_string", b"").decode("latin-1")
        target = self.origin + scope["path"] + (f"?{query}" if query else "")
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", target.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return True


def _with_headers(
    send: Send, enforced: list[tuple[bytes, bytes]], defaults: tuple[tuple[bytes, bytes], ...]
) -> Send:
    """`send`, with every `enforced` header set to Keyfob's value whatever the response said
    (no route, Keyfob's or a site package's, can loosen the CSP or allow framing), and each of
    `defaults` added where the response sets none."""
    replaced = {name for name, _ in enforced}

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in replaced]
            present = {name.lower() for name, _ in headers}
            headers.extend(enforced)
            headers.extend(pair for pair in defaults if pair[0] not in present)
            message["headers"] = headers
        await send(message)

    return sending


class Language:
    """Picks the language once per request: the `lang` cookie, then Accept-Language.

    Where the catalogs offer the pseudo-locale (a site on this machine), `?lang=en-XA` also
    shows that one page in it, for a screenshot without touching the cookie."""

    def __init__(self, app: ASGIApp, *, catalogs: i18n.Catalogs) -> None:
        self.app = app
        self.catalogs = catalogs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            cookie = SimpleCookie()
            try:
                cookie.load(headers.get("cookie", ""))
            except CookieError:
                cookie = SimpleCookie()
            chosen = cookie.get(i18n.LANG_COOKIE)
            pseudo = self.catalogs.pseudo
            asked = chosen.value if chosen else None
            query = scope.get("query_string", b"").decode("latin-1").split("&")
            if pseudo and f"lang={i18n.PSEUDO_LOCALE}" in query:
                asked = i18n.PSEUDO_LOCALE
            locale = i18n.negotiate(asked, headers.get("accept-language"), pseudo=pseudo)
            scope.setdefault("state", {})["locale"] = locale
            i18n.set_active(locale, self.catalogs)
        await self.app(scope, receive, send)
