"""Back-office actions that grant staff, disable accounts, remove factors or end sessions need
a passkey confirmed within KEYFOB_REAUTH_MINUTES, like the same changes to one's own account:
the staff member is sent to confirm it and comes back to the page; nothing changes before."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from keyfob.models import SignInSession, User, utcnow
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from
from tests.integration.test_admin_support import (
    MEMBER,
    STAFF,
    admin_post,
    member,
    staff,
    user_named,
)
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]


async def age_sign_ins(runtime: Runtime, email: str, by: timedelta) -> None:
    user = await user_named(runtime, email)
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(SignInSession)
            .where(SignInSession.user_id == user.id)
            .values(authenticated_at=utcnow() - by)
        )


async def confirm_with_passkey(client: httpx.AsyncClient, authenticator: SoftAuthenticator) -> None:
    token = await csrf_from(client, "/account/confirm")
    headers = {"X-CSRFToken": token}
    options = await client.post("/account/confirm/passkey/options", headers=headers, json={})
    assertion = authenticator.get(options.json(), origin=SITE)
    verified = await client.post("/account/confirm/passkey/verify", headers=headers, json=assertion)
    assert verified.status_code == 200, verified.text


@pytest.mark.parametrize(
    ("action", "data"),
    [("disable", {}), ("sign_out", {}), ("edit", {"is_staff": "y"})],
)
async def test_a_sign_in_hours_old_is_asked_to_confirm_first(
    client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    runtime: Runtime,
    action: str,
    data: dict[str, str],
) -> None:
    target = (await user_named(runtime, MEMBER)).id
    page = f"/admin/user/details/{target}"
    path = f"/admin/user/edit/{target}" if action == "edit" else f"/admin/user/{target}/{action}"
    form_page = f"/admin/user/edit/{target}" if action == "edit" else page
    await age_sign_ins(runtime, STAFF, timedelta(hours=6))

    refused = await admin_post(client, path, page=form_page, **data)

    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location.startswith("/account/confirm?next=")
    assert "%2Fadmin%2Fuser%2F" in location
    member_now = await user_named(runtime, MEMBER)
    assert member_now.is_active and not member_now.is_staff

    await confirm_with_passkey(client, staff)
    done = await admin_post(client, path, page=form_page, **data)
    assert done.status_code in {302, 303}
    assert not done.headers["location"].startswith("/account/confirm")


async def test_unlocking_needs_no_new_confirmation(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    target = (await user_named(runtime, MEMBER)).id
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(User).where(User.id == target).values(locked_until=utcnow() + timedelta(hours=1))
        )
    await age_sign_ins(runtime, STAFF, timedelta(hours=6))
    response = await admin_post(
        client, f"/admin/user/{target}/unlock", page=f"/admin/user/details/{target}"
    )
    assert response.status_code == 303
    assert not response.headers["location"].startswith("/account/confirm")
