"""The core journey over HTTP: email code, a passkey, then passkey sign-in; and recovery."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from keyfob.auth.staff import set_staff
from keyfob.models import Passkey, SignInSession, User
from keyfob.web.runtime import Runtime
from tests.conftest import csrf_from
from tests.mailsink import MailSink, html_of, text_of
from tests.softauthn import SoftAuthenticator

APPLE = bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd")


async def test_new_account_verifies_code_then_is_asked_for_a_passkey(
    client: httpx.AsyncClient, sign_up, runtime: Runtime
) -> None:
    response = await sign_up("ann@example.org")
    assert response.headers["location"] == "/account/passkeys?new=1"
    page = await client.get("/account/passkeys?new=1")
    assert "Add a passkey" in page.text
    assert "Your email address is confirmed." in page.text
    async with runtime.sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == "ann@example.org"))
        assert user is not None and user.email_verified_at is not None
        assert len(user.webauthn_handle) == 64
        assert b"ann" not in user.webauthn_handle


async def test_code_mail_has_text_and_html_and_the_code_alone_on_its_line(
    request_code, mail_sink: MailSink
) -> None:
    code = await request_code("bob@example.org")
    mail = mail_sink.wait_for("bob@example.org")
    assert f"\n{code}\n" in text_of(mail)
    assert code in html_of(mail)
    assert "http://localhost:8000" in text_of(mail)


async def test_registered_passkey_is_named_by_its_provider_and_signs_in(
    client: httpx.AsyncClient, sign_up, add_passkey, sign_out, passkey_sign_in, runtime: Runtime
) -> None:
    await sign_up("cat@example.org")
    authenticator = SoftAuthenticator(aaguid=APPLE, backup_eligible=True, backed_up=True)
    added = await add_passkey(authenticator)
    assert added.status_code == 200, added.text
    assert added.json()["name"] == "Apple Passwords"
    listed = await client.get("/account/passkeys")
    assert "Apple Passwords" in listed.text
    await sign_out()
    assert (await client.get("/account")).headers["location"] == "/login"

    signed_in = await passkey_sign_in(authenticator)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json() == {"redirect": "/account"}
    account = await client.get("/account")
    assert "Signed in as" in account.text and "cat@example.org" in account.text
    async with runtime.sessionmaker() as db:
        passkey = await db.scalar(select(Passkey))
        assert passkey is not None
        assert passkey.sign_count == 1 and passkey.last_used_at is not None
        assert passkey.backed_up and passkey.backup_eligible
        assert passkey.transports == ["internal"]


async def test_unknown_provider_gets_a_plain_name(sign_up, add_passkey) -> None:
    await sign_up("dan@example.org")
    added = await add_passkey(SoftAuthenticator())
    assert added.json()["name"] == "Passkey"


async def test_recovery_code_opens_a_session_that_asks_for_a_passkey(
    client: httpx.AsyncClient, sign_up, add_passkey, sign_out, request_code, runtime: Runtime
) -> None:
    await sign_up("eve@example.org")
    await add_passkey(SoftAuthenticator())
    await sign_out()
    code = await request_code("eve@example.org", "/login")
    token = await csrf_from(client, "/code")
    response = await client.post("/code", data={"code": code, "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/account"
    account = await client.get("/account")
    assert "Signed in as" in account.text
    assert "Add a passkey" in account.text
    async with runtime.sessionmaker() as db:
        session = (await db.scalars(select(SignInSession))).one()
        assert session.method == "code" and session.is_recovery


async def test_adding_a_passkey_upgrades_a_recovery_session_in_place(
    client: httpx.AsyncClient, sign_up, add_passkey, runtime: Runtime
) -> None:
    await sign_up("fay@example.org")
    await add_passkey(SoftAuthenticator())
    async with runtime.sessionmaker() as db:
        session = (await db.scalars(select(SignInSession))).one()
        assert session.is_recovery is False and session.method == "passkey"
    assert "You signed in with an emailed code" not in (await client.get("/account")).text


async def test_existing_account_gets_a_sign_in_mail_unknown_gets_a_sign_up_mail(
    sign_up, add_passkey, sign_out, request_code, mail_sink: MailSink
) -> None:
    await sign_up("gus@example.org")
    await add_passkey(SoftAuthenticator())
    await sign_out()
    await request_code("gus@example.org", "/register")
    known = text_of(mail_sink.wait_for("gus@example.org", count=2))
    await request_code("new@example.org", "/register")
    unknown = text_of(mail_sink.wait_for("new@example.org"))
    assert "get back into your account" in known
    assert "create your account" in unknown


async def test_an_account_without_a_passkey_is_still_signing_up(
    request_code, runtime: Runtime, mail_sink: MailSink
) -> None:
    """`keyfob staff add` makes the account before its owner ever signs up: their first code
    must read as a sign-up, not as a recovery code."""
    async with runtime.sessionmaker() as db, db.begin():
        await set_staff(db, email="first.staff@example.org", staff=True)
    await request_code("first.staff@example.org", "/register")
    mail = mail_sink.wait_for("first.staff@example.org")
    assert "create your account" in text_of(mail)
    assert "recovery" not in str(mail["Subject"]).lower()


async def test_code_sign_in_is_a_passkey_free_path_to_the_same_account(
    client: httpx.AsyncClient, sign_up, sign_out, request_code, runtime: Runtime
) -> None:
    await sign_up("hal@example.org")
    await sign_out()
    code = await request_code("HAL@Example.org ", "/login")
    token = await csrf_from(client, "/code")
    await client.post("/code", data={"code": code, "csrf_token": token})
    async with runtime.sessionmaker() as db:
        assert len((await db.scalars(select(User))).all()) == 1


async def test_sign_in_returns_to_the_page_that_asked_for_it(
    client: httpx.AsyncClient, sign_up, add_passkey, sign_out, passkey_sign_in
) -> None:
    authenticator = SoftAuthenticator()
    await sign_up("nat@example.org")
    await add_passkey(authenticator)
    await sign_out()
    await client.get("/login?next=/account/sessions")
    signed_in = await passkey_sign_in(authenticator)
    assert signed_in.json() == {"redirect": "/account/sessions"}
    await sign_out()
    await client.get("/login?next=https://evil.example/")
    assert (await passkey_sign_in(authenticator)).json() == {"redirect": "/account"}
