"""An owner's back-office action (keyfob.extend.admin.AdminView.act): staff only, a recent
passkey, the back office's CSRF check, and an audit entry naming who did what to which row."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from keyfob.auth.staff import set_staff
from keyfob.models import SignInSession, utcnow
from keyfob.settings import Settings
from keyfob.web.middleware import CSP
from keyfob.web.runtime import Runtime
from tests.integration.test_admin_support import (
    MEMBER,
    STAFF,
    admin_post,
    audited,
    member,
    staff,
    user_named,
)
from tests.sites import moderation
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"site_package": "tests.sites.moderation"})


async def test_a_staff_action_of_an_owners_view_is_audited(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    target = await user_named(runtime, MEMBER)
    moderation.FLAGGED.clear()
    done = await admin_post(
        client, f"/admin/flag-user/{target.id}/flag", page="/admin/flag-user/list"
    )
    assert done.status_code == 303
    assert [target.id] == moderation.FLAGGED
    [entry] = await audited(runtime, "staff_action")
    assert entry == {
        "email": STAFF,
        "view": "flag-user",
        "action": "flag",
        "row": target.id,
    }


async def test_without_the_token_or_a_recent_passkey_nothing_happens(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    target = await user_named(runtime, MEMBER)
    moderation.FLAGGED.clear()
    forged = await client.post(f"/admin/flag-user/{target.id}/flag", data={"csrf_token": "x"})
    assert forged.status_code == 403

    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(SignInSession).values(authenticated_at=utcnow() - timedelta(hours=1))
        )
    stale = await admin_post(
        client, f"/admin/flag-user/{target.id}/flag", page="/admin/flag-user/list"
    )
    assert stale.status_code == 303
    assert stale.headers["location"].startswith("/account/confirm?")
    assert moderation.FLAGGED == []
    assert await audited(runtime, "staff_action") == []


async def test_members_cannot_reach_an_owners_view(
    client: httpx.AsyncClient, member: SoftAuthenticator, passkey_sign_in
) -> None:
    assert (await passkey_sign_in(member)).status_code == 200
    assert (await client.get("/admin/flag-user/list")).status_code == 403
    refused = await client.post("/admin/flag-user/1/flag", data={})
    assert refused.status_code == 403
    assert moderation.FLAGGED == []


async def test_each_person_dependency_lets_in_whom_it_says(
    client: httpx.AsyncClient, sign_up, add_passkey, runtime: Runtime
) -> None:
    async def who(path: str) -> tuple[int, object]:
        response = await client.get(f"/who/{path}", headers={"Accept": "application/json"})
        return response.status_code, response.json()

    assert await who("maybe") == (200, {"email": None, "recovery": False})
    assert (await who("signed-in"))[0] == 401

    await sign_up(MEMBER)  # a session from an emailed code: recovery only
    assert await who("maybe") == (200, {"email": None, "recovery": False})
    assert await who("recovering") == (200, {"email": MEMBER, "recovery": True})
    assert (await who("signed-in"))[0] == 403

    assert (await add_passkey(SoftAuthenticator())).status_code == 200
    assert await who("signed-in") == (200, {"email": MEMBER, "recovery": False})
    assert await who("recent") == (200, {"email": MEMBER, "recovery": False})
    assert (await who("staff"))[0] == 403

    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(SignInSession).values(authenticated_at=utcnow() - timedelta(minutes=3))
        )
    status, body = await who("recent")
    assert status == 403 and isinstance(body, dict)
    assert body["redirect"] == "/account/confirm?next=%2Fwho%2Frecent"
    assert (await who("signed-in"))[0] == 200, "only the route that asks for it wants recency"

    async with runtime.sessionmaker() as db, db.begin():
        await set_staff(db, email=MEMBER, staff=True)
    assert await who("staff") == (200, {"email": MEMBER, "recovery": False})


async def test_an_owner_route_cannot_loosen_the_security_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/who/loose")
    assert response.status_code == 200
    assert response.headers.get_list("content-security-policy") == [CSP]
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers["cache-control"] == "private, max-age=60", "caching is the route's"
