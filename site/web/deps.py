"""Request-scoped dependencies, as Annotated aliases, all in one place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette_wtf.util import validate_csrf
from wtforms import ValidationError

from keyfob.auth import reauth, sessions, throttle
from keyfob.auth.client import Client
from keyfob.errors import CsrfFailed, KeyfobError, SignInRequired
from keyfob.models import SignInSession, utcnow
from keyfob.prepared import batch_writes, send_waiting
from keyfob.settings import Settings
from keyfob.web.bodies import is_form, read_form
from keyfob.web.client import resolve_client_ip
from keyfob.web.runtime import Runtime

SESSION_KEY = "sid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@asynccontextmanager
async def request_transaction(
    request: Request, *, batch: bool = False
) -> AsyncIterator[AsyncSession]:
    """One transaction per request. A KeyfobError still commits: a refused code or passkey
    must leave its failure count and audit entry behind. Any other error rolls back. It is
    committed when the block ends, before the response is sent, so a client never sees a
    success (a passkey challenge, a queued code) that is not yet in the database.

    A request that never used the session (a page for a visitor without a session cookie)
    has nothing to commit or give back: it skips the round trip through SQLAlchemy's greenlet
    and the task `async with` would shield the close in (a tenth of GET /login's CPU).

    `batch`: writes made with `Prepared.later` may wait and go to PostgreSQL together at the
    end, sent before the commit and dropped with a rollback (`keyfob.prepared.batch_writes`).
    If the request's writes do not land (a rollback, a failed commit), the browser's session
    cookie is put back as it was."""
    db = get_runtime(request).sessionmaker()
    if batch:
        batch_writes(db)
    cookie: dict[str, Any] = request.scope.get("session", {})
    before = dict(cookie)
    try:
        yield db
    except KeyfobError:
        if db.in_transaction():
            await _commit(db, cookie, before)
        raise
    except BaseException:
        _restore(cookie, before)
        if db.in_transaction():
            await db.rollback()
        raise
    else:
        if db.in_transaction():
            await _commit(db, cookie, before)
    finally:
        if db.in_transaction():
            await asyncio.shield(db.close())  # a commit or rollback failed: give it back
        else:
            db.sync_session.close()  # no transaction: nothing to give back, no I/O


async def _commit(db: AsyncSession, cookie: dict[str, Any], before: dict[str, Any]) -> None:
    """A commit that fails leaves the browser's session as it was before the request, as a
    rollback does: the error page must not carry a session (a rotated sign-in token) that the
    database never got."""
    try:
        await send_waiting(db)
        await db.commit()
    except BaseException:
        _restore(cookie, before)
        raise


def _restore(cookie: dict[str, Any], before: dict[str, Any]) -> None:
    """Never a token the database did not get; but a token the request gave up (a sign-out)
    stays given up, so this device is signed out even if the server could not record it."""
    if cookie == before:
        return
    gave_up = SESSION_KEY in before and SESSION_KEY not in cookie
    cookie.clear()
    cookie.update(before)
    if gave_up:
        del cookie[SESSION_KEY]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request_transaction(request) as db:
        yield db


def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


# FastAPI runs a plain `def` dependency in its thread pool: a thread hand-off per request for
# reading an attribute. These are the same two as `async def`, which run in place.
async def _runtime_dependency(request: Request) -> Runtime:
    return get_runtime(request)


async def _settings_dependency(request: Request) -> Settings:
    return get_runtime(request).settings


def client_of(request: Request) -> Client:
    peer = request.client.host if request.client else ""
    ip = resolve_client_ip(
        peer, request.headers.get("x-forwarded-for"), get_runtime(request).proxies
    )
    return Client(ip=ip, user_agent=request.headers.get("user-agent", "")[:400])


async def optional_session(request: Request, db: Db) -> SignInSession | None:
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    settings = get_settings(request)
    found = await sessions.find_session(
        db,
        token=token,
        now=utcnow(),
        idle=settings.session_idle,
        lifetime=settings.session_lifetime,
    )
    if found is None:
        request.session.pop(SESSION_KEY, None)
    request.state.sign_in = found
    return found


async def require_session(session: OptionalSession) -> SignInSession:
    if session is None:
        raise SignInRequired
    return session


async def require_full_session(session: CurrentSession) -> SignInSession:
    reauth.require_full_session(session)
    return session


async def require_recent_session(request: Request, session: CurrentSession) -> SignInSession:
    reauth.require_recent(session, now=utcnow(), within=get_settings(request).reauth_within)
    return session


async def require_recent_full_session(request: Request, session: FullSession) -> SignInSession:
    reauth.require_recent(session, now=utcnow(), within=get_settings(request).reauth_within)
    return session


async def require_recent_passkey(request: Request, session: FullSession) -> SignInSession:
    reauth.require_recent(
        session, now=utcnow(), within=get_settings(request).reauth_within, passkey=True
    )
    return session


def guard(action: str) -> Callable[[Request, AsyncSession], Awaitable[None]]:
    """For every state-changing route: a rate limit per client IP, then the CSRF check."""

    async def check(request: Request, db: Db) -> None:
        if request.method in SAFE_METHODS:
            return
        client = client_of(request)
        await throttle.enforce(
            get_runtime(request).throttle,
            db,
            action,
            client.ip,
            now=utcnow(),
            client=client,
        )
        await require_csrf(request)

    return check


async def require_csrf(request: Request) -> None:
    """Every state-changing request carries the token from our own page, in the form or in
    the X-CSRFToken header; a cross-site Origin is refused outright."""
    runtime = get_runtime(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != runtime.settings.origin:
        raise CsrfFailed
    token = request.headers.get("x-csrftoken")
    if token is None and is_form(request):
        value: Any = (await read_form(request)).get("csrf_token")
        token = value if isinstance(value, str) else None
    try:
        validate_csrf(
            request,
            token or "",
            secret_key=runtime.settings.secret_key,
            field_name="csrf_token",
            time_limit=None,
        )
    except ValidationError as exc:
        raise CsrfFailed from exc
    request.state.csrf_valid = True


GuardedEndpoint = Callable[[Request, AsyncSession, Runtime], Awaitable[Response]]


def guarded_endpoint(
    action: str, endpoint: GuardedEndpoint
) -> Callable[[Request], Awaitable[Response]]:
    """A state-changing endpoint as a plain Starlette route, for the passkey sign-in, the
    requests a site serves most: the same transaction (`request_transaction`), rate limit
    and CSRF check (`guard(action)`) that `Db` and `Guarded` give a FastAPI route, in that
    order, without FastAPI's dependency solving and the layers around it, which cost a
    third of such a request's CPU (tests.benchlib.micro). Its writes made with
    `Prepared.later` wait for the end of the request (`request_transaction(batch=True)`), so
    the endpoint must read nothing after them. Register it with
    `router.add_route(path, guarded_endpoint(...), methods=["POST"])`."""
    check = guard(action)

    async def run(request: Request) -> Response:
        async with request_transaction(request, batch=True) as db:
            await check(request, db)
            return await endpoint(request, db, get_runtime(request))

    run.__name__ = endpoint.__name__
    return run


# scope="function": commit before the response is sent, so a client never sees a success
# (a passkey challenge, a queued code) that is not yet in the database or that fails to commit.
Db = Annotated[AsyncSession, Depends(get_db, scope="function")]
CurrentSettings = Annotated[Settings, Depends(_settings_dependency)]
CurrentRuntime = Annotated[Runtime, Depends(_runtime_dependency)]
OptionalSession = Annotated[SignInSession | None, Depends(optional_session)]
CurrentSession = Annotated[SignInSession, Depends(require_session)]
FullSession = Annotated[SignInSession, Depends(require_full_session)]
RecentSession = Annotated[SignInSession, Depends(require_recent_session)]
RecentFullSession = Annotated[SignInSession, Depends(require_recent_full_session)]
RecentPasskeySession = Annotated[SignInSession, Depends(require_recent_passkey)]
Guarded = Depends(guard("post:ip"))
PasskeyGuarded = Depends(guard("passkey:ip"))
