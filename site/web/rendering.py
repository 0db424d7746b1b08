"""Page rendering: every template gets the language, direction, CSRF token and signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette_wtf import csrf_token

from keyfob import i18n
from keyfob.web.deps import get_runtime

LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "ja": "日本語",
    "zh-Hans": "简体中文",
    "pt-BR": "Português (Brasil)",
    "pl": "Polski",
    "he": "עברית",
}
"""The language menu: each offered language (i18n.LOCALES, never the pseudo-locale) by its
BCP 47 tag, named in itself so that a reader finds their own among scripts they cannot read."""


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    runtime = get_runtime(request)
    locale = i18n.current_locale()
    sign_in = getattr(request.state, "sign_in", None)
    values = {
        "request": request,
        "path": request.scope["path"],
        "csrf_token": csrf_token(request),
        "lang": locale,
        "dir": i18n.direction(locale),
        "languages": LANGUAGE_NAMES,
        "sign_in": sign_in,
        "user": sign_in.user if sign_in is not None else None,
        "site_name": runtime.settings.site_name,
        "dev_mailbox": runtime.settings.dev_mailbox,
        **(context or {}),
    }
    html = runtime.env.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)


def render_for_visitor(
    request: Request, template: str, context: Callable[[], dict[str, Any]]
) -> HTMLResponse:
    """A page every visitor without a session sees alike (the sign-in and sign-up forms),
    rendered once per page, language and path, then served with only the CSRF token put in:
    rendering it was half of GET /login's CPU. What such a page and its partials show may
    depend on nothing but the language, the path and the settings. `context` is called for
    the first rendering only."""
    token = csrf_token(request)
    pages = get_runtime(request).visitor_pages
    key = (template, i18n.current_locale(), request.scope["path"])
    parts = pages.get(key)
    if parts is None:
        response = render(request, template, context())
        pages[key] = bytes(response.body).decode().split(token)
        return response
    return HTMLResponse(token.join(parts))
