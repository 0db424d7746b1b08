"""Who reaches /admin, its own cookie, and CSRF: no state change without a token from the back
office's own page, and none from a cross-site form or a plain link."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from keyfob.admin.cookie import AdminCookie
from keyfob.settings import Settings
from keyfob.web.backoffice import BackOffice
from keyfob.web.runtime import Runtime
from tests.conftest import SECRET, SITE, csrf_from
from tests.integration.test_admin_support import (
    MEMBER,
    STAFF,
    admin_post,
    admin_token,
    audited,
    member,
    sign_in_elsewhere,
    staff,
    user_named,
)
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]


@pytest.mark.parametrize("path", ["/admin/", "/admin/user/list", "/admin/passkey/details/1"])
async def test_an_anonymous_visitor_is_sent_to_sign_in(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_a_member_who_is_not_staff_gets_403(
    client: httpx.AsyncClient, member: SoftAuthenticator, passkey_sign_in
) -> None:
    assert (await passkey_sign_in(member)).status_code == 200
    for path in ("/admin/", "/admin/user/list"):
        response = await client.get(path)
        assert response.status_code == 403
        assert "The back office is for staff only." in response.text
        assert MEMBER not in response.text


async def test_staff_signed_in_by_an_emailed_code_is_refused_until_a_passkey_confirms(
    client: httpx.AsyncClient, staff: SoftAuthenticator, sign_out, request_code
) -> None:
    await sign_out()
    code = await request_code(STAFF, "/login")
    token = await csrf_from(client, "/code")
    assert (await client.post("/code", data={"code": code, "csrf_token": token})).status_code == 303
    refused = await client.get("/admin/user/list")
    assert refused.status_code == 403
    assert "You signed in with an emailed code" in refused.text
    assert 'href="/account/confirm?next=/admin/"' in refused.text
    assert STAFF not in refused.text

    token = await csrf_from(client, "/account/confirm?next=/admin/")
    options = await client.post(
        "/account/confirm/passkey/options", headers={"X-CSRFToken": token}, json={}
    )
    assertion = staff.get(options.json(), origin=SITE)
    confirmed = await client.post(
        "/account/confirm/passkey/verify?next=/admin/",
        headers={"X-CSRFToken": token},
        json=assertion,
    )
    assert confirmed.status_code == 200
    assert (await client.get("/admin/user/list")).status_code == 200


async def test_staff_with_a_passkey_session_gets_in_with_a_strict_cookie_of_its_own(
    client: httpx.AsyncClient, staff: SoftAuthenticator
) -> None:
    response = await client.get("/admin/")
    assert response.status_code == 200
    assert "Dashboard" in response.text and STAFF in response.text
    [cookie] = response.headers.get_list("set-cookie")
    name, _, attributes = cookie.partition("=")
    assert name == "keyfob-admin"
    assert "samesite=strict" in attributes.lower() and "httponly" in attributes.lower()
    assert "session" not in client.cookies
    assert (await client.get("/account")).status_code == 200, "the site's own session survives"
    assert (await client.get("/admin/user/list")).status_code == 200


def test_on_https_the_cookie_is_secure_and_host_prefixed(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        site_url="https://keyfob.example",
        smtp_url="smtp://127.0.0.1:25",
        secret_key=SECRET,
        var_dir=tmp_path,
    )
    cookie = AdminCookie.for_site(settings)
    assert cookie.name == "__Host-keyfob-admin" and cookie.secure
    session = cookie.middleware()[1]
    assert session.kwargs["same_site"] == "strict"
    assert session.kwargs["https_only"] is True and session.kwargs["path"] == "/"
    assert cookie.secret != settings.secret_key


async def test_a_cross_site_form_changes_nothing(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    target = (await user_named(runtime, MEMBER)).id
    path = f"/admin/user/{target}/disable"
    token = await admin_token(client)
    evil = {"Origin": "https://evil.example", "Referer": "https://evil.example/"}
    attempts = [
        # What a cross-site form really sends: no SameSite=Strict cookie, so no token.
        (second_client, {"csrf_token": token}, evil),
        (client, {"csrf_token": token}, evil),
        (client, {"csrf_token": token}, {"Sec-Fetch-Site": "cross-site"}),
        (client, {}, {"Origin": SITE}),
        (client, {"csrf_token": token[::-1]}, {"Origin": SITE}),
    ]
    for browser, data, headers in attempts:
        response = await browser.post(path, data=data, headers=headers)
        assert response.status_code == 403, (data, headers)
        assert "nothing was changed" in response.text

    admin_cookie = client.cookies.get("keyfob-admin")
    client.cookies.delete("keyfob-admin")
    stripped = await client.post(path, data={"csrf_token": token}, headers={"Origin": SITE})
    assert stripped.status_code == 403, "without the Strict cookie the token means nothing"
    client.cookies.set("keyfob-admin", admin_cookie or "")

    assert (await user_named(runtime, MEMBER)).is_active
    assert await audited(runtime, "account_disabled") == []
    done = await admin_post(client, path, page="/admin/user/list")
    assert done.status_code == 303, "the same form from the back office itself works"
    assert not (await user_named(runtime, MEMBER)).is_active


async def test_plain_get_links_change_nothing(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    target = (await user_named(runtime, MEMBER)).id
    links = {
        f"/admin/user/{target}/disable": 405,
        f"/admin/user/{target}/sign_out": 405,
        "/admin/logout": 405,
        f"/admin/user/delete?pks={target}": 404,
        f"/admin/user/action/disable?pks={target}": 404,
        "/admin/user/create": 404,
        "/admin/outbox-mail/export/csv": 404,
    }
    for link, status in links.items():
        assert (await client.get(link)).status_code == status, link
    assert (await user_named(runtime, MEMBER)).is_active
    assert (await client.get("/admin/")).status_code == 200, "still signed in"
    delete = await client.request("DELETE", f"/admin/user/delete?pks={target}")
    assert delete.status_code == 404, "SQLAdmin's delete route is gone"


async def test_sign_out_is_a_post_that_ends_the_site_session(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    response = await admin_post(client, "/admin/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/account")).headers["location"] == "/login"
    assert (await client.get("/admin/")).status_code == 303
    assert [event["email"] for event in await audited(runtime, "sign_out")][-1] == STAFF


async def test_a_token_from_an_earlier_sign_in_is_refused(
    client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    sign_out,
    runtime: Runtime,
) -> None:
    old = await admin_token(client)
    await sign_out()
    assert (await sign_in_elsewhere(client, staff)).status_code == 200
    target = (await user_named(runtime, MEMBER)).id
    stale = await client.post(
        f"/admin/user/{target}/disable", data={"csrf_token": old}, headers={"Origin": SITE}
    )
    assert stale.status_code == 403
    assert (await user_named(runtime, MEMBER)).is_active
    fresh = await admin_token(client)
    assert fresh != old


async def test_the_back_office_is_built_by_its_first_request(
    app_and_runtime: tuple[object, Runtime], client: httpx.AsyncClient
) -> None:
    """Only staff use it: a worker that serves no back-office page never loads SQLAdmin."""
    app = app_and_runtime[0]
    assert isinstance(app, FastAPI)
    (office,) = [
        route.app for route in app.routes if isinstance(route, Mount) and route.name == "admin"
    ]
    assert isinstance(office, BackOffice)
    for path in ("/login", "/register", "/healthz"):
        await client.get(path)
    assert office._app is None
    refused = await client.get("/admin/")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next=")
    assert office._app is not None
