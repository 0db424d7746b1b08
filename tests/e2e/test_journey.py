"""The contract's journey in a real Chromium, against a real `keyfob serve` and SMTP server.

Every test gets a fresh browser context with its own virtual authenticator (so it shares no
cookies and no passkeys with any other test); the codes are read from the mail the SMTP sink
received, as a person would read them.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Response, expect

if TYPE_CHECKING:
    from tests.e2e.conftest import Enrolled, Site, Tab

pytestmark = pytest.mark.e2e


def verify_posts(tab: Tab) -> list[Response]:
    """Starts recording the answers to POST /login/passkey/verify (passkey sign-ins)."""
    seen: list[Response] = []
    tab.page.on(
        "response",
        lambda r: seen.append(r) if r.url.endswith("/login/passkey/verify") else None,
    )
    return seen


def test_core_journey(tab: Tab, fresh_email: str) -> None:
    """Contract steps 1-6: register with an email address, type the mailed code, add a passkey
    when asked at once, sign out, and be signed back in by the passkey with nothing clicked:
    the Email field's autofill (conditional mediation) finds the passkey on /login by itself.
    """
    page = tab.page
    passkey_sign_ins = verify_posts(tab)

    tab.sign_up(fresh_email, shots=True)
    expect(page.get_by_text("Your email address is confirmed.")).to_be_visible()
    expect(page.locator("li.passkey")).to_have_count(0)
    assert tab.credentials() == []
    tab.shot("3-asked-for-passkey")

    tab.add_passkey(expected=1, shot="4-add-passkey")
    expect(page.locator("li.passkey .passkey-name")).to_have_text("Passkey")
    (credential,) = tab.credentials()
    assert credential["rpId"] == "localhost"
    assert credential["isResidentCredential"] is True
    signs_before = credential["signCount"]

    tab.goto("/account")
    tab.expect_signed_in_as(fresh_email)
    tab.shot("5-account")

    tab.sign_out()
    # /login starts autofill on load; the virtual authenticator answers it at once.
    page.wait_for_url("**/account")
    tab.expect_signed_in_as(fresh_email)
    tab.shot("6-signed-in-by-passkey")
    assert [r.status for r in passkey_sign_ins] == [200]
    (after,) = tab.credentials()
    assert after["signCount"] > signs_before, "the passkey was not used to sign in"
    assert tab.console_errors == []


def test_sign_in_with_passkey_button(enrolled: Enrolled, tab: Tab) -> None:
    """The "Sign in with a passkey" button signs in on its own, without autofill racing it.

    /login starts a conditional (autofill) request on load, and here that request resolves at
    once when the authenticator holds a passkey, so a click could not be told from autofill.
    So /login is opened with the authenticator empty: its conditional request rejects at once
    (NotAllowedError, which the page must not show as an error). Only after that request has
    settled, as an init script that only records `navigator.credentials.get()` calls shows, is
    the account's passkey (saved with its private key from the authenticator that made it) put
    into this tab's authenticator with WebAuthn.addCredential. Nothing but the button can then
    use it, and the passkey's sign count proves it was used.
    """
    page = tab.page
    tab.goto("/login")
    email_field = page.get_by_label("Email")
    expect(email_field).to_have_attribute("autocomplete", "username webauthn")
    autofill = tab.wait_for_autofill_to_settle()
    assert autofill["outcome"] == "rejected:NotAllowedError", autofill
    expect(page.locator("[data-passkey-error]")).to_be_hidden()
    expect(page).to_have_url(f"{tab.site.url}/login")

    tab.add_credential(enrolled.credential)
    tab.shot("1-login")
    passkey_sign_ins = verify_posts(tab)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/account")
    assert [r.status for r in passkey_sign_ins] == [200]  # the button's, and only it
    tab.expect_signed_in_as(enrolled.email)
    tab.shot("2-signed-in")
    (credential,) = tab.credentials()
    assert credential["signCount"] > enrolled.credential["signCount"]


def test_recovery_by_email_code(enrolled: Enrolled, tab: Tab) -> None:
    """A person whose passkey is elsewhere (this browser's authenticator is empty) gets back in
    with an emailed code from /login, adds a new passkey here, signs out, and the new passkey
    signs them in."""
    page = tab.page
    tab.goto("/login")
    assert tab.wait_for_autofill_to_settle()["outcome"] == "rejected:NotAllowedError"

    code = tab.request_code(enrolled.email, at="/login", button="Email me a code", shot="1-login")
    # An account that has passkeys lands on /account, which asks for one on this device.
    tab.enter_code(code, lands_on="/account", shot="2-code")
    tab.expect_signed_in_as(enrolled.email)
    tab.shot("3-signed-in-by-code")
    page.get_by_role("link", name="Add a passkey").click()
    page.wait_for_url("**/account/passkeys")
    expect(page.locator("li.passkey")).to_have_count(1)  # the one in the other browser

    # The site may offer to sign out the other devices first (the other browser still is).
    landed = tab.add_passkey(expected=2, shot="4-new-passkey")
    assert landed in {"/account/passkeys", "/account/sessions?offer=1"}, landed
    (new_passkey,) = tab.credentials()
    assert new_passkey["credentialId"] != enrolled.credential["credentialId"]

    tab.sign_out()
    page.wait_for_url("**/account")
    tab.expect_signed_in_as(enrolled.email)
    tab.shot("5-signed-in-by-new-passkey")
    (used,) = tab.credentials()
    assert used["signCount"] > new_passkey["signCount"]


def test_browser_without_the_passkey_cannot_sign_in(enrolled: Enrolled, tab: Tab) -> None:
    """A second browser whose authenticator holds no passkey for the site: the button shows an
    error, nobody is signed in, and the account pages send it back to /login."""
    page = tab.page
    tab.goto("/login")
    assert tab.wait_for_autofill_to_settle()["outcome"] == "rejected:NotAllowedError"
    error = page.locator("[data-passkey-error]")
    expect(error).to_be_hidden()  # a failed autofill is not an error to show

    button = page.get_by_role("button", name="Sign in with a passkey")
    button.click()
    expect(error).to_be_visible()
    expect(error).not_to_have_text("")
    # the site's own (translated) words, not the browser's DOMException text and its w3.org link
    expect(error).not_to_contain_text("w3.org")
    expect(button).to_be_enabled()
    expect(page).to_have_url(f"{tab.site.url}/login")
    tab.shot("1-error")

    for path in ("/account", "/account/passkeys"):
        tab.goto(path)
        expect(page).to_have_url(f"{tab.site.url}/login")
        expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    assert tab.credentials() == []
    assert enrolled.email not in page.content()


@pytest.mark.parametrize("path", ["/register", "/login", "/code"])
def test_page_has_no_console_errors(tab: Tab, fresh_email: str, path: str) -> None:
    """The page loads its stylesheet and script under the site's CSP with nothing refused and
    nothing logged as an error (console, uncaught exceptions, failed requests)."""
    page = tab.page
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response", lambda r: failed.append(f"{r.url}: {r.status}") if r.status >= 400 else None
    )
    if path == "/code":
        tab.request_code(fresh_email, at="/register", button="Send code")
        expect(page.get_by_label("Code")).to_be_visible()
        document = page.reload()
    else:
        document = page.goto(path)
    assert document is not None
    assert document.status == 200
    assert "script-src 'self'" in document.headers["content-security-policy"]
    expect(page).to_have_url(f"{tab.site.url}{path}")
    page.wait_for_load_state("networkidle")
    if path == "/login":
        # its script ran: the autofill request was made, and (no passkey here) was refused
        assert tab.wait_for_autofill_to_settle()["outcome"] == "rejected:NotAllowedError"
        expect(page.locator("[data-passkey-error]")).to_be_hidden()
    css = page.evaluate("() => [...document.styleSheets].map((s) => s.href)")
    assert any(href and href.endswith("/static/css/site.css") for href in css), css
    tab.shot("page")

    assert tab.console_errors == []
    assert tab.probe()["csp"] == []
    assert failed == []


def test_the_page_after_a_redirect_sees_what_the_request_saved(site: Site) -> None:
    """After "Send code" answers with a redirect to /code, /code knows the code just issued.

    Not a browser test: plain HTTP requests to the real server, as quick as a browser on the
    same machine at its quickest, repeated. They guard against a bug a browser hits only now
    and then: the site committed a request's transaction after sending its answer, so the page
    the answer redirected to could be served without the request's writes (no pending code on
    /code, no session on /account: both then sent the browser on to /login)."""
    lost = 0
    attempts = 10
    for attempt in range(attempts):
        with httpx.Client(base_url=site.url) as client:
            page = client.get("/register")
            token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
            assert token is not None
            email = f"redirect-{attempt}-{uuid.uuid4().hex[:10]}@example.com"
            sent = client.post("/register", data={"email": email, "csrf_token": token[1]})
            assert sent.status_code == 303
            assert sent.headers["location"] == "/code"
            if client.get("/code").status_code != 200:
                lost += 1
    assert lost == 0, f"/code sent the browser to /login in {lost} of {attempts} tries"
