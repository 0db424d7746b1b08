"""The one composition root: `create_app(settings)` builds everything the site runs on."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette_wtf import CSRFProtectMiddleware

from keyfob import db, i18n, paths
from keyfob.admin import mount_admin
from keyfob.auth.notices import Notifier, parse_kinds
from keyfob.auth.recovery import RecoveryKeys
from keyfob.auth.sealing import Sealer
from keyfob.auth.throttle import Throttle, storage_url
from keyfob.background import background_tasks
from keyfob.mail.messages import MailRenderer
from keyfob.mail.transports import ConsoleTransport, MailTransport, SmtpTransport
from keyfob.settings import LOOPBACK_ALIASES, Settings
from keyfob.templating import make_environment
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
from keyfob.web.errors import install_error_handlers
from keyfob.web.middleware import BodyLimit, Language, LoopbackAlias, SecurityHeaders
from keyfob.web.runtime import Runtime


def make_transport(settings: Settings) -> MailTransport:
    if settings.smtp_url:
        return SmtpTransport.from_url(settings.smtp_url, timeout=settings.smtp_timeout_seconds)
    return ConsoleTransport(folder=settings.var_dir / "mailbox")


def build_runtime(settings: Settings) -> Runtime:
    engine = db.make_engine(settings.database_url)
    env = make_environment(paths.TEMPLATES)
    catalogs = i18n.Catalogs(paths.LOCALE, pseudo=settings.is_local)
    mail = MailRenderer(
        env=env, catalogs=catalogs, site_name=settings.site_name, site_url=settings.site_url
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=db.make_sessionmaker(engine),
        env=env,
        catalogs=catalogs,
        mail=mail,
        transport=make_transport(settings),
        throttle=Throttle(storage_url(settings.redis_url), settings.rate_limits),
        proxies=settings.proxy_networks,
        recovery_keys=RecoveryKeys(
            sealer=Sealer(settings.secret_key, purpose=b"totp"),
            digest_key=f"keyfob-recovery:{settings.secret_key}".encode(),
            issuer=settings.site_name,
        ),
        notifier=Notifier(
            mail=mail,
            enabled=parse_kinds(settings.security_notices),
            secret_key=settings.secret_key,
        ),
    )


def routers(settings: Settings) -> list[APIRouter]:
    """Every router the site serves; the dev mailbox only on a local site without SMTP."""
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


def create_app(settings: Settings, *, send_mail: bool = True) -> FastAPI:
    """`send_mail=False` leaves the outbox to be delivered by the caller (tests, tools)."""
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            async with background_tasks(runtime, send_mail=send_mail):
                yield
        finally:
            runtime.throttle.close()
            await runtime.engine.dispose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    install_error_handlers(app)
    for router in routers(settings):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=paths.STATIC), name="static")
    mount_admin(app, runtime)

    app.add_middleware(CSRFProtectMiddleware, csrf_secret=settings.secret_key)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=settings.session_cookie,
        max_age=int(settings.session_lifetime.total_seconds()),
        same_site="lax",
        https_only=settings.https,
    )
    app.add_middleware(BodyLimit, limit=settings.json_body_limit)
    if settings.is_local:
        app.add_middleware(LoopbackAlias, origin=settings.origin, aliases=LOOPBACK_ALIASES)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.host_names)
    app.add_middleware(SecurityHeaders, hsts=settings.https)
    app.add_middleware(Language, catalogs=runtime.catalogs)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn's workers call: each reads the same KEYFOB_* environment.

    What exists once the app is built (modules, routes, templates) lives as long as the
    process, so it is moved out of the garbage collector's sight: a full collection over it
    took ~80 ms, a pause every request in flight would wait for."""
    app = create_app(Settings())
    gc.collect()
    gc.freeze()
    return app
