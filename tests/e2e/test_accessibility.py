"""WCAG 2.2 A and AA, checked the way auditors check it: axe-core in a real Chromium (issue 18).

Every page a person or a member of staff can reach, in English and in Arabic (right to left):
signed out, signed in (the account and every page under it, in the states a person meets them:
a form with an error, a just-made account with no passkey yet) and the back office as staff.
axe-core (tests/e2e/axe.py: pinned, from the npm registry) is evaluated over the DevTools
protocol, which the page's Content-Security-Policy does not govern, so the checker runs while
the site's own policy stays exactly as strict as it is; every page's response is checked to
still carry it, and the page to have refused nothing.

Then reflow (WCAG 1.4.10) and resize (1.4.4): /register, /login, /account and the back office's
dashboard must not scroll sideways 320 CSS px wide, nor in a 1280 px window zoomed to 200 %.
Screenshots: tests/artifacts/screenshots/a11y-<lang>-<page>-{320px,1280px-at-200-percent}.png.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.e2e import axe
from tests.e2e.conftest import (
    SCREENSHOTS,
    close_tab,
    file_name,
    make_staff,
    new_email,
    open_tab,
)
from tests.e2e.test_admin import CSRF_META, VIEWS
from tests.mailsink import CODE_LINE, text_of

if TYPE_CHECKING:
    from tests.e2e.conftest import Site, Tab

pytestmark = pytest.mark.e2e

LANGUAGES = ["en", "ar"]
# The WCAG 2.0, 2.1 and 2.2 success criteria at levels A and AA, as axe-core tags its rules.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# The site's policy, written out: a test that read it from the site would pass if it loosened.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

NOT_ME = re.compile(r"/account/not-me\?token=[\w.-]+")

RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ")),
    first: v.nodes[0].failureSummary,
  }));
}"""


@dataclass
class Audit:
    """One browser tab checked page after page; violations are kept, by page, to report all."""

    tab: Tab
    lang: str
    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    documents: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        page = self.tab.page

        def on_response(response: Response) -> None:
            if response.request.is_navigation_request() and response.frame == page.main_frame:
                self.documents.append(response)

        page.on("response", on_response)

    def check(self, label: str) -> None:
        """axe over the document now shown: no violation of the WCAG A/AA rules."""
        page = self.tab.page
        page.wait_for_load_state("load")
        shown = page.url
        document = next(r for r in reversed(self.documents) if r.url == shown)
        assert document.headers.get("content-security-policy") == STRICT_CSP, (label, shown)
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe.source())
        violations: list[dict[str, Any]] = page.evaluate(RUN_AXE, WCAG_TAGS)
        assert page.evaluate("() => window.axe.version") == axe.VERSION
        # nothing the page (or the checker) did was refused by the site's policy
        assert self.tab.probe()["csp"] == [], (label, self.tab.probe()["csp"])
        self.checked.append(label)
        if violations:
            self.found[f"{label} ({shown.removeprefix(self.tab.site.url)})"] = violations

    def report(self) -> str:
        return json.dumps(self.found, indent=1, ensure_ascii=False)

    def assert_clean(self) -> None:
        ids = sorted({v["id"] for found in self.found.values() for v in found})
        assert self.found == {}, f"{self.lang}: {ids} on {len(self.found)} pages\n{self.report()}"


def open_in(browser: Browser, site: Site, name: str, lang: str) -> Tab:
    """A fresh tab whose pages come in `lang`: the cookie the language menu would set."""
    tab = open_tab(browser, site, name)
    tab.context.add_cookies([{"name": "lang", "value": lang, "url": site.url}])
    return tab


@contextlib.contextmanager
def tab_in(
    browser: Browser, site: Site, request: pytest.FixtureRequest, lang: str, label: str = ""
) -> Iterator[Tab]:
    tab = open_in(browser, site, f"{file_name(request.node)}{label}", lang)
    try:
        yield tab
    except BaseException:
        with contextlib.suppress(Exception):
            tab.shot("failed")
        print(f"page: {tab.page.url}\nconsole errors: {tab.console_errors}")
        raise
    finally:
        close_tab(tab)


def submit(tab: Tab, button: str) -> None:
    """Presses a form's button (by its English-independent position) and waits for the page."""
    with tab.page.expect_navigation():
        tab.page.locator(button).click()


def sign_up(tab: Tab, email: str) -> None:
    """Email, the mailed code: the new account is asked for a passkey (no English labels used)."""
    page = tab.page
    tab.goto("/register")
    page.locator("input[name=email]").fill(email)
    submit(tab, "form[action='/register'] [type=submit]")
    tab.arrive("/code")
    page.locator("input[name=code]").fill(tab.site.code_for(email, count=1))
    submit(tab, "form[action='/code'] [type=submit]")
    tab.arrive("/account/passkeys?new=1")


def add_passkey(tab: Tab) -> None:
    with tab.page.expect_navigation():
        tab.page.locator("[data-passkey-register-button]").click()


def mailed(site: Site, email: str, *, after: int, pattern: re.Pattern[str]) -> re.Match[str]:
    """The first mail to `email` after the `after` first ones whose text matches `pattern`
    (security notices are sent on their own and may arrive in between)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for mail in site.mail.to(email)[after:]:
            found = pattern.search(text_of(mail))
            if found:
                return found
        time.sleep(0.05)
    raise AssertionError(f"no mail to {email} matching {pattern.pattern}")


def recover(
    browser: Browser,
    site: Site,
    request: pytest.FixtureRequest,
    lang: str,
    email: str,
    recovery_code: str,
    audit: Audit,
) -> None:
    """Another browser, whose authenticator is empty, gets in with a code and a recovery code."""
    with tab_in(browser, site, request, lang, "-recovery") as other:
        page = other.page
        checked = Audit(other, lang)
        other.goto("/login")
        other.wait_for_autofill_to_settle()
        before = site.mails_to(email)
        page.locator("input[name=email]").fill(email)
        submit(other, "form[action='/login'] [type=submit]")
        other.arrive("/code")
        code = mailed(site, email, after=before, pattern=CODE_LINE)[1]
        page.locator("input[name=code]").fill(code)
        submit(other, "form[action='/code'] [type=submit]")
        other.arrive("/login/second-factor")
        checked.check("second factor")
        page.locator("input[name=code]").fill("000000")
        submit(other, "form[action='/login/second-factor'] [type=submit]")
        expect(page.locator(".field .error")).to_be_visible()
        checked.check("second factor, with an error")
        page.locator("input[name=code]").fill(recovery_code)
        submit(other, "form[action='/login/second-factor'] [type=submit]")
        other.arrive("/account")
        checked.check("account, a recovery session")
        other.goto(mailed(site, email, after=before, pattern=NOT_ME)[0])
        expect(page.locator("form[action='/account/not-me']")).to_be_visible()
        checked.check("this wasn't me")
    audit.checked += checked.checked
    audit.found.update(checked.found)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_persons_pages_pass_axe(
    browser: Browser, site: Site, request: pytest.FixtureRequest, lang: str
) -> None:
    """Signed out, signing up, signed in: each page and each state a person meets."""
    email = new_email(f"a11y-{lang}")
    with tab_in(browser, site, request, lang) as tab:
        page = tab.page
        audit = Audit(tab, lang)

        tab.goto("/register")
        audit.check("register")
        page.locator("input[name=email]").fill("not an address")
        submit(tab, "form[action='/register'] [type=submit]")
        expect(page.locator(".field .error")).to_be_visible()
        audit.check("register, with an error")

        tab.goto("/login")
        tab.wait_for_autofill_to_settle()
        audit.check("login")
        page.locator("[data-passkey-login-button]").click()  # no passkey in this browser yet
        expect(page.locator("[data-passkey-error]")).to_be_focused()
        audit.check("login, a passkey sign-in that failed")

        tab.goto("/no-such-page")
        audit.check("not found")
        tab.goto("/account/not-me?token=no-such-token")
        audit.check("a this-wasn't-me link that is not valid")

        # sign-up: the code page, a wrong code, then the new account asked for a passkey
        tab.goto("/register")
        page.locator("input[name=email]").fill(email)
        submit(tab, "form[action='/register'] [type=submit]")
        tab.arrive("/code")
        audit.check("code")
        page.locator("input[name=code]").fill("000000")
        submit(tab, "form[action='/code'] [type=submit]")
        expect(page.locator(".field .error")).to_be_visible()
        audit.check("code, with an error")
        page.locator("input[name=code]").fill(site.code_for(email, count=1))
        submit(tab, "form[action='/code'] [type=submit]")
        tab.arrive("/account/passkeys?new=1")
        audit.check("passkeys, a new account with none")

        add_passkey(tab)
        tab.arrive("/account/passkeys")
        expect(page.locator("li.passkey")).to_have_count(1)
        expect(page.locator("[data-announce]")).not_to_be_empty()
        audit.check("passkeys, one just added")
        passkey_id = page.locator("li.passkey").get_attribute("data-passkey-id")

        for label, path in [
            ("account", "/account"),
            ("delete a passkey", f"/account/passkeys/{passkey_id}/delete"),
            ("signed-in devices", "/account/sessions"),
            ("account recovery", "/account/recovery"),
            ("authenticator app set-up", "/account/recovery/app"),
            ("change email address", "/account/email"),
            ("delete account", "/account/delete"),
            ("confirm it's you", "/account/confirm?next=/account/delete"),
            ("back office, not staff", "/admin/"),
        ]:
            tab.goto(path)
            audit.check(label)

        tab.goto("/account/recovery/app")
        page.locator("input[name=code]").fill("000000")
        submit(tab, "form[action='/account/recovery/app'] [type=submit]")
        expect(page.locator(".field .error")).to_be_visible()
        audit.check("authenticator app set-up, with an error")

        tab.goto("/account/recovery")
        submit(tab, "form[action='/account/recovery/codes'] [type=submit]")
        tab.arrive("/account/recovery/codes")
        audit.check("recovery codes")
        recovery_codes = page.locator("[data-recovery-codes] code").all_text_contents()

        tab.goto("/account/email")
        page.locator("input[name=email]").fill(new_email(f"a11y-{lang}-new"))
        submit(tab, "form[action='/account/email'] [type=submit]")
        tab.arrive("/account/email/code")
        audit.check("change email address, the code")

        tab.goto("/account/confirm?next=/account/delete")
        submit(tab, "form[action='/account/confirm/code'] [type=submit]")
        tab.arrive("/account/confirm/code")
        audit.check("confirm it's you, the code")

        # an authenticator app, then recovery in a browser without the passkey: the emailed
        # code, the second factor, a recovery session and the mailed "this wasn't me" link
        tab.goto("/account/recovery/app")
        secret = "".join((page.locator("[data-totp-secret]").text_content() or "").split())
        page.locator("input[name=code]").fill(pyotp.TOTP(secret).now())
        submit(tab, "form[action='/account/recovery/app'] [type=submit]")
        tab.arrive("/account/recovery?app=on")
        audit.check("account recovery, with an app")
        recover(browser, site, request, lang, email, recovery_codes[0], audit)

        tab.goto("/account/delete")
        submit(tab, "form[action='/account/delete'] [type=submit]")
        audit.check("account deleted")

        assert len(audit.checked) == 29, audit.checked
        audit.assert_clean()


@dataclass
class Staff:
    tab: Tab
    email: str
    lang: str


@pytest.fixture(scope="module", params=LANGUAGES)
def staff(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Staff]:
    """A member of staff signed in with a passkey, in one language, for the whole module."""
    lang: str = request.param
    email = new_email(f"a11y-staff-{lang}")
    tab = open_in(browser, site, f"a11y-staff-{lang}", lang)
    try:
        sign_up(tab, email)
        add_passkey(tab)
        make_staff(site, email)
        tab.goto("/account")
        with tab.page.expect_response(lambda r: r.url.endswith("/logout")):
            tab.page.locator("form[action='/logout'] [type=submit]").click()
        tab.page.wait_for_url("**/account")  # the passkey signs straight back in, by autofill
        yield Staff(tab, email, lang)
    finally:
        close_tab(tab)


def test_the_back_office_passes_axe(staff: Staff) -> None:
    """The dashboard, every list, a person's details and the form that edits them."""
    tab = staff.tab
    page = tab.page
    audit = Audit(tab, staff.lang)
    tab.goto("/admin/")
    expect(page.locator("[data-staff-email]")).to_have_text(staff.email)
    audit.check("dashboard")
    menu = page.locator("aside.navbar-vertical").bounding_box()
    assert menu is not None
    menu_starts_right = menu["x"] > (page.viewport_size or {"width": 0})["width"] / 2
    assert menu_starts_right == (staff.lang == "ar"), "the menu sits where the text starts"
    tab.shot("dashboard")
    for name, path, _heading in VIEWS:
        tab.goto(path)
        audit.check(name)
        if name == "users":
            tab.shot("users")
    tab.goto(f"/admin/user/list?search={staff.email}")
    with page.expect_navigation():
        page.locator("a[data-details]").first.click()
    audit.check("a person's details")
    tab.goto(page.url.replace("/details/", "/edit/"))
    audit.check("a person's staff flag")
    tab.goto("/admin/passkey/list")
    with page.expect_navigation():
        page.locator("a[data-details]").first.click()
    audit.check("a passkey's details")

    # A list longer than a page: its first page (no "prev") and its last (no "next").
    more_than_a_page_of_audit_events(tab.site)
    tab.goto("/admin/audit-event/list")
    expect(page.locator(".pagination")).to_be_visible()
    audit.check("audit-log, first page")
    last = page.locator(".pagination a.page-link").filter(has_text=re.compile(r"^\s*\d+\s*$"))
    tab.goto(last.last.get_attribute("href") or "")
    expect(page.locator(".pagination .page-item").last).to_have_class(re.compile("disabled"))
    audit.check("audit-log, last page")
    audit.assert_clean()


def more_than_a_page_of_audit_events(site: Site) -> None:
    """Codes sent to new addresses, each one audited: plain HTTP, no browser needed."""
    with httpx.Client(base_url=site.url) as client:
        token = CSRF_META.search(client.get("/register").text)
        assert token is not None
        for _ in range(26):
            sent = client.post(
                "/register", data={"email": new_email("a11y-audit"), "csrf_token": token[1]}
            )
            assert sent.status_code == 303, sent.text


# --- reflow and zoom ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Screen:
    """What a page lays out in. Chromium zooms a page by scaling CSS px to device pixels: a
    1280 x 720 window at 200 % lays out a 640 x 360 CSS px viewport with devicePixelRatio 2,
    and its media queries see 640 px. This context is exactly that, so the page cannot tell it
    from a zoomed window (a 1280 px viewport with a scale factor of 2 would be a sharper
    screen, not zoom; CSS `zoom` on the page would leave media queries at 1280 px)."""

    name: str
    width: int
    height: int
    scale: int


SCREENS = [Screen("320px", 320, 640, 1), Screen("1280px-at-200-percent", 640, 360, 2)]
SIGNED_OUT = [("register", "/register"), ("login", "/login")]
SIGNED_IN = [("account", "/account"), ("admin", "/admin/")]

OVERFLOW = """() => {
  const root = document.documentElement;
  const sticking_out = [...document.body.querySelectorAll("*")]
    .filter((e) => {
      const box = e.getBoundingClientRect();
      return box.width > 0 && (box.right > root.clientWidth + 0.5 || box.left < -0.5);
    })
    .slice(0, 4)
    .map((e) => e.outerHTML.slice(0, 100));
  return {
    scrollWidth: root.scrollWidth,
    clientWidth: root.clientWidth,
    viewport: [innerWidth, devicePixelRatio],
    sticking_out,
  };
}"""


def fits(page: Page, screen: Screen, shot: str) -> str | None:
    """None when nothing scrolls sideways; else what sticks out. Screenshot either way."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{shot}-{screen.name}.png", full_page=True)
    found = page.evaluate(OVERFLOW)
    assert found["viewport"] == [screen.width, screen.scale], found
    if found["scrollWidth"] <= found["clientWidth"]:
        return None
    return f"{shot} at {screen.name}: {found}"


def test_pages_reflow_at_320px_and_at_200_percent_zoom(
    browser: Browser, site: Site, staff: Staff
) -> None:
    """No sideways scrolling (WCAG 1.4.10 and 1.4.4) for a person signed out, signed in, and
    for staff in the back office. The signed-in pages use the staff member's session."""
    signed_in = staff.tab.context.storage_state()
    problems: list[str | None] = []
    for screen in SCREENS:
        for state, pages in [(None, SIGNED_OUT), (signed_in, SIGNED_IN)]:
            context = browser.new_context(
                base_url=site.url,
                viewport={"width": screen.width, "height": screen.height},
                device_scale_factor=screen.scale,
                storage_state=state,
            )
            try:
                context.add_cookies([{"name": "lang", "value": staff.lang, "url": site.url}])
                page = context.new_page()
                for name, path in pages:
                    answer = page.goto(path)
                    assert answer is not None and answer.url == f"{site.url}{path}", path
                    problems.append(fits(page, screen, f"a11y-{staff.lang}-{name}"))
            finally:
                context.close()
    assert [p for p in problems if p] == []
