"""An owner's back-office action (keyfob.extend.admin.AdminView.act): staff only, a recent
passkey, the back office's CSRF check, and an audit entry naming who did what to which row."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from keyfob.models import SignInSession, utcnow
from keyfob.settings import Settings
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
