"""Guards a security review found unguarded: each test fails if its one line of defence goes.

Each test names the regression it catches; tests/mutate.py applies those regressions to a copy
of the tree and checks that these tests (and the rest of the suite) notice.
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b64decode, b64encode
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from itsdangerous import TimestampSigner
from limits import parse_many
from sqlalchemy import func, select, update
from starlette.routing import Route

from keyfob.auth.recovery import status
from keyfob.auth.throttle import DEFAULT_RATES
from keyfob.errors import CsrfFailed
from keyfob.models import (
    AuditEvent,
    AuthenticatorApp,
    EmailCode,
    OutboxMail,
    Passkey,
    RecoveryCode,
    SignInSession,
    User,
    WebAuthnChallenge,
    utcnow,
)
from keyfob.web.pages import routers
from keyfob.web.runtime import Runtime
from tests.conftest import SECRET, SITE, csrf_from
from tests.integration.test_admin_support import sign_in_elsewhere
from tests.mailsink import MailSink, code_in
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode

TOKENS = re.compile(r'"[\w-]{20,}\.[\w-]+\.[\w-]+"')
CSRF_MESSAGE = str(CsrfFailed.message)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def same_page(html: str, typed: str) -> str:
    """The page without what legitimately differs: CSRF tokens and the code the person typed."""
    return TOKENS.sub('"TOKEN"', html).replace(f'value="{typed}"', 'value="TYPED"')


async def post_form(client: httpx.AsyncClient, path: str, page: str, **data: str) -> httpx.Response:
    token = await csrf_from(client, page)
    return await client.post(path, data={"csrf_token": token, **data})


async def emailed_code(
    client: httpx.AsyncClient, deliver: Any, sink: MailSink, email: str, path: str = "/login"
) -> str:
    """Asks for a code from `client` (any browser) and reads it from the mail that arrived."""
    before = len(sink.to(email))
    response = await post_form(client, path, path, email=email)
    assert response.status_code == 303, response.text
    await deliver()
    return code_in(sink.wait_for(email, count=before + 1))


async def signed_in(client: httpx.AsyncClient) -> bool:
    return "Signed in as" in (await client.get("/account")).text


async def member(email: str, sign_up: Any, add_passkey: Any, sign_out: Any) -> SoftAuthenticator:
    """An account with one passkey, signed out."""
    authenticator = SoftAuthenticator()
    await sign_up(email)
    assert (await add_passkey(authenticator)).status_code == 200
    await sign_out()
    return authenticator


async def one(runtime: Runtime, statement: Any) -> Any:
    async with runtime.sessionmaker() as db:
        return (await db.execute(statement)).scalar_one()


# 1. sessions.find_session: the absolute lifetime, not only the idle time.


async def test_a_session_past_its_lifetime_is_refused_however_recently_used(
    client: httpx.AsyncClient, sign_up, runtime: Runtime
) -> None:
    await sign_up("aged@example.org")
    lifetime = runtime.settings.session_lifetime

    async def age(created: timedelta) -> None:
        now = utcnow()
        async with runtime.sessionmaker() as db, db.begin():
            await db.execute(
                update(SignInSession).values(
                    created_at=now - created, last_seen_at=now, authenticated_at=now
                )
            )

    await age(lifetime - timedelta(hours=1))
    assert await signed_in(client), "inside its lifetime the session still works"
    await age(lifetime + timedelta(minutes=1))
    response = await client.get("/account")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert await one(runtime, select(func.count()).select_from(SignInSession)) == 0


# 2. signin.start_session: nothing from before sign-in survives it, the CSRF token included.


@pytest.mark.parametrize("method", ["passkey", "code"])
async def test_a_csrf_token_from_before_sign_in_stops_working_at_sign_in(
    client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    sign_out,
    request_code,
    passkey_sign_in,
    method: str,
) -> None:
    authenticator = await member("rotate@example.org", sign_up, add_passkey, sign_out)
    if method == "passkey":
        before = await csrf_from(client, "/login")
        assert (await passkey_sign_in(authenticator)).status_code == 200
    else:
        code = await request_code("rotate@example.org", "/login")
        before = await csrf_from(client, "/code")
        done = await client.post("/code", data={"code": code, "csrf_token": before})
        assert done.status_code == 303
    assert await signed_in(client)
    stale = await client.post("/logout", data={"csrf_token": before})
    assert stale.status_code == 403 and CSRF_MESSAGE in stale.text
    assert await signed_in(client), "a token planted before sign-in signed the person out"
    fresh = await client.post("/logout", data={"csrf_token": await csrf_from(client, "/account")})
    assert fresh.status_code == 303 and not await signed_in(client)


# 3. Every state-changing route checks the CSRF token even for the strongest session.


def state_changing_routes(runtime: Runtime) -> list[str]:
    return sorted(
        route.path
        for router in routers(runtime.settings)
        for route in router.routes
        if isinstance(route, Route) and route.methods & {"POST", "PUT", "PATCH", "DELETE"}
    )


async def snapshot(runtime: Runtime) -> dict[str, object]:
    """Everything a forged request could change, but the idle clock of a session."""
    async with runtime.sessionmaker() as db:
        counts = {
            model.__name__: await db.scalar(select(func.count()).select_from(model))
            for model in (
                AuthenticatorApp,
                EmailCode,
                OutboxMail,
                Passkey,
                RecoveryCode,
                WebAuthnChallenge,
            )
        }
        rows = {
            "sessions": (
                await db.execute(
                    select(
                        SignInSession.id,
                        SignInSession.token_hash,
                        SignInSession.is_recovery,
                        SignInSession.authenticated_at,
                    ).order_by(SignInSession.id)
                )
            ).all(),
            "passkeys": (await db.execute(select(Passkey.id, Passkey.name))).all(),
            "users": (
                await db.execute(select(User.id, User.email, User.locale, User.is_active))
            ).all(),
        }
    return {**counts, **rows}


async def test_every_state_changing_route_wants_the_csrf_token_from_a_fresh_passkey_session(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    sign_out,
    passkey_sign_in,
    runtime: Runtime,
) -> None:
    authenticator = await member("full@example.org", sign_up, add_passkey, sign_out)
    assert (await sign_in_elsewhere(second_client, authenticator)).status_code == 200
    assert (await passkey_sign_in(authenticator)).status_code == 200
    async with runtime.sessionmaker() as db:
        mine, other = await db.scalars(select(SignInSession).order_by(SignInSession.id.desc()))
        passkey_id = (await db.scalars(select(Passkey.id))).one()
    assert not mine.is_recovery and mine.authenticated_by == "passkey", "a full session"
    assert utcnow() - mine.authenticated_at < runtime.settings.reauth_within, "a recent one"
    before = await snapshot(runtime)
    form = {
        "email": "changed@example.org",
        "code": "123456",
        "name": "Renamed",
        f"p{passkey_id}-name": "Renamed",
        "lang": "de",
        "next": "/account",
    }
    paths = state_changing_routes(runtime)
    assert {"/account/sessions/revoke-others", "/account/passkeys/{passkey_id}/delete"} <= set(
        paths
    )
    for path in paths:
        real = path.format(passkey_id=passkey_id, session_id=other.id)
        as_form = await client.post(real, data=form)
        assert as_form.status_code == 403 and CSRF_MESSAGE in as_form.text, path
        as_json = await client.post(real, json={}, headers={"Accept": "application/json"})
        assert as_json.status_code == 403 and as_json.json()["error"] == "csrf", path
    assert await snapshot(runtime) == before, "a request without a token changed something"
    assert await signed_in(client) and await signed_in(second_client)


# 4. Deleting a passkey needs a full session: the mailbox alone must not remove one.


async def test_a_session_opened_by_an_emailed_code_cannot_delete_a_passkey(
    client: httpx.AsyncClient, sign_up, add_passkey, sign_out, request_code, runtime: Runtime
) -> None:
    await member("keep@example.org", sign_up, add_passkey, sign_out)
    code = await request_code("keep@example.org", "/login")
    done = await post_form(client, "/code", "/code", code=code)
    assert done.status_code == 303 and await signed_in(client)
    async with runtime.sessionmaker() as db:
        session = (await db.scalars(select(SignInSession))).one()
        passkey_id = (await db.scalars(select(Passkey.id))).one()
    assert session.is_recovery and utcnow() - session.authenticated_at < timedelta(minutes=1)
    response = await post_form(
        client, f"/account/passkeys/{passkey_id}/delete", "/account/passkeys"
    )
    assert response.status_code == 403, response.headers
    assert "You signed in with an emailed code" in response.text
    assert await one(runtime, select(func.count()).where(Passkey.id == passkey_id)) == 1
    kinds = await one(runtime, select(func.count()).where(AuditEvent.kind == "passkey_removed"))
    assert kinds == 0


# 5. A lock that falls while a second factor is pending refuses even the right one.


async def test_a_second_factor_pending_when_the_account_locks_is_refused_like_a_wrong_one(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    sign_out,
    passkey_sign_in,
    request_code,
    deliver,
    mail_sink: MailSink,
    runtime: Runtime,
) -> None:
    email = "pending@example.org"
    authenticator = await member(email, sign_up, add_passkey, sign_out)
    assert (await passkey_sign_in(authenticator)).status_code == 200
    page = await post_form(client, "/account/recovery/codes", "/account/recovery")
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{2})</code>", page.text)
    assert len(codes) == 10
    await sign_out()

    code = await request_code(email, "/login")
    step = await post_form(client, "/code", "/code", code=code)
    assert step.headers["location"] == "/login/second-factor"

    threshold = runtime.settings.lockout_threshold
    per_code = runtime.settings.code_max_attempts
    while threshold > 0:  # another browser guesses emailed codes until the account locks
        guessed = await emailed_code(second_client, deliver, mail_sink, email)
        for _ in range(min(per_code, threshold)):
            assert (
                await post_form(second_client, "/code", "/code", code=wrong(guessed))
            ).status_code == 400
            threshold -= 1
    async with runtime.sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
        assert user.locked_until is not None and user.locked_until > utcnow()

    right = await post_form(client, "/login/second-factor", "/login/second-factor", code=codes[0])
    assert right.status_code == 400, "a locked account took the right second factor"
    bad = "aaaa-bbbb-cc"
    wrong_one = await post_form(client, "/login/second-factor", "/login/second-factor", code=bad)
    assert right.status_code == wrong_one.status_code == 400
    assert same_page(right.text, codes[0]) == same_page(wrong_one.text, bad)
    assert not await signed_in(client)
    async with runtime.sessionmaker() as db:
        assert (await status(db, user_id=user.id)).codes_left == 10, "the code was not spent"


# 7. verify_code:ip: guesses spread over many addresses, none of them locked, still stop.


async def test_code_guesses_spread_over_many_addresses_meet_the_per_ip_limit(
    client: httpx.AsyncClient, request_code, runtime: Runtime
) -> None:
    limit = parse_many(DEFAULT_RATES["verify_code:ip"])[0].amount
    assert "verify_code:ip" not in runtime.settings.rate_limits
    per_address = 3
    assert limit > runtime.settings.lockout_threshold
    assert per_address < min(runtime.settings.code_max_attempts, runtime.settings.lockout_threshold)
    emails = [f"guess{n}@example.org" for n in range(-(-limit // per_address))]
    async with runtime.sessionmaker() as db, db.begin():
        db.add_all(User(email=e) for e in [*emails, "target@example.org"])
    statuses: list[int] = []
    for email in emails:
        code = await request_code(email, "/login")
        for _ in range(per_address):
            if len(statuses) < limit:
                response = await post_form(client, "/code", "/code", code=wrong(code))
                statuses.append(response.status_code)
    assert statuses == [400] * limit
    async with runtime.sessionmaker() as db:
        assert not any(u.locked_until for u in await db.scalars(select(User)))
    code = await request_code("target@example.org", "/login")
    stopped = await post_form(client, "/code", "/code", code=code)
    assert stopped.status_code == 429, "the right code is refused too once the limit is spent"
    assert re.search(r"Too many attempts\. Please wait \d+ seconds", stopped.text)
    assert not await signed_in(client)


# 8. A registration finished with another account's challenge adds no passkey.


def with_session_value(client: httpx.AsyncClient, key: str, value: object) -> None:
    """Writes `key` into the browser's signed session cookie, as only the server could: the
    challenge check must hold even if the cookie layer does not."""
    signer = TimestampSigner(SECRET)
    raw = signer.unsign(client.cookies["keyfob"].encode())
    session = json.loads(b64decode(raw))
    session[key] = value
    client.cookies.set("keyfob", signer.sign(b64encode(json.dumps(session).encode())).decode())


async def test_a_registration_finished_with_another_accounts_challenge_adds_no_passkey(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    sign_up,
    deliver,
    mail_sink: MailSink,
    runtime: Runtime,
) -> None:
    await sign_up("alice@example.org")
    token_a = await csrf_from(client, "/account/passkeys")
    options = await client.post(
        "/account/passkeys/options", headers={"X-CSRFToken": token_a}, json={}
    )
    assert options.status_code == 200
    async with runtime.sessionmaker() as db:
        challenge_a = (await db.scalars(select(WebAuthnChallenge.id))).one()
    credential = SoftAuthenticator().create(options.json(), origin=SITE)

    code = await emailed_code(second_client, deliver, mail_sink, "bob@example.org", "/register")
    assert (await post_form(second_client, "/code", "/code", code=code)).status_code == 303
    token_b = await csrf_from(second_client, "/account/passkeys")
    with_session_value(second_client, "register_challenge", challenge_a)
    refused = await second_client.post(
        "/account/passkeys/verify", headers={"X-CSRFToken": token_b}, json=credential
    )
    assert refused.status_code == 400 and refused.json()["error"] == "challenge_expired"
    assert await one(runtime, select(func.count()).select_from(Passkey)) == 0


# Found by tests/mutate.py: guards no test exercised.


def embedded(client_data: dict[str, Any], how: str) -> dict[str, Any]:
    if how == "crossOrigin":
        return {**client_data, "crossOrigin": True}
    return {**client_data, "topOrigin": "https://evil.example"}


def resigned(
    assertion: dict[str, Any], authenticator: SoftAuthenticator, how: str
) -> dict[str, Any]:
    """The assertion as a browser would give it inside another site's iframe: the changed
    clientDataJSON signed by the authenticator, so only the crossOrigin check can refuse it."""
    response = assertion["response"]
    client_data = json.dumps(
        embedded(json.loads(b64url_decode(response["clientDataJSON"])), how)
    ).encode()
    auth_data = b64url_decode(response["authenticatorData"])
    key = authenticator.credentials[-1].private_key
    signature = key.sign(
        auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
    )
    changed = {**response, "clientDataJSON": b64url(client_data), "signature": b64url(signature)}
    return {**assertion, "response": changed}


@pytest.mark.parametrize("how", ["crossOrigin", "topOrigin"])
async def test_a_passkey_ceremony_embedded_in_another_site_is_refused(
    client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    sign_out,
    passkey_sign_in,
    runtime: Runtime,
    how: str,
) -> None:
    authenticator = await member("frame@example.org", sign_up, add_passkey, sign_out)
    token = await csrf_from(client, "/login")
    options = await client.post("/login/passkey/options", headers={"X-CSRFToken": token}, json={})
    assertion = resigned(authenticator.get(options.json(), origin=SITE), authenticator, how)
    refused = await client.post(
        "/login/passkey/verify", headers={"X-CSRFToken": token}, json=assertion
    )
    assert refused.status_code == 400 and refused.json()["error"] == "passkey_rejected"
    assert not await signed_in(client)
    assert (await passkey_sign_in(authenticator)).status_code == 200, "the same, not embedded"

    token = await csrf_from(client, "/account/passkeys")
    options = await client.post(
        "/account/passkeys/options", headers={"X-CSRFToken": token}, json={}
    )
    credential = SoftAuthenticator().create(options.json(), origin=SITE)
    client_data = json.loads(b64url_decode(credential["response"]["clientDataJSON"]))
    credential["response"]["clientDataJSON"] = b64url(
        json.dumps(embedded(client_data, how)).encode()
    )
    added = await client.post(
        "/account/passkeys/verify", headers={"X-CSRFToken": token}, json=credential
    )
    assert added.status_code == 400 and added.json()["error"] == "passkey_rejected"
    assert await one(runtime, select(func.count()).select_from(Passkey)) == 1


async def test_a_session_id_of_another_account_signs_nobody_out(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    deliver,
    mail_sink: MailSink,
    runtime: Runtime,
) -> None:
    await sign_up("owner@example.org")
    assert (await add_passkey(SoftAuthenticator())).status_code == 200  # full and recent now
    code = await emailed_code(
        second_client, deliver, mail_sink, "stranger@example.org", "/register"
    )
    assert (await post_form(second_client, "/code", "/code", code=code)).status_code == 303
    async with runtime.sessionmaker() as db:
        theirs = (
            await db.scalars(
                select(SignInSession.id).join(User).where(User.email == "stranger@example.org")
            )
        ).one()
    response = await post_form(client, f"/account/sessions/{theirs}/revoke", "/account/sessions")
    assert response.status_code == 303
    assert await signed_in(second_client), "another account's session was signed out"
    assert await one(runtime, select(func.count()).select_from(SignInSession)) == 2
    revoked = select(func.count()).where(AuditEvent.kind == "session_revoked")
    assert await one(runtime, revoked) == 0
