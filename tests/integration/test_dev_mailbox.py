"""The development mailbox shows codes only to a browser on this machine that names this
machine: the README's bootstrap (port 80 on 0.0.0.0 before SMTP is set up) must not hand
codes to whoever reaches the site by its public name or from elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from

Browser = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"smtp_url": "", "allowed_hosts": "keyfob.example.org"})


@pytest.fixture
def browser(app_and_runtime: tuple[object, Runtime]) -> Browser:
    @asynccontextmanager
    async def make(peer: str, base_url: str = SITE) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app_and_runtime[0], client=(peer, 50000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client

    return make


@pytest.fixture
async def code_mailed(browser: Browser, deliver) -> None:
    async with browser("127.0.0.1") as client:
        token = await csrf_from(client, "/register")
        sent = await client.post(
            "/register", data={"email": "dev@example.org", "csrf_token": token}
        )
        assert sent.status_code == 303
    await deliver()


async def test_the_mailbox_shows_codes_on_this_machine(browser: Browser, code_mailed) -> None:
    async with browser("127.0.0.1") as client:
        page = await client.get("/dev/mailbox")
    assert page.status_code == 200
    assert "dev@example.org" in page.text


@pytest.mark.parametrize(
    ("peer", "base_url"),
    [
        ("127.0.0.1", "http://keyfob.example.org"),
        ("203.0.113.5", SITE),
        ("203.0.113.5", "http://keyfob.example.org"),
    ],
    ids=["public-name-from-loopback", "remote-client", "remote-client-public-name"],
)
async def test_anyone_else_gets_a_404(
    browser: Browser, code_mailed, peer: str, base_url: str
) -> None:
    async with browser(peer, base_url) as client:
        page = await client.get("/dev/mailbox")
    assert page.status_code == 404
    assert "dev@example.org" not in page.text
