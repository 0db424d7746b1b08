"""A session that gains privilege gets a new token: a cookie seen while it was weaker (a
recovery session, a sign-in not yet re-confirmed) opens nothing afterwards."""

from __future__ import annotations

import httpx

from tests.conftest import SITE, csrf_from
from tests.softauthn import SoftAuthenticator


async def test_a_recovery_cookie_dies_when_the_session_adds_a_passkey(
    client: httpx.AsyncClient, sign_up, add_passkey, captured
) -> None:
    await sign_up("rot@example.org")
    old_cookies = httpx.Cookies(client.cookies)
    old_csrf = await csrf_from(client, "/account/passkeys")

    assert (await add_passkey(SoftAuthenticator())).status_code == 200

    assert (await client.get("/account/sessions")).status_code == 200
    thief = await captured(old_cookies)
    stolen = await thief.get("/account/sessions")
    assert stolen.status_code == 303 and stolen.headers["location"].startswith("/login")
    forged = await client.post("/account/sessions/revoke-others", data={"csrf_token": old_csrf})
    assert forged.status_code == 403


async def test_a_cookie_from_before_re_authentication_dies_with_it(
    client: httpx.AsyncClient, sign_up, add_passkey, captured
) -> None:
    authenticator = SoftAuthenticator()
    await sign_up("reauth.rot@example.org")
    await add_passkey(authenticator)
    before = httpx.Cookies(client.cookies)

    token = await csrf_from(client, "/account/confirm")
    headers = {"X-CSRFToken": token}
    options = await client.post("/account/confirm/passkey/options", headers=headers, json={})
    verified = await client.post(
        "/account/confirm/passkey/verify",
        headers=headers,
        json=authenticator.get(options.json(), origin=SITE),
    )
    assert verified.status_code == 200, verified.text

    assert "Signed in as" in (await client.get("/account")).text
    thief = await captured(before)
    assert (await thief.get("/account")).status_code == 303
