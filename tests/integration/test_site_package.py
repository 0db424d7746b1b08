"""A site built on Keyfob: the notes example (examples/notes) loaded by KEYFOB_SITE_PACKAGE.

Guaranteed: the owner's pages, templates, static files, migrations, back-office view, events
and catalogs work through Keyfob; notes are private to their account, also against guessed
ids; Keyfob's defences (sign-in, recovery limits, CSRF, throttle, security headers, Host check,
body limit) hold on the owner's routes; deleting an account deletes its notes.
"""

from __future__ import annotations

import re

import httpx
import pytest
from notes.models import Note
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from keyfob import migrate
from keyfob.app import create_app
from keyfob.auth import account
from keyfob.auth.client import Client
from keyfob.auth.staff import set_staff
from keyfob.db import make_sessionmaker
from keyfob.events import AccountDeleted, Events
from keyfob.models import User, utcnow
from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from, run_in_thread
from tests.softauthn import SoftAuthenticator

AMY = "amy@example.org"
BEN = "ben@example.org"
NOTE_IDS = re.compile(r'data-note-id="(\d+)"')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with the example named; its branch migrated into the test's DB."""
    run_in_thread(migrate.upgrade(settings.database_url, site_package="notes"))
    return settings.model_copy(update={"site_package": "notes"})


@pytest.fixture
async def amy(client: httpx.AsyncClient, sign_up, add_passkey) -> SoftAuthenticator:
    """Signed up and signed in with a new passkey in `client`."""
    authenticator = SoftAuthenticator()
    await sign_up(AMY)
    assert (await add_passkey(authenticator)).status_code == 200
    return authenticator


async def write(client: httpx.AsyncClient, text: str) -> httpx.Response:
    token = await csrf_from(client, "/notes")
    return await client.post("/notes", data={"note": text, "csrf_token": token})


async def note_count(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(Note)) or 0)


async def test_signed_out_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/notes")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


async def test_a_person_writes_notes_and_sees_them_newest_first(
    client: httpx.AsyncClient, amy: SoftAuthenticator
) -> None:
    page = await client.get("/notes")
    assert page.status_code == 200
    assert "<label" in page.text and ">Note<" in page.text and 'value="Save note"' in page.text
    assert (await write(client, "first <b>thought</b>")).status_code == 303
    assert (await write(client, "second thought")).status_code == 303
    page = await client.get("/notes")
    assert page.text.index("second thought") < page.text.index("first &lt;b&gt;thought")
    assert "<b>thought" not in page.text, "a note is text, never markup"


async def test_an_empty_note_is_refused_with_a_message(
    client: httpx.AsyncClient, amy: SoftAuthenticator, runtime: Runtime
) -> None:
    response = await write(client, "   ")
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert await note_count(runtime) == 0


async def test_nobody_else_reads_or_deletes_a_note_even_by_guessing_its_id(
    client: httpx.AsyncClient,
    amy: SoftAuthenticator,
    runtime: Runtime,
    sign_out,
    sign_up,
    add_passkey,
    passkey_sign_in,
) -> None:
    assert (await write(client, "amy's secret")).status_code == 303
    [note_id] = NOTE_IDS.findall((await client.get("/notes")).text)
    await sign_out()

    await sign_up(BEN)
    assert (await add_passkey(SoftAuthenticator())).status_code == 200
    his_page = await client.get("/notes")
    assert his_page.status_code == 200 and "amy's secret" not in his_page.text
    assert NOTE_IDS.findall(his_page.text) == []
    token = await csrf_from(client, "/notes")
    for guess in (note_id, str(int(note_id) + 1), "0"):
        refused = await client.post(f"/notes/{guess}/delete", data={"csrf_token": token})
        assert refused.status_code == 404
    assert await note_count(runtime) == 1
    await sign_out()

    assert (await passkey_sign_in(amy)).status_code == 200
    assert "amy&#39;s secret" in (await client.get("/notes")).text
    token = await csrf_from(client, "/notes")
    mine = await client.post(f"/notes/{note_id}/delete", data={"csrf_token": token})
    assert mine.status_code == 303
    assert await note_count(runtime) == 0


async def test_a_recovery_session_is_asked_for_a_passkey_first(
    client: httpx.AsyncClient, sign_up
) -> None:
    await sign_up(AMY)
    response = await client.get("/notes")
    assert response.status_code == 403
    assert "add a new passkey first" in response.text


async def test_owner_forms_need_the_csrf_token_and_the_same_origin(
    client: httpx.AsyncClient, amy: SoftAuthenticator, runtime: Runtime
) -> None:
    without = await client.post("/notes", data={"note": "forged"})
    assert without.status_code == 403
    token = await csrf_from(client, "/notes")
    cross_site = await client.post(
        "/notes",
        data={"note": "forged", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert await note_count(runtime) == 0


async def test_keyfobs_headers_host_check_and_body_limit_cover_owner_routes(
    client: httpx.AsyncClient, amy: SoftAuthenticator, runtime: Runtime
) -> None:
    page = await client.get("/notes")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert (await client.get("/notes", headers={"Host": "evil.example"})).status_code == 400
    token = await csrf_from(client, "/notes")
    huge = await client.post("/notes", data={"note": "x" * 2_000_000, "csrf_token": token})
    assert huge.status_code == 413
    assert await note_count(runtime) == 0


async def test_owner_form_posts_share_keyfobs_throttle(settings: Settings) -> None:
    tight = settings.model_copy(update={"rate_limits": {"post:ip": "2 per minute"}})
    app = create_app(tight, send_mail=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as browser:
        statuses = []
        for _ in range(3):
            token = await csrf_from(browser, "/login")
            response = await browser.post("/notes", data={"note": "x", "csrf_token": token})
            statuses.append(response.status_code)
    await app.state.runtime.engine.dispose()
    assert statuses[:2] == [303, 303], "signed out: sent to /login, but counted"
    assert statuses[2] == 429


async def test_deleting_the_account_deletes_its_notes(
    client: httpx.AsyncClient, amy: SoftAuthenticator, runtime: Runtime
) -> None:
    assert (await write(client, "to be forgotten")).status_code == 303
    assert await note_count(runtime) == 1
    token = await csrf_from(client, "/account/delete")
    response = await client.post("/account/delete", data={"csrf_token": token})
    assert response.status_code == 200
    assert await note_count(runtime) == 0


async def test_the_owners_home_page_and_theme_replace_keyfobs(
    client: httpx.AsyncClient,
) -> None:
    home = await client.get("/")
    assert home.status_code == 200
    assert "<h1>Private notes</h1>" in home.text
    assert '<link rel="stylesheet" href="/static/notes/notes.css">' in home.text
    assert 'src="/static/notes/logo.svg"' in home.text
    css = await client.get("/static/notes/notes.css")
    assert css.status_code == 200 and "--accent" in css.text
    assert (await client.get("/static/css/site.css")).status_code == 200


async def test_owner_pages_speak_the_visitors_language(
    client: httpx.AsyncClient, amy: SoftAuthenticator
) -> None:
    client.cookies.set("lang", "de")
    page = await client.get("/notes")
    assert 'value="Notiz speichern"' in page.text
    assert ">Notiz<" in page.text
    assert "Konto" in page.text, "Keyfob's own strings stay translated beside the owner's"


async def test_staff_see_note_counts_but_not_notes_and_others_are_refused(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    amy: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    await write(client, "one")
    await write(client, "two")
    refused = await client.get("/admin/notes")
    assert refused.status_code == 403
    assert "for staff only" in refused.text
    anonymous = await second_client.get("/admin/notes")
    assert anonymous.status_code == 303

    async with runtime.sessionmaker() as db, db.begin():
        await set_staff(db, email=AMY, staff=True)
    page = await client.get("/admin/notes")
    assert page.status_code == 200
    assert re.search(rf'data-count-for="{re.escape(AMY)}">2<', page.text)
    assert "one" not in re.sub(r"<[^>]+>", " ", page.text).split()
    menu = await client.get("/admin/")
    assert 'href="http://localhost:8000/admin/notes"' in menu.text or "/admin/notes" in menu.text


async def _delete_with(runtime: Runtime, events: Events) -> None:
    """Deletes Amy's account as /account/delete does, with `events` as the only handlers."""
    maker = make_sessionmaker(runtime.engine, events)
    async with maker() as db, db.begin():
        user = (await db.scalars(select(User).where(User.email == AMY))).one()
        await account.delete_account(
            db, user=user, notifier=runtime.notifier, client=Client(), now=utcnow()
        )


async def test_an_account_is_never_deleted_while_its_notes_stay_behind(
    client: httpx.AsyncClient, amy: SoftAuthenticator, runtime: Runtime
) -> None:
    assert (await write(client, "kept")).status_code == 303

    async def refuse(db: object, event: AccountDeleted) -> None:
        raise RuntimeError("the owner's store is down")

    with pytest.raises(RuntimeError):
        await _delete_with(runtime, Events({AccountDeleted: [refuse]}))
    with pytest.raises(IntegrityError):  # no handler ran: the foreign key refuses
        await _delete_with(runtime, Events())
    async with runtime.sessionmaker() as db:
        assert await db.scalar(select(User.id).where(User.email == AMY)) is not None
    assert await note_count(runtime) == 1
    assert "kept" in (await client.get("/notes")).text
