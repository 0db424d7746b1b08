"""Shared fixtures: a real SQLite database per test, a real SMTP server, the app over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob import migrate
from keyfob.app import create_app
from keyfob.db import make_engine, make_sessionmaker
from keyfob.mail import outbox
from keyfob.models import utcnow
from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.mailsink import MailSink, code_in, free_port
from tests.pg import Cluster
from tests.softauthn import SoftAuthenticator

T = TypeVar("T")
SITE = "http://localhost:8000"
SECRET = "test-secret-key-that-is-long-enough-0123456789"


def run_in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Session fixtures may be first asked for inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the database the suite runs on",
    )


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; every test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("template") / "keyfob.sqlite3"
    run_in_thread(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster of the run's own, with a migrated template database."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="keyfob-pg-")))
    cluster.start()
    cluster.psql("CREATE DATABASE keyfob_template")
    run_in_thread(migrate.upgrade(cluster.url("keyfob_template")))
    yield cluster
    cluster.stop()


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_db: Path):
    """Makes a new migrated database for this test (a file copy, or a PostgreSQL database
    cloned from the template) and returns its URL."""
    made = itertools.count()

    def make() -> str:
        n = next(made)
        if request.config.getoption("--db") == "postgresql":
            cluster: Cluster = request.getfixturevalue("postgres")
            name = f"t_{uuid.uuid4().hex[:16]}"
            cluster.psql(f"CREATE DATABASE {name} TEMPLATE keyfob_template")
            return cluster.url(name)
        db_file = tmp_path / f"keyfob-{n}.sqlite3"
        shutil.copy(migrated_db, db_file)
        return f"sqlite+aiosqlite:///{db_file}"

    return make


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(tmp_path: Path, fresh_db_url, mail_sink: MailSink) -> Settings:
    return Settings(
        _env_file=None,
        site_url=SITE,
        var_dir=tmp_path,
        database_url=fresh_db_url(),
        secret_key=SECRET,
        smtp_url=mail_sink.url,
        smtp_timeout_seconds=5,
        code_resend_seconds=0,
    )


@pytest.fixture
async def app_and_runtime(settings: Settings) -> AsyncIterator[tuple[object, Runtime]]:
    app = create_app(settings, send_mail=False)
    runtime: Runtime = app.state.runtime
    yield app, runtime
    await runtime.engine.dispose()


@pytest.fixture
def runtime(app_and_runtime: tuple[object, Runtime]) -> Runtime:
    return app_and_runtime[1]


@pytest.fixture
async def client(app_and_runtime: tuple[object, Runtime]) -> AsyncIterator[httpx.AsyncClient]:
    app = app_and_runtime[0]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as c:
        yield c


@pytest.fixture
def deliver(runtime: Runtime):
    """Runs one pass of the outbox sender, as the background loop would."""

    async def run() -> outbox.DeliveryReport:
        return await outbox.deliver_due(
            runtime.sessionmaker,
            runtime.transport,
            mail_from=runtime.settings.mail_from,
            now=utcnow(),
            max_attempts=runtime.settings.outbox_max_attempts,
        )

    return run


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
async def captured(app_and_runtime: tuple[object, Runtime]):
    """Another browser holding a copy of `cookies`, as whoever captured them would."""
    clients: list[httpx.AsyncClient] = []

    async def make(cookies: httpx.Cookies) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app_and_runtime[0])
        browser = httpx.AsyncClient(transport=transport, base_url=SITE, cookies=cookies)
        clients.append(browser)
        return browser

    yield make
    for browser in clients:
        await browser.aclose()


async def csrf_from(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = CSRF_META.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


@pytest.fixture
def request_code(client: httpx.AsyncClient, deliver, mail_sink: MailSink):
    """Asks for a code at `path` and returns it, read from the mail the SMTP server received."""

    async def run(email: str, path: str = "/register") -> str:
        token = await csrf_from(client, path)
        address = email.strip().lower()
        before = len(mail_sink.to(address))
        response = await client.post(path, data={"email": email, "csrf_token": token})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/code"
        await deliver()
        return code_in(mail_sink.wait_for(address, count=before + 1))

    return run


@pytest.fixture
def sign_up(client: httpx.AsyncClient, request_code):
    """The first half of the journey: a new account, signed in by its emailed code."""

    async def run(email: str) -> httpx.Response:
        code = await request_code(email)
        token = await csrf_from(client, "/code")
        response = await client.post("/code", data={"code": code, "csrf_token": token})
        assert response.status_code == 303, response.text
        return response

    return run


@pytest.fixture
def add_passkey(client: httpx.AsyncClient):
    """Registers a passkey for the signed-in browser, as the page's script would."""

    async def run(
        authenticator: SoftAuthenticator, origin: str = SITE, **overrides: object
    ) -> httpx.Response:
        token = await csrf_from(client, "/account/passkeys")
        options = await client.post(
            "/account/passkeys/options", headers={"X-CSRFToken": token}, json={}
        )
        assert options.status_code == 200, options.text
        credential = authenticator.create(options.json(), origin=origin, **overrides)
        return await client.post(
            "/account/passkeys/verify", headers={"X-CSRFToken": token}, json=credential
        )

    return run


@pytest.fixture
def passkey_sign_in(client: httpx.AsyncClient):
    """Signs in with a passkey from /login; `tamper` may change the response before posting."""

    async def run(
        authenticator: SoftAuthenticator,
        tamper: Callable[[dict[str, Any]], object] | None = None,
        origin: str = SITE,
        **overrides: object,
    ) -> httpx.Response:
        token = await csrf_from(client, "/login")
        options = await client.post(
            "/login/passkey/options", headers={"X-CSRFToken": token}, json={}
        )
        assert options.status_code == 200, options.text
        assertion = authenticator.get(options.json(), origin=origin, **overrides)
        if tamper is not None:
            tamper(assertion)
        return await client.post(
            "/login/passkey/verify", headers={"X-CSRFToken": token}, json=assertion
        )

    return run


@pytest.fixture
async def enrolled(sign_up, add_passkey, sign_out) -> SoftAuthenticator:
    """An account with one passkey, signed out."""
    authenticator = SoftAuthenticator()
    await sign_up("pat@example.org")
    assert (await add_passkey(authenticator)).status_code == 200
    await sign_out()
    return authenticator


@pytest.fixture
def sign_out(client: httpx.AsyncClient):
    async def run() -> None:
        token = await csrf_from(client, "/account")
        response = await client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 303

    return run


@pytest.fixture
async def db(fresh_db_url) -> AsyncIterator[AsyncSession]:
    """A session on a real, migrated database of this test's own."""
    engine = make_engine(fresh_db_url())
    async with make_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server of the test run's own, on a free loopback port."""
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        server.kill()
        raise RuntimeError("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
async def second_client(
    app_and_runtime: tuple[object, Runtime],
) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser on the same site."""
    transport = httpx.ASGITransport(app=app_and_runtime[0])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as c:
        yield c
