"""A PostgreSQL restart costs no request once the server is back: connections it closed are
never handed out again."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keyfob import migrate
from keyfob.app import create_app
from keyfob.settings import Settings
from tests.conftest import SECRET, SITE, csrf_from
from tests.mailsink import MailSink
from tests.pg import Cluster


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A cluster of this test's own: restarting the suite's shared one would be felt by
    every test after this one if it went wrong."""
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("a PostgreSQL restart: runs with --db=postgresql")
    own = Cluster(Path(tempfile.mkdtemp(prefix="keyfob-pg-restart-")))
    own.start()
    yield own
    own.stop()


@pytest.fixture
async def site(
    cluster: Cluster, tmp_path: Path, mail_sink: MailSink
) -> AsyncIterator[httpx.AsyncClient]:
    await migrate.upgrade(cluster.url())
    settings = Settings(
        _env_file=None,
        site_url=SITE,
        var_dir=tmp_path,
        database_url=cluster.url(),
        secret_key=SECRET,
        smtp_url=mail_sink.url,
        code_resend_seconds=0,
    )
    app = create_app(settings, send_mail=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
        yield client
    await app.state.runtime.engine.dispose()


async def test_every_request_after_a_restart_succeeds(
    site: httpx.AsyncClient, cluster: Cluster
) -> None:
    pooled = await asyncio.gather(*(site.get("/healthz") for _ in range(6)))
    assert {r.status_code for r in pooled} == {200}

    await asyncio.to_thread(cluster.restart)

    after = [await site.get("/healthz") for _ in range(8)]
    assert [r.status_code for r in after] == [200] * 8
    token = await csrf_from(site, "/register")
    sent = await site.post("/register", data={"email": "ann@example.org", "csrf_token": token})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/code"
