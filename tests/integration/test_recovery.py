"""Recovery with a second factor: an authenticator app or a recovery code after the email code."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pyotp
import pytest
from sqlalchemy import select, update

from keyfob.models import AuthenticatorApp, SignInSession, User, utcnow
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from
from tests.mailsink import MailSink, text_of
from tests.softauthn import SoftAuthenticator


async def post_form(client: httpx.AsyncClient, path: str, page: str, **data: str) -> httpx.Response:
    token = await csrf_from(client, page)
    return await client.post(
        path, data={"csrf_token": token, **data}, headers={"Referer": f"{SITE}{page}"}
    )


@pytest.fixture
async def member(sign_up, add_passkey, sign_out, passkey_sign_in) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    await sign_up("rae@example.org")
    await add_passkey(authenticator)
    await sign_out()
    assert (await passkey_sign_in(authenticator)).status_code == 200
    return authenticator


async def enrol_app(client: httpx.AsyncClient, runtime: Runtime) -> pyotp.TOTP:
    page = await client.get("/account/recovery/app")
    assert page.status_code == 200, page.headers
    assert "<svg" in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == [], "the CSP allows no inline script"
    secret = re.search(r"data-totp-secret>([A-Z2-7 ]+)<", page.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    done = await post_form(
        client, "/account/recovery/app", "/account/recovery/app", code=totp.now()
    )
    assert done.headers["location"] == "/account/recovery?app=on"
    return totp


async def make_codes(client: httpx.AsyncClient) -> list[str]:
    page = await post_form(client, "/account/recovery/codes", "/account/recovery")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{2})</code>", page.text)
    assert len(codes) == 10
    assert 'download="recovery-codes.txt"' in page.text
    return codes


async def recover_by_email(client: httpx.AsyncClient, request_code) -> httpx.Response:
    code = await request_code("rae@example.org", "/login")
    return await post_form(client, "/code", "/code", code=code)


async def test_enrolling_needs_a_recent_passkey_not_just_a_code(
    client: httpx.AsyncClient, member, runtime: Runtime, deliver, mail_sink: MailSink
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(SignInSession).values(authenticated_at=utcnow() - timedelta(minutes=6))
        )
    refused = await client.get("/account/recovery/app")
    assert (
        refused.headers["location"] == "/account/confirm?next=%2Faccount%2Frecovery%2Fapp&passkey=1"
    )
    page = await client.get(refused.headers["location"])
    assert "Email me a code" not in page.text
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(SignInSession).values(authenticated_at=utcnow(), authenticated_by="code")
        )
    assert (await client.get("/account/recovery/app")).status_code == 303


async def test_email_code_alone_no_longer_recovers_an_enrolled_account(
    client: httpx.AsyncClient,
    member,
    runtime: Runtime,
    sign_out,
    request_code,
    deliver,
    mail_sink: MailSink,
) -> None:
    totp = await enrol_app(client, runtime)
    await deliver()
    assert any(
        "authenticator app was set up" in text_of(m) for m in mail_sink.to("rae@example.org")
    )
    await sign_out()
    step = await recover_by_email(client, request_code)
    assert step.headers["location"] == "/login/second-factor"
    assert (await client.get("/account")).headers["location"] == "/login", "not signed in yet"
    page = await client.get("/login/second-factor")
    assert "Authenticator code" in page.text
    wrong = await post_form(client, "/login/second-factor", "/login/second-factor", code="000000")
    assert wrong.status_code == 400
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(update(AuthenticatorApp).values(last_step=0))
    later = totp.at(utcnow() + timedelta(seconds=30))
    done = await post_form(client, "/login/second-factor", "/login/second-factor", code=later)
    assert done.status_code == 303 and done.headers["location"] == "/account"
    account = await client.get("/account")
    assert "Signed in as" in account.text and "You signed in with an emailed code" in account.text
    await sign_out()
    replay = await recover_by_email(client, request_code)
    assert replay.headers["location"] == "/login/second-factor"
    again = await post_form(client, "/login/second-factor", "/login/second-factor", code=later)
    assert again.status_code == 400, "an app code works once"


async def test_a_recovery_code_works_once(
    client: httpx.AsyncClient, member, sign_out, request_code, runtime: Runtime
) -> None:
    codes = await make_codes(client)
    await sign_out()
    await recover_by_email(client, request_code)
    done = await post_form(
        client,
        "/login/second-factor",
        "/login/second-factor",
        code=codes[0].upper().replace("-", " "),
    )
    assert done.status_code == 303
    await sign_out()
    await recover_by_email(client, request_code)
    again = await post_form(client, "/login/second-factor", "/login/second-factor", code=codes[0])
    assert again.status_code == 400
    assert "That code is not valid" in again.text


async def test_wrong_second_factors_count_toward_the_lockout(
    client: httpx.AsyncClient, member, sign_out, request_code, runtime: Runtime
) -> None:
    await make_codes(client)
    await sign_out()
    for _ in range(2):
        assert (await recover_by_email(client, request_code)).status_code == 303
        for _ in range(5):
            wrong = await post_form(
                client, "/login/second-factor", "/login/second-factor", code="aaaa-bbbb-cc"
            )
            assert wrong.status_code == 400
    locked = await recover_by_email(client, request_code)
    assert locked.status_code == 400, "ten wrong second factors lock code sign-in"
    assert "That code is not valid" in locked.text


async def test_the_account_page_warns_when_two_codes_or_fewer_are_left(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    codes = await make_codes(client)
    assert "recovery codes are left" not in (await client.get("/account")).text
    from keyfob.auth import recovery as flows

    async with runtime.sessionmaker() as db, db.begin():
        user = (await db.scalars(select(User).where(User.email == "rae@example.org"))).one()
        for code in codes[:8]:
            await flows.verify_second_factor(
                db, user=user, code=code, keys=runtime.recovery_keys, now=utcnow()
            )
    page = await client.get("/account")
    assert "Only 2 recovery codes are left" in page.text


async def test_setting_lets_the_email_code_alone_recover(
    client: httpx.AsyncClient, member, runtime: Runtime, sign_out, request_code
) -> None:
    await make_codes(client)
    object.__setattr__(runtime.settings, "recovery_requires_second_factor", False)
    await sign_out()
    done = await recover_by_email(client, request_code)
    assert done.headers["location"] == "/account"


async def test_every_page_that_shows_a_secret_is_never_stored(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    """The app's key and QR code, recovery codes, a "this wasn't me" token: no cache may
    keep a copy. Every page of the site is no-store; static files are not."""
    async with runtime.sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
    link = f"/account/not-me?token={runtime.notifier.not_me_token(user)}"
    for path in ("/account/recovery/app", "/account/recovery", "/account", link):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store", path
    static = await client.get("/static/css/site.css")
    assert "no-store" not in static.headers.get("cache-control", "")
