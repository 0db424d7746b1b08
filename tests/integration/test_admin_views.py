"""What staff see: every view, its filters, the dashboard; never a mail's code, never live
script from what people typed or sent; a 4xx, never a 500, for a malformed address."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, update

from keyfob.models import OutboxMail, Passkey
from keyfob.web.runtime import Runtime
from tests.integration.test_admin_support import (
    MEMBER,
    STAFF,
    VIEWS,
    admin_post,
    ask_for_code,
    member,
    passkeys_of,
    sign_in_elsewhere,
    staff,
    user_named,
)
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]

DETAILS_LINK = re.compile(
    r'<a href="(http://localhost:8000/admin/[\w-]+/details/\d+)" data-details'
)
ROWS = re.compile(r"<tbody>.*</tbody>", re.DOTALL)
KEY_LABELS = {
    "/admin/": [
        "Dashboard",
        "Accounts with a passkey",
        "Synced passkeys",
        "Locked now",
        "Mails waiting",
        "Mails given up",
        "Sign-ins in the last 24 hours",
    ],
    "/admin/user/list": ["Users", "Email", "Passkeys", "Last sign-in", "Created", MEMBER, STAFF],
    "/admin/locked-account/list": ["Locked accounts", "Reason", "Failed codes", "Locked until"],
    "/admin/passkey/list": [
        "Authenticators",
        "Owner",
        "Provider",
        "Last used",
        "Sign count",
        "Transports",
        "Backup",
        "Apple Passwords",
        "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
        "Revoke",
    ],
    "/admin/sign-in-session/list": ["Sessions", "Device", "Last seen", STAFF],
    "/admin/audit-event/list": ["Audit log", "Event", "sign_in", "passkey_added"],
    "/admin/outbox-mail/list": ["Mail outbox", "Status", "Attempts", "Next try", "Last error"],
}
SCRIPT = "<script>alert('keyfob')</script>"


async def rows(client: httpx.AsyncClient, path: str) -> str:
    """The table of a list page, without the menu (which names the staff member)."""
    response = await client.get(path)
    assert response.status_code == 200, path
    found = ROWS.search(response.text)
    assert found, path
    return found.group(0)


async def every_page(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    """The dashboard, every list, and the details page of every row listed."""
    pages = {"/admin/": await client.get("/admin/")}
    for view in VIEWS:
        listing = await client.get(f"/admin/{view}/list")
        pages[f"/admin/{view}/list"] = listing
        for link in sorted(set(DETAILS_LINK.findall(listing.text))):
            pages[link] = await client.get(link)
    return pages


async def test_staff_sees_every_view_with_its_labels(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    for path, labels in KEY_LABELS.items():
        response = await client.get(path)
        assert response.status_code == 200, path
        for label in labels:
            assert label in response.text, (path, label)
    [passkey, _] = sorted(
        await passkeys_of(runtime, MEMBER) + await passkeys_of(runtime, STAFF), key=lambda p: p.id
    )
    details = (await client.get(f"/admin/passkey/details/{passkey.id}")).text
    for label in ("AAGUID", "Backup eligible", "Backed up (synced)", "Apple Passwords", MEMBER):
        assert label in details, label
    pages = await every_page(client)
    assert len(pages) > len(KEY_LABELS) + 5, "details pages were followed"
    assert all(page.status_code == 200 for page in pages.values()), {
        path: page.status_code for path, page in pages.items() if page.status_code != 200
    }


async def test_filters_and_search(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    staff_only = await rows(client, "/admin/user/list?staff=yes")
    assert STAFF in staff_only and MEMBER not in staff_only
    found = await rows(client, "/admin/user/list?search=mia")
    assert MEMBER in found and STAFF not in found
    assert MEMBER in await rows(client, "/admin/user/list?passkey=yes&verified=yes")
    assert MEMBER not in await rows(client, "/admin/user/list?locked=yes")
    synced = await rows(client, "/admin/passkey/list?synced=yes")
    assert MEMBER in synced and STAFF not in synced
    today = datetime.now(UTC).date().isoformat()
    events = await rows(client, f"/admin/audit-event/list?kind=sign_in&at_op=on&at={today}")
    assert "sign_in" in events and "passkey_added" not in events
    newest_first = await rows(client, "/admin/audit-event/list")
    assert newest_first.index(STAFF) < newest_first.index(MEMBER)
    assert "sign_in" not in await rows(client, "/admin/audit-event/list?at_op=until&at=1999-01-01")
    by_account = await rows(client, f"/admin/audit-event/list?search={MEMBER}")
    assert MEMBER in by_account and STAFF not in by_account


async def test_the_dashboard_counts(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    page = (await client.get("/admin/")).text
    assert "2 of 2" in page, "both accounts have a passkey"
    assert "1 of 2" in page, "one of the two passkeys is synced"
    assert re.search(r'data-method="passkey">\s*1<', page), "one passkey sign-in (the staff's)"
    assert re.search(r'data-method="code">\s*2<', page), "two sign-ups by code"


async def test_the_outbox_never_shows_a_code(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    await ask_for_code(second_client, MEMBER)
    async with runtime.sessionmaker() as db:
        mail = (
            await db.scalars(
                select(OutboxMail).where(OutboxMail.sent_at.is_(None)).order_by(OutboxMail.id)
            )
        ).all()[-1]
    found = re.search(r"^(\d{6})$", mail.text, re.MULTILINE)
    assert found and mail.to_addr == MEMBER, "a code mail is queued, undelivered"
    code = re.compile(rf"(?<!\d){found.group(1)}(?!\d)")
    pages = [
        "/admin/outbox-mail/list",
        f"/admin/outbox-mail/details/{mail.id}",
        "/admin/outbox-mail/list?status=queued",
        "/admin/",
        "/admin/audit-event/list",
    ]
    for path in pages:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert not code.search(response.text), f"the code shows on {path}"
    assert MEMBER in await rows(client, "/admin/outbox-mail/list?status=queued")
    searched = await rows(client, f"/admin/outbox-mail/list?search={found.group(1)}")
    assert MEMBER not in searched, "a mail cannot be found by what it says"
    for column in ("text", "html"):
        sorted_by = await client.get(f"/admin/outbox-mail/list?sortBy={column}")
        assert sorted_by.status_code == 400


async def test_what_people_typed_or_sent_renders_inert_in_every_view(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    staff: SoftAuthenticator,
    member: SoftAuthenticator,
    runtime: Runtime,
) -> None:
    [passkey] = await passkeys_of(runtime, MEMBER)
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(update(Passkey).where(Passkey.id == passkey.id).values(name=SCRIPT))
    second_client.headers["User-Agent"] = SCRIPT
    assert (await sign_in_elsewhere(second_client, member)).status_code == 200
    pages = await every_page(client)
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
    escaped = "&lt;script&gt;alert(&#39;keyfob&#39;)&lt;/script&gt;"
    shown = [path for path, page in pages.items() if escaped in page.text]
    assert "/admin/passkey/list" in shown, "the passkey name is shown, escaped"
    assert any("/sign-in-session/details/" in path for path in shown), "and the User-Agent"
    assert any("/audit-event/details/" in path for path in shown)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/user/details/abc", 404),
        ("/admin/user/details/99999", 404),
        ("/admin/user/details/%D9%A3", 404),
        ("/admin/user/edit/1%3B2", 404),
        ("/admin/nothing/list", 404),
        ("/admin/user/list?page=x", 400),
        ("/admin/user/list?pageSize=0", 400),
        ("/admin/user/list?sortBy=webauthn_handle", 400),
        ("/admin/audit-event/list?at_op=on&at=yesterday", 400),
        ("/admin/user/list?staff=maybe&page=999", 200),
        ("/admin/passkey/list?search=%25%27%22", 200),
    ],
)
async def test_a_malformed_address_gets_a_4xx_not_a_500(
    client: httpx.AsyncClient, staff: SoftAuthenticator, path: str, status: int
) -> None:
    response = await client.get(path, follow_redirects=True)
    assert response.status_code == status, response.text[-500:]


async def test_an_action_on_a_missing_row_is_a_404(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    for path in ("/admin/user/99999/disable", "/admin/passkey/99999/revoke"):
        response = await admin_post(client, path)
        assert response.status_code == 404, path
        assert "There is nothing like that" in response.text
    assert (await user_named(runtime, MEMBER)).is_active


async def test_pages_follow_the_language_of_the_site(
    client: httpx.AsyncClient, staff: SoftAuthenticator
) -> None:
    client.cookies.set("lang", "ar")
    page = await client.get("/admin/user/list")
    assert page.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page.text


async def test_the_edit_page_heading_is_translated_too(
    client: httpx.AsyncClient, staff: SoftAuthenticator, runtime: Runtime
) -> None:
    target = (await user_named(runtime, MEMBER)).id
    client.cookies.set("lang", "de")
    page = await client.get(f"/admin/user/edit/{target}")
    assert page.status_code == 200
    assert "Benutzer bearbeiten" in page.text
    assert "Edit User" not in page.text


async def test_outbox_dates_and_statuses_have_words_of_their_own(
    client: httpx.AsyncClient, staff: SoftAuthenticator
) -> None:
    client.cookies.set("lang", "de")
    page = (await client.get("/admin/outbox-mail/list")).text
    assert "Eingereiht am" in page and "Gesendet am" in page, "the date columns"
    assert re.search(r"status=queued\"[^>]*>\s*Eingereiht</a>", page), "the status filter"
    assert re.search(r"status=sent\"[^>]*>\s*Gesendet</a>", page)
