"""Managing an account in a real Chromium: several passkeys, signed-in devices, sudo mode.

Each test has a fresh browser context with its own virtual authenticator (see conftest.py);
the second browser of a test is a context of its own, closed at the end of the test.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import close_tab, open_tab

if TYPE_CHECKING:
    from tests.e2e.conftest import Site, Tab

pytestmark = pytest.mark.e2e

REAUTH_MINUTES = 1


def passkey_ids(tab: Tab) -> list[str]:
    """The ids of the passkeys listed on /account/passkeys, in the page's order."""
    items = tab.page.locator("li.passkey")
    return [str(items.nth(i).get_attribute("data-passkey-id")) for i in range(items.count())]


def swap_authenticator(tab: Tab) -> None:
    """Detaches the tab's virtual authenticator (and the passkeys it holds) and attaches a new,
    empty one, as if the person went on on another device: the first one's passkey would
    otherwise be in the site's excludeCredentials and make it refuse a second."""
    assert tab.authenticator_id is not None
    tab.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": tab.authenticator_id})
    tab.authenticator_id = None
    tab.add_authenticator()
    assert tab.credentials() == []


@contextlib.contextmanager
def second_browser(browser: Browser, site: Site, tab: Tab) -> Iterator[Tab]:
    """Another browser context (cookies and authenticator of its own); closed afterwards.
    Its screenshots are named `<test>-b-<step>.png`."""
    other = open_tab(browser, site, f"{tab.name}-b")
    try:
        yield other
    except Exception:
        with contextlib.suppress(Exception):
            other.shot("failed")
        print(f"second browser: {other.page.url}\nconsole errors: {other.console_errors}")
        raise
    finally:
        close_tab(other)


def test_two_passkeys_rename_and_delete(tab: Tab, fresh_email: str) -> None:
    """Issue 3: an account with passkeys on two devices lists both; one is renamed through its
    own Rename form, the other is deleted after a confirmation page, and the list then shows
    only the renamed one with the removal notice."""
    page = tab.page
    tab.sign_up(fresh_email)
    tab.add_passkey(expected=1)
    (first_credential,) = tab.credentials()

    # The same person on a second device: this tab, with another authenticator.
    swap_authenticator(tab)
    landed = tab.add_passkey(expected=2)
    assert landed == "/account/passkeys", landed
    (second_credential,) = tab.credentials()
    assert second_credential["credentialId"] != first_credential["credentialId"]
    ids = passkey_ids(tab)
    assert len(set(ids)) == 2, ids
    tab.shot("1-two-passkeys")

    # Rename the first listed one through its own form (fields prefixed p<ID>-).
    keep, drop = ids
    kept = page.locator(f'li.passkey[data-passkey-id="{keep}"]')
    name_field = kept.locator(f"#p{keep}-name")
    expect(name_field).to_have_attribute("name", f"p{keep}-name")
    name_field.fill("Work laptop")
    with page.expect_navigation():
        kept.get_by_role("button", name="Rename").click()
    tab.arrive("/account/passkeys")
    expect(kept.locator(".passkey-name")).to_have_text("Work laptop")
    other = page.locator(f'li.passkey[data-passkey-id="{drop}"]')
    expect(other.locator(".passkey-name")).not_to_have_text("Work laptop")
    expect(page.locator("li.passkey")).to_have_count(2)
    tab.shot("2-renamed")

    # Delete the other one: its link opens a confirmation page first.
    other.get_by_role("link", name="Delete").click()
    tab.arrive(f"/account/passkeys/{drop}/delete")
    expect(page.get_by_role("heading", name="Delete passkey")).to_be_visible()
    expect(page.get_by_text("This is your last passkey.")).to_have_count(0)
    tab.shot("3-delete-confirmation")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete").click()
    tab.arrive("/account/passkeys?removed=1")
    expect(page.locator("li.passkey")).to_have_count(1)
    expect(page.locator("li.passkey")).to_have_attribute("data-passkey-id", keep)
    expect(page.locator("li.passkey .passkey-name")).to_have_text("Work laptop")
    expect(page.get_by_role("status").filter(has_text="The passkey was removed.")).to_be_visible()
    expect(page.get_by_role("link", name="Review signed-in devices")).to_be_visible()
    tab.shot("4-after-delete")
    assert tab.console_errors == []


def test_sign_out_everywhere_else(browser: Browser, site: Site, tab: Tab, fresh_email: str) -> None:
    """Issue 3: two browsers signed in to one account are both listed on "Signed-in devices",
    the current one marked "This device"; "Sign out everywhere else" in browser A ends
    browser B's session at once: B's next request for /account is sent to /login."""
    a = tab
    a.sign_up(fresh_email)
    a.add_passkey(expected=1)
    (credential,) = a.credentials()

    with second_browser(browser, site, a) as b:
        # B holds the same (synced) passkey: /login's autofill signs it in by itself.
        b.add_credential(credential)
        b.goto("/login")
        b.page.wait_for_url("**/account")
        b.expect_signed_in_as(fresh_email)
        b.shot("1-signed-in")

        page = a.page
        a.goto("/account")
        page.get_by_role("link", name="Signed-in devices").click()
        a.arrive("/account/sessions")
        sessions = page.locator("li.session")
        expect(sessions).to_have_count(2)
        expect(page.locator("li.session.current")).to_have_count(1)
        expect(page.locator("li.session.current .badge")).to_have_text("This device")
        expect(page.locator(".badge")).to_have_count(1)
        # the other device has its own "Sign out"; this one has none
        expect(page.locator("li.session.current").get_by_role("button")).to_have_count(0)
        expect(
            page.locator("li.session:not(.current)").get_by_role("button", name="Sign out")
        ).to_be_visible()
        a.shot("1-sessions-before")

        with page.expect_navigation():
            page.get_by_role("button", name="Sign out everywhere else").click()
        a.arrive("/account/sessions?done=others")
        expect(page.get_by_text("Every other device is signed out.")).to_be_visible()
        expect(sessions).to_have_count(1)
        expect(page.locator("li.session.current .badge")).to_have_text("This device")
        expect(page.get_by_role("button", name="Sign out everywhere else")).to_have_count(0)
        a.shot("2-sessions-after")

        # Without the passkey, /login's autofill cannot sign B straight back in.
        b.cdp.send("WebAuthn.clearCredentials", {"authenticatorId": b.authenticator_id})
        response = b.page.reload()
        assert response is not None
        redirect = response.request.redirected_from
        assert redirect is not None, "/account was served to a signed-out browser"
        assert redirect.url == f"{site.url}/account"
        answer = redirect.response()
        assert answer is not None
        assert answer.status == 303, answer.status
        b.arrive("/login")
        expect(b.page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
        assert fresh_email not in b.page.content()
        b.shot("2-signed-out")

        # A is still signed in.
        a.goto("/account")
        a.expect_signed_in_as(fresh_email)
        assert a.console_errors == []


@pytest.mark.parametrize(
    "site", [{"KEYFOB_REAUTH_MINUTES": str(REAUTH_MINUTES)}], indirect=True, ids=["reauth-1min"]
)
def test_sudo_mode_asks_for_the_passkey_again(tab: Tab, fresh_email: str) -> None:
    """Issue 3: a dangerous page (deleting a passkey) needs a recent sign-in. On a server whose
    "recent" is 1 minute (KEYFOB_REAUTH_MINUTES=1, the least it allows), the Delete link opens
    the confirmation page straight away at first; once the sign-in is over a minute old it opens
    "Confirm it's you" instead, and "Confirm with a passkey" leads back to the confirmation
    page. The test waits out the minute once: the server's clock is the only one that counts."""
    page = tab.page
    tab.sign_up(fresh_email)
    tab.add_passkey(expected=1)  # the session is now a passkey sign-in, from now
    signed_in = time.monotonic()
    (passkey_id,) = passkey_ids(tab)
    (before,) = tab.credentials()
    delete_path = f"/account/passkeys/{passkey_id}/delete"

    page.get_by_role("link", name="Delete").click()
    tab.arrive(delete_path)
    expect(page.get_by_role("heading", name="Delete passkey")).to_be_visible()
    tab.shot("1-delete-while-recent")

    time.sleep(max(0.0, signed_in + REAUTH_MINUTES * 60 + 2 - time.monotonic()))

    tab.goto("/account/passkeys")
    page.get_by_role("link", name="Delete").click()
    tab.arrive(f"/account/confirm?next=%2Faccount%2Fpasskeys%2F{passkey_id}%2Fdelete")
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    expect(page.get_by_role("button", name="Email me a code")).to_be_visible()
    tab.shot("2-confirm-its-you")

    with page.expect_navigation():
        page.get_by_role("button", name="Confirm with a passkey").click()
    tab.arrive(delete_path)
    expect(page.get_by_role("heading", name="Delete passkey")).to_be_visible()
    expect(page.locator("[data-passkey-error]")).to_have_count(0)
    tab.shot("3-back-at-delete")
    (after,) = tab.credentials()
    assert after["signCount"] > before["signCount"], "the passkey was not used to confirm"

    # Confirmed: the deletion itself goes through now.
    with page.expect_navigation():
        page.get_by_role("button", name="Delete").click()
    tab.arrive("/account/passkeys?removed=1")
    expect(page.locator("li.passkey")).to_have_count(0)
    assert tab.console_errors == []
