"""Abuse resistance: rate limits, lockout, spoofed client addresses, Host poisoning, fuzzing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, update

from keyfob.app import create_app
from keyfob.models import AuditEvent, User, utcnow
from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.conftest import SECRET, SITE, csrf_from
from tests.mailsink import MailSink
from tests.softauthn import SoftAuthenticator


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


TOKENS = re.compile(r'"[\w-]{20,}\.[\w-]+\.[\w-]+"')


def same_page(html: str, typed: str) -> str:
    """The page without what legitimately differs: CSRF tokens and the code the person typed."""
    return TOKENS.sub('"TOKEN"', html).replace(f'value="{typed}"', 'value="TYPED"')


async def submit(client: httpx.AsyncClient, code: str) -> httpx.Response:
    token = await csrf_from(client, "/code")
    return await client.post("/code", data={"code": code, "csrf_token": token})


async def audit_kinds(runtime: Runtime) -> list[str]:
    async with runtime.sessionmaker() as db:
        return list(await db.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


async def test_brute_force_stops_at_the_lock_and_the_lock_is_no_oracle(
    client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    sign_out,
    request_code,
    passkey_sign_in,
    runtime: Runtime,
) -> None:
    authenticator = SoftAuthenticator()
    await sign_up("lock@example.org")
    await add_passkey(authenticator)
    await sign_out()
    for _ in range(2):  # two codes, five wrong tries each: a new code does not reset the count
        code = await request_code("lock@example.org", "/login")
        for _ in range(5):
            assert (await submit(client, wrong(code))).status_code == 400
    code = await request_code("lock@example.org", "/login")
    refused = await submit(client, code)
    wrong_answer = await submit(client, wrong(code))
    assert refused.status_code == wrong_answer.status_code == 400
    assert "That code is not valid" in refused.text, "the right code must look like a wrong one"
    assert same_page(refused.text, code) == same_page(wrong_answer.text, wrong(code))
    async with runtime.sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
        assert user.locked_until is not None and user.locked_until > utcnow()
        assert user.lock_reason == "code_failures" and user.code_failures >= 10
    assert "account_locked" in await audit_kinds(runtime)

    signed_in = await passkey_sign_in(authenticator)
    assert signed_in.status_code == 200, "a lock must never stop the owner's passkey"
    await sign_out()

    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
    code = await request_code("lock@example.org", "/login")
    assert (await submit(client, code)).status_code == 303, "the lock ends by itself"
    async with runtime.sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
        assert user.code_failures == 0 and user.locked_until is None


async def test_failures_for_an_unknown_address_lock_nothing_and_look_the_same(
    client: httpx.AsyncClient, request_code, runtime: Runtime
) -> None:
    code = await request_code("ghost@example.org", "/login")
    response = await submit(client, wrong(code))
    assert response.status_code == 400 and "That code is not valid" in response.text


async def test_code_sends_are_limited_per_address_with_the_wait_shown(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    token = await csrf_from(client, "/register")
    statuses = []
    for _ in range(6):
        response = await client.post(
            "/register", data={"email": "bomb@example.org", "csrf_token": token}
        )
        statuses.append(response.status_code)
    assert statuses == [303] * 5 + [429]
    assert re.search(r"Too many attempts\. Please wait \d+ seconds", response.text)
    assert "throttled" in await audit_kinds(runtime)


async def test_json_endpoints_answer_429_with_a_message(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/login")
    responses = [
        await client.post("/login/passkey/options", headers={"X-CSRFToken": token}, json={})
        for _ in range(61)
    ]
    assert [r.status_code for r in responses[:60]] == [200] * 60
    assert responses[60].status_code == 429
    assert responses[60].json()["error"] == "throttled"
    assert "Please wait" in responses[60].json()["message"]


async def test_spoofed_forwarded_for_does_not_reset_a_limit(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/register")
    statuses = []
    for n in range(31):
        response = await client.post(
            "/register",
            data={"email": f"spoof{n}@example.org", "csrf_token": token},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        statuses.append(response.status_code)
    assert statuses[:30] == [303] * 30 and statuses[30] == 429


def make_settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        site_url=SITE,
        var_dir=tmp_path,
        secret_key=SECRET,
        code_resend_seconds=0,
        database_url=database_url,
        smtp_url="smtp://127.0.0.1:1",
        **extra,
    )


async def test_forwarded_for_is_read_only_from_a_trusted_proxy(
    tmp_path: Path, fresh_db_url
) -> None:
    settings = make_settings(
        tmp_path,
        fresh_db_url(),
        trusted_proxies="127.0.0.1",
        rate_limits={"send_code:ip": "2 per hour"},
    )
    app = create_app(settings, send_mail=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as c:
        token = await csrf_from(c, "/register")

        async def send(email: str, forwarded: str) -> int:
            response = await c.post(
                "/register",
                data={"email": email, "csrf_token": token},
                headers={"X-Forwarded-For": forwarded},
            )
            return response.status_code

        assert [await send(f"a{n}@example.org", "198.51.100.1") for n in range(3)] == [
            303,
            303,
            429,
        ]
        assert await send("b@example.org", "198.51.100.2") == 303
        assert await send("c@example.org", "6.6.6.6, 198.51.100.1") == 429, (
            "a client-chosen left-most hop must not count; the proxy's own hop does"
        )
    await app.state.runtime.engine.dispose()


async def test_limit_holds_across_two_app_instances_sharing_redis(
    tmp_path: Path, fresh_db_url, redis_url: str
) -> None:
    extra = {"redis_url": redis_url, "rate_limits": {"send_code:ip": "3 per hour"}}
    shared_url = fresh_db_url()
    apps = [
        create_app(make_settings(tmp_path, shared_url, **extra), send_mail=False) for _ in range(2)
    ]
    await apps[0].state.runtime.throttle.reset()
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url=SITE) for a in apps]
    statuses = []
    for n, c in enumerate([clients[0], clients[1], clients[0], clients[1]]):
        token = await csrf_from(c, "/register")
        response = await c.post(
            "/register", data={"email": f"r{n}@example.org", "csrf_token": token}
        )
        statuses.append(response.status_code)
    assert statuses == [303, 303, 303, 429]
    for c in clients:
        await c.aclose()
    for a in apps:
        a.state.runtime.throttle.close()
        await a.state.runtime.engine.dispose()


async def test_poisoned_host_header_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/register", headers={"Host": "evil.example"})
    assert response.status_code == 400


async def test_mail_links_come_from_the_site_url_not_the_request(
    client: httpx.AsyncClient, request_code, mail_sink: MailSink
) -> None:
    await request_code("links@example.org")
    from tests.mailsink import text_of

    text = text_of(mail_sink.wait_for("links@example.org"))
    assert SITE in text and "evil" not in text


@pytest.mark.parametrize("path", ["/login/passkey/verify", "/account/passkeys/verify"])
async def test_fuzzed_json_bodies_never_cause_a_500(
    tmp_path: Path, fresh_db_url, path: str
) -> None:
    settings = make_settings(
        tmp_path, fresh_db_url(), rate_limits={"passkey:ip": "100000 per minute"}
    )
    app = create_app(settings, send_mail=False)
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )
    credential_like = st.fixed_dictionaries(
        {
            "id": st.text(max_size=20),
            "rawId": st.text(max_size=30),
            "type": st.sampled_from(["public-key", "x"]),
            "response": st.dictionaries(
                st.sampled_from(
                    [
                        "clientDataJSON",
                        "authenticatorData",
                        "signature",
                        "userHandle",
                        "attestationObject",
                        "transports",
                    ]
                ),
                json_values | st.text(alphabet="ABCDEFabcdef0123456789-_", max_size=40),
            ),
        },
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as c:
        token = await csrf_from(c, "/login")
        bodies: list[object] = []

        @hsettings(
            max_examples=150,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(json_values | credential_like)
        def collect(body: object) -> None:
            bodies.append(body)

        collect()
        for body in bodies:
            await c.post("/login/passkey/options", headers={"X-CSRFToken": token})
            response = await c.post(path, headers={"X-CSRFToken": token}, json=body)
            assert response.status_code < 500, (body, response.text)
    await app.state.runtime.engine.dispose()
