"""Passkeys, re-authentication, recovery sessions, signed-in devices, email change, deletion."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from keyfob.models import AuditEvent, Passkey, SignInSession, User, utcnow
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from
from tests.integration.test_admin_support import sign_in_elsewhere
from tests.mailsink import MailSink, code_in, text_of
from tests.softauthn import SoftAuthenticator

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Apple"
    "WebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


async def post_form(client: httpx.AsyncClient, path: str, page: str, **data: str) -> httpx.Response:
    token = await csrf_from(client, page)
    return await client.post(
        path, data={"csrf_token": token, **data}, headers={"Referer": f"{SITE}{page}"}
    )


async def passkey_ids(runtime: Runtime) -> list[int]:
    async with runtime.sessionmaker() as db:
        return list(await db.scalars(select(Passkey.id).order_by(Passkey.id)))


async def age_sessions(runtime: Runtime, minutes: int) -> None:
    """Makes every session's last sign-in `minutes` old, as if time had passed."""
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(SignInSession).values(authenticated_at=utcnow() - timedelta(minutes=minutes))
        )


@pytest.fixture
async def member(sign_up, add_passkey, sign_out, passkey_sign_in) -> SoftAuthenticator:
    """An account with one passkey, signed in with it (a full session)."""
    authenticator = SoftAuthenticator()
    await sign_up("mia@example.org")
    assert (await add_passkey(authenticator)).status_code == 200
    await sign_out()
    assert (await passkey_sign_in(authenticator)).status_code == 200
    return authenticator


async def confirm_with_passkey(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, next_path: str
) -> httpx.Response:
    token = await csrf_from(client, f"/account/confirm?next={next_path}")
    options = await client.post(
        "/account/confirm/passkey/options", headers={"X-CSRFToken": token}, json={}
    )
    assertion = authenticator.get(options.json(), origin=SITE)
    return await client.post(
        f"/account/confirm/passkey/verify?next={next_path}",
        headers={"X-CSRFToken": token},
        json=assertion,
    )


async def test_rename_a_passkey(client: httpx.AsyncClient, member, runtime: Runtime) -> None:
    [pid] = await passkey_ids(runtime)
    response = await post_form(
        client,
        f"/account/passkeys/{pid}/rename",
        "/account/passkeys",
        **{f"p{pid}-name": "  Work   laptop "},
    )
    assert response.status_code == 303
    assert "Work laptop" in (await client.get("/account/passkeys")).text


async def test_rename_refuses_an_empty_name(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    [pid] = await passkey_ids(runtime)
    response = await post_form(
        client, f"/account/passkeys/{pid}/rename", "/account/passkeys", **{f"p{pid}-name": ""}
    )
    assert response.status_code == 400 and 'class="error"' in response.text


async def test_cannot_touch_another_accounts_passkey(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        zed = User(email="zed@example.org")
        db.add(zed)
        await db.flush()
        theirs = Passkey(
            user_id=zed.id, credential_id=b"zed", public_key=b"k", aaguid="0" * 36, name="Zed's key"
        )
        db.add(theirs)
        await db.flush()
        their_id = theirs.id
    for pid in (their_id, 999):
        rename = await post_form(
            client,
            f"/account/passkeys/{pid}/rename",
            "/account/passkeys",
            **{f"p{pid}-name": "mine now"},
        )
        assert rename.status_code == 404
        assert (await client.get(f"/account/passkeys/{pid}/delete")).status_code == 404
        delete = await post_form(client, f"/account/passkeys/{pid}/delete", "/account/passkeys")
        assert delete.status_code == 404
    async with runtime.sessionmaker() as db:
        kept = await db.get_one(Passkey, their_id)
        assert kept.name == "Zed's key"


async def test_deleting_needs_a_recent_sign_in_then_continues(
    client: httpx.AsyncClient,
    member: SoftAuthenticator,
    runtime: Runtime,
    passkey_sign_in,
    sign_out,
    mail_sink: MailSink,
    deliver,
) -> None:
    [pid] = await passkey_ids(runtime)
    await age_sessions(runtime, 6)
    page = await client.get(f"/account/passkeys/{pid}/delete")
    assert page.status_code == 303
    assert (
        page.headers["location"] == f"/account/confirm?next=%2Faccount%2Fpasskeys%2F{pid}%2Fdelete"
    )
    refused = await post_form(client, f"/account/passkeys/{pid}/delete", "/account/passkeys")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/account/confirm")
    assert await passkey_ids(runtime) == [pid]

    confirmed = await confirm_with_passkey(client, member, f"/account/passkeys/{pid}/delete")
    assert confirmed.status_code == 200
    assert confirmed.json()["redirect"] == f"/account/passkeys/{pid}/delete"
    page = await client.get(f"/account/passkeys/{pid}/delete")
    assert "This is your last passkey." in page.text
    deleted = await post_form(
        client, f"/account/passkeys/{pid}/delete", f"/account/passkeys/{pid}/delete"
    )
    assert deleted.headers["location"] == "/account/passkeys?removed=1"
    assert await passkey_ids(runtime) == []
    await deliver()
    assert any("was removed" in text_of(m) for m in mail_sink.to("mia@example.org"))

    await sign_out()
    gone = await passkey_sign_in(member)
    assert gone.status_code == 400 and gone.json()["error"] == "unknown_credential"


async def test_removing_a_passkey_signs_out_the_other_browsers_it_signed_in(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    """Removing the passkey of a lost phone ends the phone's sessions, not this one."""
    [pid] = await passkey_ids(runtime)
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    assert (await second_client.get("/account")).status_code == 200
    deleted = await post_form(
        client, f"/account/passkeys/{pid}/delete", f"/account/passkeys/{pid}/delete"
    )
    assert deleted.headers["location"] == "/account/passkeys?removed=1"
    assert (await second_client.get("/account")).status_code == 303, "the other browser is out"
    assert (await client.get("/account")).status_code == 200, "this browser stays signed in"
    async with runtime.sessionmaker() as db:
        event = await db.scalar(
            select(AuditEvent)
            .where(AuditEvent.kind == "passkey_removed")
            .order_by(AuditEvent.id.desc())
        )
    assert event is not None and event.detail["sessions_ended"] == 1


async def test_confirming_with_a_code_also_makes_the_session_recent(
    client: httpx.AsyncClient,
    member,
    runtime: Runtime,
    deliver,
    mail_sink: MailSink,
    app_and_runtime: tuple[object, Runtime],
) -> None:
    await age_sessions(runtime, 6)
    before = httpx.Cookies(client.cookies)
    sent = await post_form(
        client,
        "/account/confirm/code",
        "/account/confirm?next=/account/delete",
        next="/account/delete",
    )
    assert sent.headers["location"] == "/account/confirm/code"
    await deliver()
    code = code_in(mail_sink.wait_for("mia@example.org", count=2))
    done = await post_form(
        client, "/account/confirm/code/verify", "/account/confirm/code", code=code
    )
    assert done.status_code == 303 and done.headers["location"] == "/account/delete"
    assert (await client.get("/account/delete")).status_code == 200
    transport = httpx.ASGITransport(app=app_and_runtime[0])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE, cookies=before) as old:
        assert (await old.get("/account")).status_code == 303, "the cookie from before is dead"


async def test_another_persons_passkey_does_not_confirm(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    stranger = SoftAuthenticator()
    stranger.credentials.extend(member.credentials)
    other = SoftAuthenticator()
    other.create(
        {
            "challenge": "AAAA",
            "rp": {"id": "localhost", "name": "x"},
            "user": {"id": "AAAA", "name": "x", "displayName": "x"},
        },
        origin=SITE,
    )
    await age_sessions(runtime, 6)
    token = await csrf_from(client, "/account/confirm")
    options = await client.post(
        "/account/confirm/passkey/options", headers={"X-CSRFToken": token}, json={}
    )
    assert [c["id"] for c in options.json()["allowCredentials"]], "only the account's passkeys"
    assertion = other.get({**options.json(), "allowCredentials": []}, origin=SITE)
    refused = await client.post(
        "/account/confirm/passkey/verify", headers={"X-CSRFToken": token}, json=assertion
    )
    assert refused.status_code == 400
    assert (await client.get("/account/delete")).status_code == 303


async def test_recovery_session_may_add_a_passkey_but_nothing_else(
    client: httpx.AsyncClient, member, sign_out, request_code, runtime: Runtime, add_passkey
) -> None:
    await sign_out()
    code = await request_code("mia@example.org", "/login")
    await post_form(client, "/code", "/code", code=code)
    [pid] = await passkey_ids(runtime)
    assert (await client.get("/account")).status_code == 200
    for path in (
        "/account/sessions",
        "/account/email",
        "/account/delete",
        f"/account/passkeys/{pid}/delete",
    ):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "You signed in with an emailed code" in response.text
    rename = await post_form(
        client, f"/account/passkeys/{pid}/rename", "/account/passkeys", **{f"p{pid}-name": "x"}
    )
    assert rename.status_code == 403
    added = await add_passkey(SoftAuthenticator())
    assert added.status_code == 200
    assert (await client.get("/account/sessions")).status_code == 200, "upgraded in place"
    new_pid = max(await passkey_ids(runtime))
    async with runtime.sessionmaker() as db:
        opened_by = await db.scalars(select(SignInSession.passkey_id))
        assert opened_by.all() == [new_pid], "revoking the new passkey would end this session"


async def test_code_sign_in_sends_a_notice_whose_link_signs_out_everything(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    member,
    sign_out,
    request_code,
    mail_sink: MailSink,
    deliver,
    runtime: Runtime,
    passkey_sign_in,
) -> None:
    await sign_out()
    code = await request_code("mia@example.org", "/login")
    await post_form(client, "/code", "/code", code=code)
    await deliver()
    notice = next(
        m for m in mail_sink.to("mia@example.org") if "accessed with a code" in text_of(m)
    )
    link = re.search(r"http://localhost:8000(/account/not-me\?token=\S+)", text_of(notice))
    assert link, text_of(notice)
    page = await second_client.get(link.group(1))
    assert page.status_code == 200 and "Sign out everywhere" in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token
    done = await post_form(second_client, "/account/not-me", link.group(1), token=token.group(1))
    assert done.status_code == 200 and "Every session of the account is signed out" in done.text
    assert (await client.get("/account")).headers.get("location") == "/login"
    forged = await post_form(
        second_client, "/account/not-me", link.group(1), token=token.group(1)[:-2] + "xx"
    )
    assert forged.status_code == 400

    assert (await passkey_sign_in(member)).status_code == 200
    replayed = await post_form(second_client, "/account/not-me", "/login", token=token.group(1))
    assert replayed.status_code == 400, "the link works once"
    assert "Signed in as" in (await client.get("/account")).text


async def test_a_not_me_link_expires_within_two_days(
    client: httpx.AsyncClient, member, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with runtime.sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
    made_at = time.time() - 49 * 3600
    monkeypatch.setattr(time, "time", lambda: made_at)
    old = runtime.notifier.not_me_token(user)
    monkeypatch.undo()
    page = await client.get(f"/account/not-me?token={old}")
    assert page.status_code == 400
    assert "not valid or has expired" in page.text


async def test_sessions_list_and_sign_out_another_device(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    token = await csrf_from(second_client, "/login")
    options = await second_client.post(
        "/login/passkey/options", headers={"X-CSRFToken": token}, json={}
    )
    signed = await second_client.post(
        "/login/passkey/verify",
        headers={
            "X-CSRFToken": token,
            "User-Agent": IPHONE,
        },
        json=member.get(options.json(), origin=SITE),
    )
    assert signed.status_code == 200
    page = await client.get("/account/sessions")
    assert page.status_code == 200
    assert "Mobile Safari on iOS" in page.text and "This device" in page.text
    assert "Network 127.0.0.0/24" in page.text
    async with runtime.sessionmaker() as db:
        other_id = await db.scalar(
            select(SignInSession.id).where(SignInSession.user_agent.like("%iPhone%"))
        )
    done = await post_form(client, f"/account/sessions/{other_id}/revoke", "/account/sessions")
    assert done.headers["location"] == "/account/sessions?done=one"
    assert (await second_client.get("/account")).headers.get("location") == "/login"
    assert (await client.get("/account")).status_code == 200


async def test_sign_out_everywhere_else_keeps_this_device(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    member: SoftAuthenticator,
) -> None:
    token = await csrf_from(second_client, "/login")
    options = await second_client.post(
        "/login/passkey/options", headers={"X-CSRFToken": token}, json={}
    )
    await second_client.post(
        "/login/passkey/verify",
        headers={"X-CSRFToken": token},
        json=member.get(options.json(), origin=SITE),
    )
    assert (await second_client.get("/account")).status_code == 200
    done = await post_form(client, "/account/sessions/revoke-others", "/account/sessions")
    assert done.headers["location"] == "/account/sessions?done=others"
    assert (await second_client.get("/account")).headers.get("location") == "/login"
    assert (await client.get("/account")).status_code == 200


async def test_revoking_needs_a_recent_sign_in(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    await age_sessions(runtime, 6)
    refused = await post_form(client, "/account/sessions/revoke-others", "/account/sessions")
    assert refused.headers["location"] == "/account/confirm?next=%2Faccount%2Fsessions"


async def test_email_change_proves_the_new_address_and_tells_the_old(
    client: httpx.AsyncClient, member, mail_sink: MailSink, deliver, runtime: Runtime
) -> None:
    sent = await post_form(client, "/account/email", "/account/email", email="mia@new.example")
    assert sent.headers["location"] == "/account/email/code"
    await deliver()
    code = code_in(mail_sink.wait_for("mia@new.example"))
    done = await post_form(client, "/account/email/code", "/account/email/code", code=code)
    assert done.headers["location"] == "/account/sessions?offer=1"
    assert "mia@new.example" in (await client.get("/account")).text
    await deliver()
    old = [text_of(m) for m in mail_sink.to("mia@example.org")]
    assert any("was changed from mia@example.org to mia@new.example" in t for t in old)


async def test_email_change_to_a_taken_address_looks_the_same_and_changes_nothing(
    client: httpx.AsyncClient, member, mail_sink: MailSink, deliver, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        db.add(User(email="taken@example.org"))
    free = await post_form(client, "/account/email", "/account/email", email="free@example.org")
    taken = await post_form(client, "/account/email", "/account/email", email="taken@example.org")
    assert free.status_code == taken.status_code == 303
    assert free.headers["location"] == taken.headers["location"]
    await deliver()
    mail = text_of(mail_sink.wait_for("taken@example.org"))
    assert "already has an account" in mail
    assert not re.search(r"^\d{6}$", mail, re.MULTILINE)


async def test_delete_account_removes_everything_personal(
    client: httpx.AsyncClient, member, runtime: Runtime, mail_sink: MailSink, deliver, sign_up
) -> None:
    page = await client.get("/account/delete")
    assert page.status_code == 200
    done = await post_form(client, "/account/delete", "/account/delete")
    assert done.status_code == 200 and "Account deleted" in done.text
    async with runtime.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(User)) == 0
        assert await db.scalar(select(func.count()).select_from(Passkey)) == 0
        assert await db.scalar(select(func.count()).select_from(SignInSession)) == 0
        leftovers = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.email == "mia@example.org")
        )
        assert leftovers == 0
    assert (await client.get("/account")).headers.get("location") == "/login"
    await deliver()
    assert any("were deleted" in text_of(m) for m in mail_sink.to("mia@example.org"))


async def test_sessions_expire_by_idle_time_and_by_absolute_lifetime(
    client: httpx.AsyncClient, member, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(update(SignInSession).values(last_seen_at=utcnow() - timedelta(days=8)))
    assert (await client.get("/account")).headers.get("location") == "/login"


async def test_passkey_added_notice_is_sent_unless_turned_off(
    client: httpx.AsyncClient, member, runtime: Runtime, mail_sink: MailSink, deliver, add_passkey
) -> None:
    from keyfob.auth.notices import parse_kinds

    await deliver()
    assert any("was added to your account" in text_of(m) for m in mail_sink.to("mia@example.org"))
    before = len(mail_sink.to("mia@example.org"))
    object.__setattr__(runtime.notifier, "enabled", parse_kinds("none"))
    await add_passkey(SoftAuthenticator())
    await deliver()
    assert len(mail_sink.to("mia@example.org")) == before
    assert parse_kinds("none") == frozenset()
    assert parse_kinds("passkey_added") == {"passkey_added"}
    with pytest.raises(ValueError, match="unknown kinds"):
        parse_kinds("passkey_addd")


async def test_language_choice_is_kept_on_the_account_and_used_for_its_mail(
    client: httpx.AsyncClient, member, runtime: Runtime, mail_sink: MailSink, deliver, add_passkey
) -> None:
    chosen = await post_form(client, "/language", "/account", lang="fr", next="/account")
    assert chosen.status_code == 303, chosen.text
    async with runtime.sessionmaker() as db:
        assert (await db.scalars(select(User.locale))).one() == "fr"
    await deliver()
    before = len(mail_sink.to("mia@example.org"))
    await add_passkey(SoftAuthenticator())
    await deliver()
    notice = mail_sink.to("mia@example.org")[before]
    assert "A passkey was added" not in str(notice["Subject"])
    assert "clé d'accès" in str(notice["Subject"])


async def test_a_recovery_session_switches_the_page_but_not_the_accounts_language(
    client: httpx.AsyncClient, member, runtime: Runtime, sign_out, request_code
) -> None:
    """The mailbox alone must not choose the language of the owner's security notices."""
    await sign_out()
    code = await request_code("mia@example.org", "/login")
    await post_form(client, "/code", "/code", code=code)
    assert "You signed in with an emailed code" in (await client.get("/account")).text

    chosen = await post_form(client, "/language", "/account", lang="ar", next="/account")

    assert chosen.status_code == 303
    assert client.cookies.get("lang") == "ar"
    assert 'lang="ar"' in (await client.get("/account")).text
    async with runtime.sessionmaker() as db:
        assert (await db.scalars(select(User.locale))).one() != "ar"


async def test_wrong_confirmation_codes_count_toward_the_lockout(
    client: httpx.AsyncClient, member, runtime: Runtime, deliver, mail_sink: MailSink
) -> None:
    await age_sessions(runtime, 6)
    page = "/account/confirm?next=/account/delete"
    await post_form(client, "/account/confirm/code", page, next="/account/delete")
    await deliver()
    code = code_in(mail_sink.wait_for("mia@example.org", count=2))
    bad = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        wrong = await post_form(
            client, "/account/confirm/code/verify", "/account/confirm/code", code=bad
        )
        assert wrong.status_code == 400
    async with runtime.sessionmaker() as db:
        assert (await db.scalars(select(User.code_failures))).one() == 5
