"""Account recovery with a second factor, in a real Chromium (issue 10).

The authenticator app is played by pyotp, from the key the page shows; the recovery codes are
read off the page as a person would copy them down. Recovery then happens in other browser
contexts, whose virtual authenticators hold no passkey for the account.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyotp
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import close_tab, open_tab

if TYPE_CHECKING:
    from tests.e2e.conftest import Site, Tab

pytestmark = pytest.mark.e2e

RECOVERY_NOTICE = "You signed in with an emailed code. Add a passkey to use your whole account."


@contextlib.contextmanager
def other_browser(browser: Browser, site: Site, tab: Tab, label: str) -> Iterator[Tab]:
    """A browser context of its own, with an empty virtual authenticator; closed afterwards.
    Its screenshots are named `<test>-<label>-<step>.png`."""
    other = open_tab(browser, site, f"{tab.name}-{label}")
    try:
        yield other
    except Exception:
        with contextlib.suppress(Exception):
            other.shot("failed")
        print(f"{label}: {other.page.url}\nconsole errors: {other.console_errors}")
        raise
    finally:
        close_tab(other)


def start_recovery(tab: Tab, email: str, step: str) -> None:
    """/login with no passkey here, Email + "Email me a code", the mailed Code + "Verify": an
    account with a second factor is asked for it next."""
    tab.goto("/login")
    assert tab.wait_for_autofill_to_settle()["outcome"] == "rejected:NotAllowedError"
    code = tab.request_code(email, at="/login", button="Email me a code", shot=f"{step}-login")
    tab.enter_code(code, lands_on="/login/second-factor", shot=f"{step}-code")
    expect(tab.page.get_by_role("heading", name="One more step")).to_be_visible()
    expect(tab.page.get_by_label("Authenticator code")).to_be_visible()


def enter_second_factor(tab: Tab, code: str) -> None:
    page = tab.page
    page.get_by_label("Authenticator code").fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()


def test_recovery_with_app_and_recovery_codes(
    browser: Browser, site: Site, tab: Tab, fresh_email: str
) -> None:
    """Set up an authenticator app (QR code + key, then a code from the app) and ten recovery
    codes; then, in a browser without the passkey, the emailed code alone is not enough: the
    site asks for the "Authenticator code", a recovery code opens a recovery session, and adding
    a passkey there makes it a full one. The same recovery code is refused the second time, and
    another unused one still works."""
    page = tab.page
    tab.sign_up(fresh_email)
    tab.add_passkey(expected=1)

    # --- setting up the second factor ----------------------------------------------------------
    tab.goto("/account")
    page.get_by_role("link", name="Account recovery").click()
    tab.arrive("/account/recovery")
    expect(page.get_by_role("heading", name="Account recovery", exact=True)).to_be_visible()
    tab.shot("01-recovery-page")

    page.get_by_role("link", name="Set up an authenticator app").click()
    tab.arrive("/account/recovery/app")
    qr = page.locator(".qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100, box
    secret = "".join((page.locator("[data-totp-secret]").text_content() or "").split())
    assert len(secret) >= 16 and secret.isalnum(), secret
    tab.shot("02-app-setup")

    page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    tab.arrive("/account/recovery?app=on")
    expect(page.get_by_text("Your authenticator app is set up.")).to_be_visible()
    expect(page.get_by_role("button", name="Turn off the authenticator app")).to_be_visible()
    tab.shot("03-app-on")

    with page.expect_navigation():
        page.get_by_role("button", name="Show new recovery codes").click()
    tab.arrive("/account/recovery/codes")
    codes = page.locator("[data-recovery-codes] code").all_text_contents()
    assert len(codes) == 10, codes
    assert len(set(codes)) == 10, codes
    download = page.get_by_role("link", name="Download as a text file")
    expect(download).to_have_attribute("download", "recovery-codes.txt")
    href = download.get_attribute("href") or ""
    assert href.startswith("data:text/plain"), href[:40]
    assert all(code in unquote(href) for code in codes)
    tab.shot("04-recovery-codes")
    page.get_by_role("link", name="Done").click()
    tab.arrive("/account/recovery")
    expect(page.get_by_text("You have 10 unused recovery codes.")).to_be_visible()

    # --- recovery in a browser without the passkey -----------------------------------------------
    with other_browser(browser, site, tab, "b") as b:
        start_recovery(b, fresh_email, "05")
        b.shot("06-authenticator-code")
        enter_second_factor(b, codes[0])
        b.arrive("/account")  # the account has a passkey (elsewhere): no new-account prompt
        b.expect_signed_in_as(fresh_email)
        expect(b.page.get_by_text(RECOVERY_NOTICE)).to_be_visible()
        b.shot("07-signed-in-for-recovery")

        # a recovery session may not manage the account yet
        refused = b.page.goto("/account/recovery")
        assert refused is not None
        assert refused.status == 403, refused.status
        expect(b.page.get_by_role("alert")).to_contain_text("add a new passkey first")
        b.console_errors.clear()  # Chromium logs the 403 just asked for as an error
        b.goto("/account")

        b.page.get_by_role("link", name="Add a passkey").click()
        b.arrive("/account/passkeys")
        landed = b.add_passkey(expected=2, shot="08-add-passkey")
        # the account has another signed-in device (the first browser): the site offers to
        # review it
        assert landed == "/account/sessions?offer=1", landed
        b.goto("/account")
        b.expect_signed_in_as(fresh_email)
        expect(b.page.get_by_text(RECOVERY_NOTICE)).to_have_count(0)
        b.goto("/account/recovery")
        b.arrive("/account/recovery")
        expect(b.page.get_by_text("You have 9 unused recovery codes.")).to_be_visible()
        b.shot("09-signed-in-fully")
        assert b.console_errors == []

    # --- the same recovery code a second time ----------------------------------------------------
    with other_browser(browser, site, tab, "c") as c:
        start_recovery(c, fresh_email, "10")
        enter_second_factor(c, codes[0])
        c.arrive("/login/second-factor")
        error = c.page.locator(".field .error")
        expect(error).to_be_visible()
        expect(error).not_to_have_text("")
        expect(c.page.get_by_label("Authenticator code")).to_have_attribute("aria-invalid", "true")
        c.shot("11-used-code-refused")
        c.goto("/account")
        c.arrive("/login")
        assert fresh_email not in c.page.content()

        # it was that code that was refused, not recovery itself: a fresh code still works
        start_recovery(c, fresh_email, "12")
        enter_second_factor(c, codes[1])
        c.arrive("/account")
        c.expect_signed_in_as(fresh_email)
        expect(c.page.get_by_text(RECOVERY_NOTICE)).to_be_visible()
        c.shot("13-another-code-works")
