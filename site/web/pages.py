"""Keyfob's own routers: the pages and JSON endpoints of sign-in and the account."""

from __future__ import annotations

from fastapi import APIRouter

from keyfob.settings import Settings
from keyfob.web import (
    account,
    acme,
    assets,
    devmail,
    email_code,
    health,
    language,
    login,
    passkeys,
    reauth,
    recovery,
    register,
    sessions,
)


def routers(settings: Settings) -> list[APIRouter]:
    """Every router Keyfob serves; the dev mailbox only on a local site without SMTP."""
    modules = [
        health,
        assets,
        register,
        login,
        email_code,
        account,
        passkeys,
        reauth,
        sessions,
        recovery,
        language,
        acme,
    ]
    if settings.dev_mailbox:
        modules.append(devmail)
    return [module.router for module in modules]
