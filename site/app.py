"""The one composition root: `create_app(settings)` builds everything the site runs on."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.sessions import SessionMiddleware
from starlette_wtf import CSRFProtectMiddleware

from keyfob import db, i18n, paths
from keyfob.auth.notices import Notifier, parse_kinds
from keyfob.auth.recovery import RecoveryKeys
from keyfob.auth.sealing import Sealer
from keyfob.auth.throttle import Throttle, storage_url
from keyfob.background import background_tasks
from keyfob.events import Events
from keyfob.extensions import Extension, of_site
from keyfob.mail.messages import MailRenderer
from keyfob.mail.transports import ConsoleTransport, MailTransport, SmtpTransport
from keyfob.settings import LOOPBACK_ALIASES, Settings
from keyfob.templating import make_environment
from keyfob.web.backoffice import BASE_URL, BackOffice
from keyfob.web.deps import Guarded
from keyfob.web.errors import install_error_handlers
from keyfob.web.middleware import Edge, Language
from keyfob.web.runtime import Runtime


def make_transport(settings: Settings) -> MailTransport:
    if settings.smtp_url:
        return SmtpTransport.from_url(settings.smtp_url, timeout=settings.smtp_timeout_seconds)
    return ConsoleTransport(folder=settings.var_dir / "mailbox")


def build_runtime(settings: Settings, extensions: list[Extension] | None = None) -> Runtime:
    """`extensions`: the site's packages, the owner's first (see keyfob.extensions)."""
    extensions = extensions if extensions is not None else of_site(settings)
    events = Events()
    events.extend(extension.events for extension in extensions)
    engine = db.make_engine(settings.database_url)
    env = make_environment([e.templates for e in extensions if e.templates is not None])
    owners = [e.locale for e in extensions[:-1] if e.locale is not None]
    catalogs = i18n.Catalogs(paths.LOCALE, pseudo=settings.is_local, overlays=owners)
    mail = MailRenderer(
        env=env, catalogs=catalogs, site_name=settings.site_name, site_url=settings.site_url
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=db.make_sessionmaker(engine, events),
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


NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings, *, send_mail: bool = True) -> FastAPI:
    """`send_mail=False` leaves the outbox to be delivered by the caller (tests, tools)."""
    extensions = of_site(settings)
    runtime = build_runtime(settings, extensions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            async with background_tasks(runtime, send_mail=send_mail):
                yield
        finally:
            runtime.throttle.close()
            await runtime.engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # nothing here exports OpenTelemetry data: without this, FastAPI asks the providers
        # on every request whether anyone listens (~37 µs a request, measured)
        telemetry=NO_TELEMETRY,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    install_extensions(app, runtime, extensions)

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=settings.session_cookie,
        max_age=int(settings.session_lifetime.total_seconds()),
        same_site="lax",
        https_only=settings.https,
    )
    # Host check, security headers, loopback alias, body limit and starlette-wtf's CSRF
    # settings in one layer (see Edge)
    app.add_middleware(
        Edge,
        allowed_hosts=settings.host_names,
        hsts=settings.https,
        body_limit=settings.json_body_limit,
        csrf_config=CSRFProtectMiddleware(app, csrf_secret=settings.secret_key).csrf_config,
        origin=settings.origin,
        aliases=LOOPBACK_ALIASES if settings.is_local else (),
    )
    app.add_middleware(Language, catalogs=runtime.catalogs)
    return app


def install_extensions(app: FastAPI, runtime: Runtime, extensions: list[Extension]) -> None:
    """Keyfob's routes are matched first, so an owner's route never stands in for one of them;
    an owner's every state-changing route passes the same throttle and CSRF check as Keyfob's
    forms. Static files: the owner's under /static/<package>/, Keyfob's under /static/."""
    *owners, core = extensions
    for router in core.routers:
        app.include_router(router)
    for owner in owners:
        for router in owner.routers:
            app.include_router(router, dependencies=[Guarded])
        if owner.static is not None:
            app.mount(owner.static_prefix, StaticFiles(directory=owner.static), name=owner.name)
    app.mount("/static", StaticFiles(directory=paths.STATIC), name="static")
    office = BackOffice(
        runtime,
        views=[view for extension in reversed(extensions) for view in extension.admin_views],
        templates=[e.templates / "admin" for e in owners if e.templates is not None],
    )
    app.mount(BASE_URL, office, name="admin")


def app_from_environment() -> FastAPI:
    """The factory uvicorn's workers call: each reads the same KEYFOB_* environment.

    What exists once the app is built (modules, routes, templates) lives as long as the
    process, so it is moved out of the garbage collector's sight: a full collection over it
    took ~80 ms, a pause every request in flight would wait for."""
    app = create_app(Settings())
    gc.collect()
    gc.freeze()
    return app
