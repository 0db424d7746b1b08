"""What staff can do, each proved on the real thing (a real lock, a real passkey sign-in, a real
session), and each written to the audit log with the staff member's address as `by`."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from keyfob.models import OutboxMail, SignInSession, utcnow
from keyfob.web.runtime import Runtime
from tests.integration.test_admin_support import (
    MEMBER,
    STAFF,
    admin_post,
    ask_for_code,
    audited,
    code_by_mail,
    enter_code,
    member,
    passkeys_of,
    sign_in_elsewhere,
    staff,
    user_named,
)
from tests.mailsink import MailSink
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def signed_in(browser: httpx.AsyncClient) -> bool:
    return (await browser.get("/account")).status_code == 200


async def test_unlock_lifts_a_real_lock(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    runtime: Runtime,
    deliver,
    mail_sink: MailSink,
) -> None:
    for _ in range(2):  # ten wrong tries over two codes lock code sign-in
        code = await code_by_mail(second_client, deliver, mail_sink, MEMBER)
        for _ in range(5):
            assert (await enter_code(second_client, wrong(code))).status_code == 400
    locked = await user_named(runtime, MEMBER)
    assert locked.locked_until is not None and locked.locked_until > utcnow()
    listing = await client.get("/admin/locked-account/list")
    assert MEMBER in listing.text and "Too many wrong codes" in listing.text

    page = "/admin/locked-account/list"
    response = await admin_post(client, f"/admin/locked-account/{locked.id}/unlock", page=page)
    assert response.status_code == 303 and response.headers["location"].endswith(page)
    unlocked = await user_named(runtime, MEMBER)
    assert unlocked.locked_until is None and unlocked.code_failures == 0
    after = await client.get(page)
    assert "The account is unlocked." in after.text
    assert MEMBER not in after.text.split("<tbody>")[1]
    assert (await audited(runtime, "account_unlocked"))[-1] == {"email": MEMBER, "by": STAFF}

    code = await code_by_mail(second_client, deliver, mail_sink, MEMBER)
    assert (await enter_code(second_client, code)).status_code == 303, "the right code works again"


async def test_revoke_stops_a_real_passkey_sign_in(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200, "it works now"
    second_client.cookies.clear()  # a fresh browser: only a new sign-in could let it in
    [passkey] = await passkeys_of(runtime, MEMBER)
    page = f"/admin/passkey/details/{passkey.id}"
    response = await admin_post(client, f"/admin/passkey/{passkey.id}/revoke", page=page)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/admin/passkey/list")
    assert await passkeys_of(runtime, MEMBER) == []
    [event] = await audited(runtime, "passkey_revoked")
    assert event["by"] == STAFF and event["email"] == MEMBER and event["passkey_id"] == passkey.id
    async with runtime.sessionmaker() as db:
        notices = await db.scalars(
            select(OutboxMail.kind).where(OutboxMail.to_addr == MEMBER, OutboxMail.kind == "notice")
        )
        assert notices.all(), "the owner is told"

    refused = await sign_in_elsewhere(second_client, member)
    assert refused.status_code == 400
    assert refused.json()["error"] == "unknown_credential"
    assert not await signed_in(second_client)


async def test_revoking_a_passkey_signs_out_the_browsers_it_signed_in(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    assert await signed_in(second_client)
    [passkey] = await passkeys_of(runtime, MEMBER)
    page = f"/admin/passkey/details/{passkey.id}"
    response = await admin_post(client, f"/admin/passkey/{passkey.id}/revoke", page=page)
    assert response.status_code == 303
    assert not await signed_in(second_client), "the session that passkey opened is over"
    [event] = await audited(runtime, "passkey_revoked")
    assert event["sessions_ended"] == 1
    assert await signed_in(client), "the staff member's own session is untouched"


async def test_disable_signs_out_and_refuses_sign_in_until_enabled(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    target = (await user_named(runtime, MEMBER)).id
    page = f"/admin/user/details/{target}"
    assert (await admin_post(client, f"/admin/user/{target}/disable", page=page)).status_code == 303
    assert not await signed_in(second_client)
    assert (await sign_in_elsewhere(second_client, member)).status_code == 400
    assert (await audited(runtime, "account_disabled"))[-1]["by"] == STAFF

    assert (await admin_post(client, f"/admin/user/{target}/enable", page=page)).status_code == 303
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    assert (await audited(runtime, "account_enabled"))[-1] == {"email": MEMBER, "by": STAFF}


async def test_sign_out_everywhere_and_revoke_one_session(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    target = (await user_named(runtime, MEMBER)).id
    everywhere = await admin_post(client, f"/admin/user/{target}/sign_out")
    assert everywhere.status_code == 303
    assert not await signed_in(second_client)
    assert (await audited(runtime, "sessions_revoked"))[-1]["by"] == STAFF

    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    async with runtime.sessionmaker() as db:
        session_id = await db.scalar(
            select(SignInSession.id).where(SignInSession.user_id == target)
        )
    page = "/admin/sign-in-session/list"
    assert MEMBER in (await client.get(page)).text
    revoked = await admin_post(client, f"/admin/sign-in-session/{session_id}/revoke", page=page)
    assert revoked.status_code == 303
    assert not await signed_in(second_client)
    [event] = await audited(runtime, "session_revoked")
    assert event == {"email": MEMBER, "by": STAFF, "session_id": session_id}
    assert await signed_in(client), "the staff member's own session is untouched"


async def test_retry_now_makes_a_waiting_mail_due_at_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    runtime: Runtime,
    deliver,
    mail_sink: MailSink,
) -> None:
    await deliver()
    await ask_for_code(second_client, MEMBER)
    async with runtime.sessionmaker() as db, db.begin():
        mail_id = await db.scalar(select(OutboxMail.id).where(OutboxMail.sent_at.is_(None)))
        assert mail_id is not None
        await db.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail_id)
            .values(attempts=3, next_try_at=utcnow() + timedelta(hours=1), last_error="refused")
        )
    assert (await deliver()).sent == 0, "backing off after a failure"
    page = "/admin/outbox-mail/list"
    assert (
        await admin_post(client, f"/admin/outbox-mail/{mail_id}/retry", page=page)
    ).status_code == 303
    assert (await deliver()).sent == 1
    assert mail_sink.wait_for(MEMBER)
    assert (await audited(runtime, "mail_retried"))[-1]["by"] == STAFF

    again = await admin_post(client, f"/admin/outbox-mail/{mail_id}/retry", page=page)
    assert again.status_code == 409
    assert "cannot be sent again" in again.text


async def test_the_staff_flag_is_edited_in_a_form_and_audited(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    target = (await user_named(runtime, MEMBER)).id
    form = f"/admin/user/edit/{target}"
    assert 'name="is_staff"' in (await client.get(form)).text
    granted = await admin_post(client, form, page=form, is_staff="y", save="Save")
    assert granted.status_code == 302
    assert granted.headers["location"].endswith(f"/admin/user/details/{target}")
    assert (await user_named(runtime, MEMBER)).is_staff
    assert (await audited(runtime, "staff_granted"))[-1] == {"email": MEMBER, "by": STAFF}

    assert (await admin_post(client, form, page=form, save="Whatever")).status_code == 302
    assert not (await user_named(runtime, MEMBER)).is_staff
    assert (await audited(runtime, "staff_revoked"))[-1] == {"email": MEMBER, "by": STAFF}


async def test_staff_cannot_disable_or_demote_themselves(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    me = (await user_named(runtime, STAFF)).id
    refused = await admin_post(client, f"/admin/user/{me}/disable")
    assert refused.status_code == 409
    assert "You cannot do this to your own account." in refused.text
    form = f"/admin/user/edit/{me}"
    demoted = await admin_post(client, form, page=form, save="Save")
    assert demoted.status_code == 400
    assert "You cannot do this to your own account." in demoted.text
    myself = await user_named(runtime, STAFF)
    assert myself.is_active and myself.is_staff
    assert await audited(runtime, "account_disabled") == []


async def test_staff_see_and_remove_recovery_factors_but_never_the_secret_or_codes(
    client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    member: SoftAuthenticator,
    runtime: Runtime,
    deliver,
    mail_sink: MailSink,
) -> None:
    import pyotp

    from keyfob.auth import recovery
    from keyfob.auth.client import Client

    user = await user_named(runtime, MEMBER)
    async with runtime.sessionmaker() as db, db.begin():
        owner = await db.get_one(type(user), user.id)
        owner.locale = "de"
        secret = await recovery.begin_app(db, user=owner, keys=runtime.recovery_keys)
        await recovery.confirm_app(
            db,
            user=owner,
            code=pyotp.TOTP(secret).now(),
            keys=runtime.recovery_keys,
            notifier=runtime.notifier,
            client=Client(),
            now=utcnow(),
        )
        codes = await recovery.replace_codes(
            db,
            user=owner,
            keys=runtime.recovery_keys,
            notifier=runtime.notifier,
            client=Client(),
            now=utcnow(),
        )
    page = f"/admin/user/details/{user.id}"
    details = await client.get(page)
    assert details.status_code == 200
    assert "Authenticator app" in details.text and "Unused recovery codes" in details.text
    assert (
        secret not in details.text
        and " ".join(secret[i : i + 4] for i in range(0, 32, 4)) not in details.text
    )
    assert not any(code in details.text for code in codes)
    assert "Remove authenticator app" in details.text and "Remove recovery codes" in details.text

    done = await admin_post(client, f"/admin/user/{user.id}/remove_app", page=page)
    assert done.status_code == 303
    done = await admin_post(client, f"/admin/user/{user.id}/remove_codes", page=page)
    assert done.status_code == 303
    async with runtime.sessionmaker() as db:
        state = await recovery.status(db, user_id=user.id)
    assert not state.app and not state.codes_issued
    assert (await audited(runtime, "recovery_app_removed"))[-1]["by"] == STAFF
    assert (await audited(runtime, "recovery_codes_removed"))[-1]["by"] == STAFF

    await deliver()
    subjects = [str(m["Subject"]) for m in mail_sink.to(MEMBER)]
    assert "Die Authenticator-App wurde aus deinem Keyfob-Konto entfernt" in subjects
    assert "Die Wiederherstellungscodes wurden aus deinem Keyfob-Konto entfernt" in subjects
