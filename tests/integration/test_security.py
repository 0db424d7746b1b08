"""Security promises of the core journey, each with a test that fails if the promise breaks."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from keyfob.app import create_app
from keyfob.settings import Settings
from keyfob.web.pages import routers
from keyfob.web.runtime import Runtime
from tests.conftest import SECRET, csrf_from

CSRF_VALUES = re.compile(r'"[\w-]{20,}\.[\w-]+\.[\w-]+"')


def state_changing_routes(settings: Settings) -> list[str]:
    return sorted(
        route.path
        for router in routers(settings)
        for route in router.routes
        if isinstance(route, Route) and route.methods & {"POST", "PUT", "PATCH", "DELETE"}
    )


async def test_every_state_changing_route_refuses_a_request_without_csrf_token(
    client: httpx.AsyncClient, app_and_runtime: tuple[object, Runtime], sign_up
) -> None:
    await sign_up("csrf@example.org")
    paths = state_changing_routes(app_and_runtime[1].settings)
    assert {
        "/register",
        "/login",
        "/code",
        "/logout",
        "/login/passkey/verify",
        "/account/passkeys/verify",
    } <= set(paths)
    for path in paths:
        form = await client.post(path, data={"email": "x@example.org", "code": "123456"})
        assert form.status_code == 403, path
        as_json = await client.post(path, json={}, headers={"X-CSRFToken": "forged"})
        assert as_json.status_code == 403, path
    assert "Signed in as" in (await client.get("/account")).text, "the forged logout worked"


async def test_cross_site_origin_is_refused_even_with_a_token(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/register")
    response = await client.post(
        "/register",
        data={"email": "x@example.org", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_send_code_answers_the_same_for_known_and_unknown_addresses(
    client: httpx.AsyncClient, sign_up, sign_out
) -> None:
    await sign_up("known@example.org")
    await sign_out()

    async def attempt(path: str, email: str) -> tuple[int, str, str, set[str]]:
        client.cookies.clear()
        token = await csrf_from(client, path)
        sent = await client.post(path, data={"email": email, "csrf_token": token})
        page = await client.get("/code")
        text = CSRF_VALUES.sub("TOKEN", page.text).replace(email, "EMAIL")
        return sent.status_code, sent.headers["location"], text, set(sent.cookies.keys())

    for path in ("/register", "/login"):
        known = await attempt(path, "known@example.org")
        unknown = await attempt(path, "nobody@example.org")
        assert known == unknown


async def test_session_cookie_is_http_only_and_same_site(
    client: httpx.AsyncClient, sign_up
) -> None:
    response = await sign_up("cookie@example.org")
    header = response.headers["set-cookie"].lower()
    assert header.startswith("keyfob=")
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header


async def test_session_cookie_is_secure_with_host_prefix_on_https(
    tmp_path: Path, fresh_db_url
) -> None:
    settings = Settings(
        _env_file=None,
        site_url="https://keyfob.example",
        var_dir=tmp_path,
        secret_key=SECRET,
        database_url=fresh_db_url(),
        smtp_url="smtp://127.0.0.1:1",
    )
    app = create_app(settings, send_mail=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://keyfob.example") as c:
        response = await c.get("/register")
    header = response.headers["set-cookie"]
    assert header.startswith("__Host-keyfob=")
    assert "secure" in header.lower() and "domain" not in header.lower()
    assert "max-age=63072000" in response.headers["strict-transport-security"]
    await app.state.runtime.engine.dispose()


async def test_security_headers_on_every_page(client: httpx.AsyncClient) -> None:
    for path in ("/register", "/login", "/healthz", "/no-such-page"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "publickey-credentials-get=(self)" in response.headers["permissions-policy"]
        assert "strict-transport-security" not in response.headers


async def test_pages_have_no_inline_script(client: httpx.AsyncClient) -> None:
    for path in ("/register", "/login"):
        html = (await client.get(path)).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        assert " on" not in re.sub(r'"[^"]*"', "", " ".join(re.findall(r"<[^>]+>", html)))


async def test_account_pages_need_a_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/account", "/account/passkeys"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"


async def test_unknown_page_is_a_friendly_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert "There is no page at this address." in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-address",
        "a@b",
        "x" * 300 + "@example.org",
        "ann@example.org\r\nBcc: eve@example.org",
    ],
)
async def test_bad_addresses_get_a_400_with_a_message(
    client: httpx.AsyncClient, email: str
) -> None:
    token = await csrf_from(client, "/register")
    response = await client.post("/register", data={"email": email, "csrf_token": token})
    assert response.status_code == 400
    assert 'class="error"' in response.text


async def test_wrong_code_is_refused_and_counted(client: httpx.AsyncClient, request_code) -> None:
    code = await request_code("wrong@example.org")
    token = await csrf_from(client, "/code")
    bad = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        response = await client.post("/code", data={"code": bad, "csrf_token": token})
        assert response.status_code == 400
        assert "That code is not valid" in response.text
    response = await client.post("/code", data={"code": code, "csrf_token": token})
    assert response.status_code == 400, "the right code must not work after five wrong ones"


async def test_resend_cooldown_is_shown(client: httpx.AsyncClient, runtime: Runtime) -> None:
    runtime.settings.code_resend_seconds = 30
    token = await csrf_from(client, "/register")
    await client.post("/register", data={"email": "slow@example.org", "csrf_token": token})
    response = await client.post("/code/resend", data={"csrf_token": token})
    assert response.status_code == 429
    assert re.search(r"Please wait \d+ seconds before asking for a new code", response.text)


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/login/passkey/verify", headers={"X-CSRFToken": token}, content=b"{" + b" " * 70_000 + b"}"
    )
    assert response.status_code == 413


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
