"""Page rendering: every template gets the language, direction, CSRF token and signed-in user."""

from __future__ import annotations

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
