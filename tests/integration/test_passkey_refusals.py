"""Every bad passkey response is refused with a 4xx and a message, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import passkeys
from keyfob.db import make_engine, make_sessionmaker
from keyfob.models import (
    AuditEvent,
    Passkey,
    SignInSession,
    User,
    WebAuthnChallenge,
    utcnow,
)
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode


def refused(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["message"]
    return body


async def assert_signed_out(client: httpx.AsyncClient) -> None:
    assert (await client.get("/account")).headers.get("location") == "/login"


async def test_wrong_origin_is_refused(client, enrolled, passkey_sign_in) -> None:
    refused(await passkey_sign_in(enrolled, origin="https://evil.example"))
    await assert_signed_out(client)


async def test_wrong_rp_id_hash_is_refused(client, enrolled, passkey_sign_in) -> None:
    refused(await passkey_sign_in(enrolled, rp_id="evil.example"))
    await assert_signed_out(client)


async def test_missing_user_verification_is_refused(client, enrolled, passkey_sign_in) -> None:
    refused(await passkey_sign_in(enrolled, user_verified=False))
    await assert_signed_out(client)


async def test_tampered_signature_is_refused(client, enrolled, passkey_sign_in) -> None:
    def flip(assertion: dict[str, Any]) -> None:
        signature = bytearray(b64url_decode(assertion["response"]["signature"]))
        signature[-1] ^= 0x01
        assertion["response"]["signature"] = b64url(bytes(signature))

    refused(await passkey_sign_in(enrolled, tamper=flip))
    await assert_signed_out(client)


async def test_wrong_challenge_is_refused(client, enrolled, passkey_sign_in) -> None:
    refused(await passkey_sign_in(enrolled, challenge=b64url(b"x" * 32)))
    await assert_signed_out(client)


async def test_unknown_credential_is_refused(client, enrolled, passkey_sign_in) -> None:
    stranger = SoftAuthenticator()
    stranger.create(
        {
            "challenge": b64url(b"c" * 32),
            "rp": {"id": "localhost", "name": "x"},
            "user": {"id": b64url(b"u" * 16), "name": "x", "displayName": "x"},
        },
        origin=SITE,
    )
    body = refused(await passkey_sign_in(stranger))
    assert body["error"] == "unknown_credential"


async def test_credential_presented_with_another_users_handle_is_refused(
    client, enrolled, passkey_sign_in, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        other = User(email="other@example.org")
        db.add(other)
        await db.flush()
        handle = other.webauthn_handle

    def swap(assertion: dict[str, Any]) -> None:
        assertion["response"]["userHandle"] = b64url(handle)

    refused(await passkey_sign_in(enrolled, tamper=swap))
    await assert_signed_out(client)


async def test_sign_count_regression_is_refused_and_audited(
    client, enrolled, passkey_sign_in, sign_out, runtime: Runtime
) -> None:
    assert (await passkey_sign_in(enrolled)).status_code == 200
    await sign_out()
    body = refused(await passkey_sign_in(enrolled, sign_count=1))
    assert body["error"] == "sign_count"
    await assert_signed_out(client)
    async with runtime.sessionmaker() as db:
        kinds = list(await db.scalars(select(AuditEvent.kind)))
    assert "sign_count_anomaly" in kinds


async def test_replayed_assertion_is_refused(client, enrolled) -> None:
    token = await csrf_from(client, "/login")
    options = (await client.post("/login/passkey/options", headers={"X-CSRFToken": token})).json()
    assertion = enrolled.get(options, origin=SITE)
    first = await client.post(
        "/login/passkey/verify", headers={"X-CSRFToken": token}, json=assertion
    )
    assert first.status_code == 200
    token = await csrf_from(client, "/account")
    await client.post("/logout", data={"csrf_token": token})
    token = await csrf_from(client, "/login")
    again = await client.post(
        "/login/passkey/verify", headers={"X-CSRFToken": token}, json=assertion
    )
    refused(again)
    await assert_signed_out(client)


async def test_challenge_is_single_use_even_when_an_old_cookie_is_replayed(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator
) -> None:
    token = await csrf_from(client, "/login")
    options = (await client.post("/login/passkey/options", headers={"X-CSRFToken": token})).json()
    saved_cookies = dict(client.cookies)
    first = enrolled.get(options, origin=SITE)
    ok = await client.post("/login/passkey/verify", headers={"X-CSRFToken": token}, json=first)
    assert ok.status_code == 200
    client.cookies.clear()
    client.cookies.update(saved_cookies)
    second = enrolled.get(options, origin=SITE)
    body = refused(
        await client.post("/login/passkey/verify", headers={"X-CSRFToken": token}, json=second)
    )
    assert body["error"] == "challenge_expired"


async def test_a_challenge_spent_by_another_request_during_the_check_is_refused(
    client: httpx.AsyncClient,
    enrolled: SoftAuthenticator,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two requests answering one challenge at once: only the one whose delete still finds it
    signs in. On SQLite both read it, and here the other request's delete lands between this
    one's read and its own, from a connection of its own. On PostgreSQL the read is the
    delete, so the other request can only spend it first."""
    spends = runtime.settings.database_url.startswith("postgresql")
    name = "_SPEND_ASSERTION" if spends else "_ASSERTION"
    real = getattr(passkeys, name)

    async def spend_elsewhere(challenge_id: str) -> None:
        other = make_engine(runtime.settings.database_url)
        async with make_sessionmaker(other)() as elsewhere, elsewhere.begin():
            await elsewhere.execute(
                delete(WebAuthnChallenge).where(WebAuthnChallenge.id == challenge_id)
            )
        await other.dispose()

    class SpentMeanwhile:
        async def rows(self, db: AsyncSession, params: dict[str, Any]) -> list[dict[str, Any]]:
            if spends:
                await spend_elsewhere(params["challenge_id"])
                return await real.rows(db, params)
            found = await real.rows(db, params)
            await spend_elsewhere(params["challenge_id"])
            return found

    token = await csrf_from(client, "/login")
    options = (await client.post("/login/passkey/options", headers={"X-CSRFToken": token})).json()
    async with runtime.sessionmaker() as db:
        counts_before = list(await db.scalars(select(Passkey.sign_count)))
    monkeypatch.setattr(passkeys, name, SpentMeanwhile())
    answer = enrolled.get(options, origin=SITE)
    body = refused(
        await client.post("/login/passkey/verify", headers={"X-CSRFToken": token}, json=answer)
    )
    assert body["error"] == "challenge_expired"
    await assert_signed_out(client)
    async with runtime.sessionmaker() as db:
        assert list(await db.scalars(select(Passkey.sign_count))) == counts_before
        assert await db.scalar(select(func.count()).select_from(SignInSession)) == 0


async def test_a_refused_assertion_spends_its_challenge(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator, runtime: Runtime
) -> None:
    """The challenge is consumed after the check, so a failed check must consume it too: a
    right answer to the same challenge afterwards is refused."""
    token = await csrf_from(client, "/login")
    options = (await client.post("/login/passkey/options", headers={"X-CSRFToken": token})).json()
    saved_cookies = dict(client.cookies)
    wrong = enrolled.get(options, origin="https://evil.example")
    refused(await client.post("/login/passkey/verify", headers={"X-CSRFToken": token}, json=wrong))
    async with runtime.sessionmaker() as db:
        assert (await db.scalars(select(WebAuthnChallenge))).all() == []
    client.cookies.clear()
    client.cookies.update(saved_cookies)
    right = enrolled.get(options, origin=SITE)
    body = refused(
        await client.post("/login/passkey/verify", headers={"X-CSRFToken": token}, json=right)
    )
    assert body["error"] == "challenge_expired"
    await assert_signed_out(client)


async def test_expired_challenge_is_refused(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator, runtime: Runtime
) -> None:
    token = await csrf_from(client, "/login")
    options = (await client.post("/login/passkey/options", headers={"X-CSRFToken": token})).json()
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(WebAuthnChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assertion = enrolled.get(options, origin=SITE)
    body = refused(
        await client.post("/login/passkey/verify", headers={"X-CSRFToken": token}, json=assertion)
    )
    assert body["error"] == "challenge_expired"
    await assert_signed_out(client)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"id": "x"}',
        b'{"id": "!!", "rawId": "!!!", "type": "public-key", "response": {}}',
        b'{"id": "AA", "rawId": "AA", "type": "public-key", "response": "x"}',
    ],
)
async def test_malformed_sign_in_bodies_get_a_400(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator, body: bytes
) -> None:
    token = await csrf_from(client, "/login")
    await client.post("/login/passkey/options", headers={"X-CSRFToken": token})
    response = await client.post(
        "/login/passkey/verify",
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
        content=body,
    )
    refused(response)


async def test_malformed_base64_and_cbor_in_a_real_assertion_get_a_400(
    client, enrolled, passkey_sign_in
) -> None:
    def bad_base64(assertion: dict[str, Any]) -> None:
        assertion["response"]["authenticatorData"] = "***not base64***"

    def bad_cbor(assertion: dict[str, Any]) -> None:
        assertion["response"]["authenticatorData"] = b64url(b"\xff" * 10)

    refused(await passkey_sign_in(enrolled, tamper=bad_base64))
    refused(await passkey_sign_in(enrolled, tamper=bad_cbor))


async def test_registration_with_garbage_attestation_cbor_gets_a_400(
    client: httpx.AsyncClient, sign_up
) -> None:
    await sign_up("cbor@example.org")
    token = await csrf_from(client, "/account/passkeys")
    options = (
        await client.post("/account/passkeys/options", headers={"X-CSRFToken": token})
    ).json()
    credential = SoftAuthenticator().create(options, origin=SITE)
    credential["response"]["attestationObject"] = b64url(b"\xa1\x63fmt\xff")
    refused(
        await client.post(
            "/account/passkeys/verify", headers={"X-CSRFToken": token}, json=credential
        )
    )


async def test_registration_from_another_origin_is_refused(sign_up, add_passkey) -> None:
    await sign_up("org@example.org")
    refused(await add_passkey(SoftAuthenticator(), origin="https://evil.example"))


async def test_registration_without_user_verification_is_refused(sign_up, add_passkey) -> None:
    await sign_up("uv@example.org")
    refused(await add_passkey(SoftAuthenticator(), user_verified=False))


async def test_credential_registered_to_another_account_is_refused(
    client: httpx.AsyncClient, sign_up, add_passkey, sign_out
) -> None:
    await sign_up("first@example.org")
    await add_passkey(SoftAuthenticator(), credential_id=b"same-id-for-both")
    await sign_out()
    await sign_up("second@example.org")
    body = refused(
        await add_passkey(SoftAuthenticator(), credential_id=b"same-id-for-both"), status=409
    )
    assert body["error"] == "credential_in_use"


async def test_overlong_credential_id_is_refused(sign_up, add_passkey, runtime: Runtime) -> None:
    await sign_up("long@example.org")
    refused(await add_passkey(SoftAuthenticator(), credential_id=b"x" * 1024))
    async with runtime.sessionmaker() as db:
        assert (await db.scalars(select(Passkey))).first() is None


async def test_registration_options_exclude_existing_passkeys(
    client: httpx.AsyncClient, sign_up, add_passkey
) -> None:
    authenticator = SoftAuthenticator()
    await sign_up("excl@example.org")
    await add_passkey(authenticator)
    token = await csrf_from(client, "/account/passkeys")
    options = (
        await client.post("/account/passkeys/options", headers={"X-CSRFToken": token})
    ).json()
    assert [c["id"] for c in options["excludeCredentials"]] == [
        b64url(authenticator.credentials[0].id)
    ]
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"


async def test_adding_a_passkey_needs_a_signed_in_session(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/account/passkeys/options", headers={"X-CSRFToken": token, "Accept": "application/json"}
    )
    refused(response, status=401)
