"""The back office in a real Chromium, against a real `keyfob serve`.

A person signs up, adds a passkey with the virtual authenticator, is made staff with
`keyfob staff add`, signs in with the passkey and opens every view; one action is taken through
its confirm button, so a real browser's POST (its Origin, Sec-Fetch-Site and SameSite=Strict
cookie) passes the CSRF checks. Signed in again by an emailed code only, the same person is
refused. Screenshots: tests/artifacts/screenshots/admin-*.png.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, make_staff, new_email

if TYPE_CHECKING:
    from tests.e2e.conftest import Site, Tab

pytestmark = pytest.mark.e2e

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
VIEWS = [
    ("users", "/admin/user/list", "Users"),
    ("locked-accounts", "/admin/locked-account/list", "Locked accounts"),
    ("authenticators", "/admin/passkey/list", "Authenticators"),
    ("sessions", "/admin/sign-in-session/list", "Sessions"),
    ("audit-log", "/admin/audit-event/list", "Audit log"),
    ("mail-outbox", "/admin/outbox-mail/list", "Mail outbox"),
]


def sign_up_by_http(site: Site, email: str) -> None:
    """Another person, signed up with plain HTTP (they need no browser here)."""
    with httpx.Client(base_url=site.url) as client:
        token = CSRF_META.search(client.get("/register").text)
        assert token is not None
        assert client.post("/register", data={"email": email, "csrf_token": token[1]}).is_redirect
        code = site.code_for(email, count=1)
        token = CSRF_META.search(client.get("/code").text)
        assert token is not None
        assert client.post("/code", data={"code": code, "csrf_token": token[1]}).is_redirect


def snap(tab: Tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=SCREENSHOTS / f"admin-{name}.png", full_page=True)


def page_is_clean(tab: Tab) -> None:
    """Nothing refused by the CSP, no script error, no request that failed."""
    assert tab.probe()["csp"] == [], tab.probe()["csp"]
    assert tab.console_errors == [], tab.console_errors


def test_staff_signs_in_with_a_passkey_and_opens_every_view(
    tab: Tab, site: Site, fresh_email: str
) -> None:
    page = tab.page
    member = new_email("member")
    sign_up_by_http(site, member)
    tab.sign_up(fresh_email)
    tab.add_passkey(expected=1)

    tab.goto("/admin/")
    expect(page.locator("[data-error-message]")).to_have_text("The back office is for staff only.")
    snap(tab, "0-not-staff")
    tab.console_errors.clear()  # Chromium logs the 403 of the page itself

    make_staff(site, fresh_email)
    tab.sign_out()
    page.wait_for_url("**/account")  # the passkey signs straight back in, by autofill
    tab.expect_signed_in_as(fresh_email)

    tab.goto("/admin/")
    expect(page.locator("[data-staff-email]")).to_have_text(fresh_email)
    expect(page.get_by_text("Accounts with a passkey")).to_be_visible()
    page_is_clean(tab)
    snap(tab, "1-dashboard")
    for name, path, heading in VIEWS:
        tab.goto(path)
        expect(page.locator(".card-title").first).to_have_text(heading)
        page_is_clean(tab)
        snap(tab, name)

    tab.goto(f"/admin/user/list?search={member}")
    page.locator("a[data-details]").first.click()
    page.wait_for_url("**/admin/user/details/*")
    snap(tab, "user-details")
    page.get_by_text("Disable", exact=True).click()
    page.get_by_role("button", name="Disable and sign out").click()
    page.wait_for_url("**/admin/user/details/*")
    expect(page.get_by_role("status")).to_have_text("The account is disabled.")
    expect(page.get_by_role("button", name="Enable")).to_be_visible()
    page_is_clean(tab)
    snap(tab, "action-done")

    tab.goto("/admin/audit-event/list?kind=account_disabled")
    expect(page.locator("tbody")).to_contain_text(f"by={fresh_email}")
    snap(tab, "audit-filtered")

    # The passkey is left behind (another device): only an emailed code can sign in now.
    tab.cdp.send("WebAuthn.clearCredentials", {"authenticatorId": tab.authenticator_id})
    with page.expect_response(lambda r: r.url.endswith("/admin/logout")) as answer:
        page.get_by_role("button", name="Sign out").click()
    assert answer.value.status == 303
    assert answer.value.headers.get("location") == "/login"

    code = tab.request_code(fresh_email, at="/login", button="Email me a code")
    tab.enter_code(code, lands_on="/account")
    tab.goto("/admin/")
    expect(page.locator("[data-error-message]")).to_contain_text(
        "You signed in with an emailed code"
    )
    expect(page.get_by_role("link", name="Confirm with a passkey")).to_be_visible()
    snap(tab, "refused-code-session")
