"""Scenario 1b, the baseline for GET /login: a bare FastAPI app rendering a Jinja page of the
same shape and size (head, navigation, the sign-in form, a language menu), served like the
site (`uvicorn --workers 2`, uvloop + httptools). No middleware, session, CSRF signing,
translation, database or security headers: (1)/(1b) shows what Keyfob's per-request stack
costs on top of the framework and the template engine themselves.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

LINKS = (("/login", "Sign in"), ("/register", "Create an account"))
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}


def create() -> FastAPI:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/login")
    async def login() -> HTMLResponse:
        html = env.get_template("page.html").render(
            lang="en",
            title="Sign in",
            site_name="Keyfob",
            csrf_token=secrets.token_urlsafe(32),
            links=LINKS,
            languages=LANGUAGES,
        )
        return HTMLResponse(html)

    return app
