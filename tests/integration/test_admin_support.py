"""Fixtures and helpers shared by the back-office tests (test_admin_*.py); no tests here.

`staff` is a staff member signed in with a passkey in `client`; `member` an ordinary account
with a synced iCloud Keychain passkey, signed out. Other browsers are `second_client`.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from keyfob.auth.staff import set_staff
from keyfob.models import AuditEvent, Passkey, User
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from
from tests.mailsink import MailSink, code_in
from tests.softauthn import SoftAuthenticator

STAFF = "sam@example.org"
MEMBER = "mia@example.org"
APPLE = bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd")
ADMIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
VIEWS = (
    "user",
    "locked-account",
    "passkey",
    "sign-in-session",
    "audit-event",
    "outbox-mail",
)


@pytest.fixture
async def member(client: httpx.AsyncClient, sign_up, add_passkey, sign_out) -> SoftAuthenticator:
    authenticator = SoftAuthenticator(aaguid=APPLE, backup_eligible=True, backed_up=True)
    await sign_up(MEMBER)
    assert (await add_passkey(authenticator)).status_code == 200
    await sign_out()
    return authenticator


@pytest.fixture
async def staff(
    client: httpx.AsyncClient,
    member: SoftAuthenticator,
    sign_up,
    add_passkey,
    sign_out,
    passkey_sign_in,
    runtime: Runtime,
) -> SoftAuthenticator:
    """Made staff as `keyfob staff add` does, then signed in with a passkey."""
    authenticator = SoftAuthenticator()
    await sign_up(STAFF)
    assert (await add_passkey(authenticator)).status_code == 200
    async with runtime.sessionmaker() as db, db.begin():
        await set_staff(db, email=STAFF, staff=True)
    await sign_out()
    assert (await passkey_sign_in(authenticator)).status_code == 200
    return authenticator


async def admin_token(client: httpx.AsyncClient, page: str = "/admin/") -> str:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    found = ADMIN_TOKEN.search(response.text)
    assert found, f"no back-office CSRF token on {page}"
    return found.group(1)


async def admin_post(
    client: httpx.AsyncClient, path: str, *, page: str = "/admin/", **data: str
) -> httpx.Response:
    """A form on back-office page `page`, submitted as the browser would."""
    token = await admin_token(client, page)
    return await client.post(
        path,
        data={"csrf_token": token, **data},
        headers={"Origin": SITE, "Referer": f"{SITE}{page}", "Sec-Fetch-Site": "same-origin"},
    )


async def sign_in_elsewhere(
    browser: httpx.AsyncClient, authenticator: SoftAuthenticator
) -> httpx.Response:
    """A passkey sign-in in another browser (the `passkey_sign_in` fixture uses `client`)."""
    token = await csrf_from(browser, "/login")
    options = await browser.post("/login/passkey/options", headers={"X-CSRFToken": token}, json={})
    assertion = authenticator.get(options.json(), origin=SITE)
    return await browser.post(
        "/login/passkey/verify", headers={"X-CSRFToken": token}, json=assertion
    )


async def ask_for_code(browser: httpx.AsyncClient, email: str) -> None:
    """Asks /login for a code and leaves it in the outbox (nothing delivers it)."""
    token = await csrf_from(browser, "/login")
    response = await browser.post("/login", data={"email": email, "csrf_token": token})
    assert response.status_code == 303, response.text


async def code_by_mail(browser: httpx.AsyncClient, deliver, sink: MailSink, email: str) -> str:
    before = len(sink.to(email))
    await ask_for_code(browser, email)
    await deliver()
    return code_in(sink.wait_for(email, count=before + 1))


async def enter_code(browser: httpx.AsyncClient, code: str) -> httpx.Response:
    token = await csrf_from(browser, "/code")
    return await browser.post("/code", data={"code": code, "csrf_token": token})


async def user_named(runtime: Runtime, email: str) -> User:
    async with runtime.sessionmaker() as db:
        return (await db.scalars(select(User).where(User.email == email))).one()


async def passkeys_of(runtime: Runtime, email: str) -> list[Passkey]:
    user = await user_named(runtime, email)
    async with runtime.sessionmaker() as db:
        return list(await db.scalars(select(Passkey).where(Passkey.user_id == user.id)))


async def audited(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    """The events of `kind`, oldest first, as (email, detail) dicts."""
    async with runtime.sessionmaker() as db:
        rows = await db.scalars(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
        )
        return [{"email": row.email, **row.detail} for row in rows]
