"""The whole journey with a keyboard and nothing else, in a real Chromium (issue 18).

Sign up, the mailed code, a passkey, sign out, a passkey sign-in that fails (no passkey in this
browser at that moment) and then succeeds: every step is Tab, Shift+Tab, typing and Enter
through `page.keyboard`; no click, no `fill`. At each Tab the focused element must show where it
is (WCAG 2.4.7) and be on screen (2.4.11). The passkey moments must speak for people who cannot
see the browser's dialog: each passkey button is described by what it is about to do, a failure
takes focus to the error (an alert), and success starts the next page at its heading with the
news in a status region. Screenshots: tests/artifacts/screenshots/test_keyboard...-*.png.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Route, expect

if TYPE_CHECKING:
    from tests.e2e.conftest import Tab

pytestmark = pytest.mark.e2e

MOST_TABS = 40  # more than any page here needs to reach its main control from the top

# What has focus, and whether a sighted keyboard user can see it there.
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e);
  const box = e.getBoundingClientRect();
  return {
    tag: e.tagName.toLowerCase(),
    name: e.getAttribute("name"),
    text: (e.innerText || e.value || "").trim().slice(0, 60),
    focusVisible: e.matches(":focus-visible"),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    onScreen: box.width > 0 && box.height > 0 && box.top >= 0 && box.left >= 0
      && box.bottom <= innerHeight && box.right <= innerWidth,
  };
}"""


def focused(tab: Tab) -> dict[str, Any] | None:
    found: dict[str, Any] | None = tab.page.evaluate(FOCUSED)
    return found


def tab_to(tab: Tab, selector: str, *, backwards: bool = False) -> int:
    """Presses Tab (or Shift+Tab) until `selector` has focus; returns how many presses it took.
    Every element on the way must show its focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for presses in range(1, MOST_TABS + 1):
        tab.page.keyboard.press(key)
        now = focused(tab)
        assert now is not None, f"{key} #{presses} left focus on the page itself"
        assert now["focusVisible"] and now["outline"], f"focus not visible on {now}"
        assert now["onScreen"], f"the focused element is off screen: {now}"
        if tab.page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return presses
    raise AssertionError(f"{MOST_TABS} presses of {key} never reached {selector}: at {now}")


def press_enter(tab: Tab, *, lands_on: str) -> None:
    with tab.page.expect_navigation():
        tab.page.keyboard.press("Enter")
    tab.arrive(lands_on)


def expect_arrival(tab: Tab, heading: str, news: str) -> None:
    """After a passkey ceremony: focus on the new page's heading, the news read out."""
    page = tab.page
    expect(page.locator("main h1")).to_be_focused()
    expect(page.locator("main h1")).to_have_text(heading)
    expect(page.locator("[data-announce]")).to_have_text(news)
    expect(page.locator("[data-announce]")).to_have_attribute("role", "status")


def test_the_whole_journey_by_keyboard(tab: Tab, fresh_email: str) -> None:
    page = tab.page
    site = tab.site

    # --- sign up: Email, Enter; the code, Enter ------------------------------------------------
    tab.goto("/register")
    presses = tab_to(tab, "input[name=email]")
    assert presses <= 5, f"{presses} Tabs to the Email field: only the header comes first"
    page.keyboard.type(fresh_email)
    tab.shot("1-register")
    press_enter(tab, lands_on="/code")

    # the page starts where the person goes on: in the Code field
    expect(page.locator("input[name=code]")).to_be_focused()
    now = focused(tab)
    assert now is not None and now["focusVisible"] and now["outline"], now
    page.keyboard.type(site.code_for(fresh_email, count=1))
    tab.shot("2-code")
    press_enter(tab, lands_on="/account/passkeys?new=1")

    # --- a passkey: the button says what it will do; Enter; the page that follows says it worked
    add = page.locator("[data-passkey-register-button]")
    expect(add).to_have_accessible_description(
        "The button opens your browser's passkey window: it saves a new passkey for this site,"
        " which you unlock with your fingerprint, face, PIN or screen lock."
    )
    tab_to(tab, "[data-passkey-register-button]")
    # Before the browser's dialog opens (here: held at the request for its options) the page
    # says what is coming, and the busy button keeps focus.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/account/passkeys/options", hold)
    page.keyboard.press("Enter")
    status = page.locator("[data-passkey-register] [data-passkey-status]")
    expect(status).to_have_text("Waiting for your passkey: follow the window your browser opened.")
    expect(status).to_have_attribute("role", "status")
    expect(add).to_be_focused()
    expect(add).to_have_attribute("aria-disabled", "true")
    tab.shot("3-add-passkey-waiting")
    # The person does not get past the fingerprint check: the request fails, and focus goes to
    # the message that says so.
    verified = {"authenticatorId": tab.authenticator_id, "isUserVerified": False}
    tab.cdp.send("WebAuthn.setUserVerified", verified)
    held[0].continue_()
    page.unroute("**/account/passkeys/options", hold)
    error = page.locator("[data-passkey-register] [data-passkey-error]")
    expect(error).to_be_focused()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text("The passkey request was cancelled or timed out. Please try again.")
    expect(status).to_have_text("")
    expect(add).to_be_enabled()
    tab.shot("3-add-passkey-failed")
    # Again, this time past the check: back to the button, Enter.
    tab.cdp.send("WebAuthn.setUserVerified", {**verified, "isUserVerified": True})
    tab_to(tab, "[data-passkey-register-button]", backwards=True)
    press_enter(tab, lands_on="/account/passkeys")
    expect_arrival(tab, "Your passkeys", "Your passkey was added.")
    expect(page.locator("li.passkey")).to_have_count(1)
    tab.shot("4-passkey-added")
    (passkey,) = tab.credentials()

    # --- sign out: to the account page by its link, then its Sign out button ---------------------
    tab_to(tab, "main a[href='/account']")
    press_enter(tab, lands_on="/account")
    tab_to(tab, "form[action='/logout'] button")
    # This browser's passkey is put aside, or /login's autofill would sign straight back in.
    tab.cdp.send(
        "WebAuthn.removeCredential",
        {"authenticatorId": tab.authenticator_id, "credentialId": passkey["credentialId"]},
    )
    press_enter(tab, lands_on="/login")
    assert tab.wait_for_autofill_to_settle()["outcome"] == "rejected:NotAllowedError"

    # --- sign in with the passkey: first with none here (it fails), then with it ----------------
    sign_in = page.locator("[data-passkey-login-button]")
    hint = page.locator("#passkey-login-hint")
    expect(sign_in).to_have_accessible_description(hint.inner_text())
    tab_to(tab, "[data-passkey-login-button]")
    page.keyboard.press("Enter")
    error = page.locator("[data-passkey-error]")
    expect(error).to_be_focused()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text("The passkey request was cancelled or timed out. Please try again.")
    expect(sign_in).to_be_enabled()
    tab.shot("5-sign-in-failed")

    tab.add_credential(passkey)
    tab_to(tab, "[data-passkey-login-button]", backwards=True)
    press_enter(tab, lands_on="/account")
    expect_arrival(tab, "Your account", "You are signed in.")
    tab.expect_signed_in_as(fresh_email)
    tab.shot("6-signed-in")
    assert tab.console_errors == []
    assert tab.probe()["csp"] == []
