"""Browser tests: a real `keyfob serve` process, a real SMTP sink, Debian's Chromium.

One site (server process + SMTP sink + SQLite under a temporary var dir) per test module, one
Chromium for the session, and a fresh browser context with its own CDP virtual authenticator
for every test (see /work/shared/browser-testing.md for how that authenticator behaves here).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    CDPSession,
    ConsoleMessage,
    Error,
    Page,
    expect,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.mailsink import MailSink, code_in, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The `keyfob` command under test: this venv's, or another install's (tests/run points this at
# a wheel installed in a fresh venv, to prove what `pip install .` gives a deployment).
KEYFOB = Path(os.environ.get("TESTS_KEYFOB_COMMAND") or Path(sys.executable).with_name("keyfob"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
TIMEOUT_MS = 10_000
STARTUP_SECONDS = 20.0

# Instrumentation only (it changes no behaviour of the page): remembers how each
# navigator.credentials.get() call ended and which mediation it used, and every CSP violation.
# Injected over CDP before any page script, so the site's CSP does not apply to it.
PROBE = """
(() => {
  window.__keyfobProbe = { gets: [], csp: [] };
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__keyfobProbe.csp.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
  const creds = navigator.credentials;
  if (!creds || !creds.get) return;
  const original = creds.get.bind(creds);
  creds.get = (options) => {
    const entry = { mediation: (options && options.mediation) || "optional", outcome: "pending" };
    window.__keyfobProbe.gets.push(entry);
    const result = original(options);
    result.then(
      () => { entry.outcome = "resolved"; },
      (error) => { entry.outcome = `rejected:${error && error.name}`; },
    );
    return result;
  };
})();
"""

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Site:
    url: str
    mail: MailSink
    log: Path

    def code_for(self, address: str, count: int) -> str:
        """The code in mail number `count` to `address`, read from what the SMTP sink got."""
        return code_in(self.mail.wait_for(address, count=count, timeout=10.0))

    def mails_to(self, address: str) -> int:
        return len(self.mail.to(address))


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"keyfob serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"keyfob serve not healthy within {STARTUP_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Site]:
    """`keyfob serve` as a person would run it, with mail going to a real SMTP sink.

    Its log is kept as tests/artifacts/<module>-server.log."""
    var_dir = tmp_path_factory.mktemp("keyfob-e2e")
    sink = MailSink()
    sink.start()
    port = free_port()
    url = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env.update(
        KEYFOB_VAR_DIR=str(var_dir),
        KEYFOB_SMTP_URL=sink.url,
        KEYFOB_SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        KEYFOB_SITE_URL=url,
        KEYFOB_OUTBOX_POLL_SECONDS="0.2",
        # Recovery tests ask for a second code for an address seconds after its sign-up code.
        KEYFOB_CODE_RESEND_SECONDS="0",
        # Every test's browser is 127.0.0.1: the per-IP limits are meant for many people.
        KEYFOB_RATE_LIMITS=json.dumps(
            {"send_code:ip": "300 per hour", "verify_code:ip": "300 per 10 minutes"}
        ),
    )
    # More settings for one test, by indirect parametrization: a separate server for it.
    # `@pytest.mark.parametrize("site", [{"KEYFOB_REAUTH_MINUTES": "1"}], indirect=True)`
    extra: dict[str, str] = getattr(request, "param", None) or {}
    env.update(extra)
    log = var_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KEYFOB), "serve", "--port", str(port)],
            cwd=var_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, process, log)
        yield Site(url=url, mail=sink, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        sink.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        suffix = "".join(f"-{k.removeprefix('KEYFOB_').lower()}-{v}" for k, v in extra.items())
        suffix = re.sub(r"[^A-Za-z0-9_.-]+", "-", suffix)
        module = request.module.__name__.rpartition(".")[2]
        shutil.copyfile(log, ARTIFACTS / f"{module}{suffix}-server.log")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The one Chromium of the session (this machine has room for one)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """A page in its own browser context, with a CDP session for the virtual authenticator."""

    site: Site
    context: BrowserContext
    page: Page
    cdp: CDPSession
    name: str
    authenticator_id: str | None = None
    console_errors: list[str] = field(default_factory=list)

    # --- the virtual authenticator -----------------------------------------------------------

    def add_authenticator(self) -> str:
        """A platform authenticator that holds passkeys and verifies the user at once."""
        result = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        self.authenticator_id = str(result["authenticatorId"])
        return self.authenticator_id

    def credentials(self) -> list[dict[str, Any]]:
        assert self.authenticator_id is not None
        result = self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        found: list[dict[str, Any]] = result["credentials"]
        return found

    def add_credential(self, credential: dict[str, Any]) -> None:
        assert self.authenticator_id is not None
        self.cdp.send(
            "WebAuthn.addCredential",
            {"authenticatorId": self.authenticator_id, "credential": credential},
        )

    # --- what the page did ---------------------------------------------------------------------

    def probe(self) -> dict[str, Any]:
        """What the PROBE init script recorded on the current document."""
        found: dict[str, Any] = self.page.evaluate("() => window.__keyfobProbe")
        return found

    def wait_for_autofill_to_settle(self) -> dict[str, Any]:
        """Waits until the page's conditional (autofill) request has settled; returns it."""
        self.page.wait_for_function(
            """() => (window.__keyfobProbe?.gets ?? []).some(
                   (g) => g.mediation === "conditional" && g.outcome !== "pending")"""
        )
        gets = self.probe()["gets"]
        settled: dict[str, Any] = next(g for g in gets if g["mediation"] == "conditional")
        return settled

    def shot(self, step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{step}.png", full_page=True)

    # --- what a person does --------------------------------------------------------------------

    def goto(self, path: str) -> None:
        self.page.goto(path, wait_until="load")

    def arrive(self, path: str) -> None:
        """Expects the page at `path` after a form's redirect or a script's navigation.

        The page there must already see what the request before it saved: the site commits
        before it answers (site/web/deps.py, `Db` in FastAPI's "function" scope). When it did
        not, /code found no code and /account no session and both sent the browser to /login.
        """
        expect(self.page).to_have_url(f"{self.site.url}{path}")

    def request_code(self, email: str, *, at: str, button: str, shot: str | None = None) -> str:
        """Email + `button` on `at` (/register or /login); returns the code the sink received."""
        page = self.page
        before = self.site.mails_to(email)
        self.goto(at)
        page.get_by_label("Email").fill(email)
        if shot:
            self.shot(shot)
        with page.expect_navigation():
            page.get_by_role("button", name=button).click()
        self.arrive("/code")
        return self.site.code_for(email, count=before + 1)

    def enter_code(self, code: str, *, lands_on: str, shot: str | None = None) -> None:
        """Code + "Verify" on /code; the site should then send the browser to `lands_on`."""
        page = self.page
        expect(page).to_have_url(f"{self.site.url}/code")
        page.get_by_label("Code").fill(code)
        if shot:
            self.shot(shot)
        with page.expect_navigation():
            page.get_by_role("button", name="Verify").click()
        self.arrive(lands_on)

    def sign_up(self, email: str, *, shots: bool = False) -> None:
        """Contract steps 1-3: Email + "Send code", the mailed code + "Verify", then the
        site asks for a passkey at once."""
        code = self.request_code(
            email, at="/register", button="Send code", shot="1-register" if shots else None
        )
        self.enter_code(code, lands_on="/account/passkeys?new=1", shot="2-code" if shots else None)

    def add_passkey(self, *, expected: int, shot: str | None = None) -> str:
        """Presses "Add a passkey" on /account/passkeys; returns the path the site then opened
        (/account/passkeys, or another page it offers next) and checks, on /account/passkeys,
        that `expected` passkeys are listed."""
        page = self.page
        button = page.get_by_role("button", name="Add a passkey")
        expect(button).to_be_visible()
        if shot:
            self.shot(f"{shot}-before")
        try:
            with page.expect_navigation():
                button.click()
        except PlaywrightTimeout:
            error = page.locator("[data-passkey-error]")
            shown = error.text_content() if error.is_visible() else "(no error shown)"
            raise AssertionError(f"adding a passkey did not finish: {shown}") from None
        landed = page.url.removeprefix(self.site.url)
        if landed != "/account/passkeys":
            self.goto("/account/passkeys")
        expect(page.locator("li.passkey")).to_have_count(expected)
        expect(page.locator("[data-passkey-error]")).to_be_hidden()
        if shot:
            self.shot(f"{shot}-after")
        return landed

    def sign_out(self) -> None:
        """ "Sign out" on /account; the site answers with a redirect to /login.

        Does not wait for /login itself: with a passkey in the authenticator, its autofill
        signs straight back in, possibly before a wait for /login would have started."""
        page = self.page
        if not page.url.endswith("/account"):
            self.goto("/account")
        with page.expect_response(lambda r: r.url.endswith("/logout")) as answer:
            page.get_by_role("button", name="Sign out").click()
        response = answer.value
        assert response.status == 303, response.status
        assert response.headers.get("location") == "/login", response.headers

    def expect_signed_in_as(self, email: str) -> None:
        page = self.page
        expect(page).to_have_url(f"{self.site.url}/account")
        expect(page.locator(".signed-in-as")).to_have_text(f"Signed in as {email}")
        expect(page.locator("strong[data-email]")).to_have_text(email)


def open_tab(browser: Browser, site: Site, name: str, *, authenticator: bool = True) -> Tab:
    context = browser.new_context(base_url=site.url, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    context.add_init_script(PROBE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    # With the UI enabled, ceremonies would wait for a dialog nobody clicks.
    cdp.send("WebAuthn.enable", {"enableUI": False})
    tab = Tab(site=site, context=context, page=page, cdp=cdp, name=name)

    def on_console(message: ConsoleMessage) -> None:
        # The site serves no favicon (base.html links none, /favicon.ico is a 404) and
        # Chromium logs the 404 of its own request for one as an error: not the page's doing.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            tab.console_errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.console_errors.append(f"{page.url}: {error}"))
    if authenticator:
        tab.add_authenticator()
    return tab


def close_tab(tab: Tab) -> None:
    # the browser may already be gone after a crash: then there is nothing left to close
    with contextlib.suppress(Error):
        tab.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def file_name(test: pytest.Item) -> str:
    """The test's name, fit for a file name: test_x[/code] -> test_x-code."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test.name).strip("-")


@pytest.fixture
def tab(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """A fresh browser context (no cookies) with an empty virtual authenticator.

    After a failed test: a last screenshot (`<test>-failed.png`) and the server's log."""
    name = file_name(request.node)
    for stale in SCREENSHOTS.glob(f"{glob.escape(name)}-*.png"):
        stale.unlink()
    opened = open_tab(browser, site, name)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        try:
            opened.shot("failed")
        except Error as exc:
            print(f"no screenshot: {exc}")
        print(f"page: {opened.page.url}\nconsole errors: {opened.console_errors}")
        print(f"--- {site.log} (last 4000 characters) ---\n{site.log.read_text()[-4000:]}")
    close_tab(opened)


def make_staff(site: Site, email: str, **environment: str) -> None:
    """`keyfob staff add EMAIL`, run as an operator would, on the server's own database;
    `environment`: what else the server was started with (a site package)."""
    var_dir = site.log.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env.update(KEYFOB_VAR_DIR=str(var_dir), KEYFOB_SITE_URL=site.url, KEYFOB_SMTP_URL=site.mail.url)
    env.update(environment)
    done = subprocess.run(
        [str(KEYFOB), "staff", "add", email],
        cwd=var_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{email} is now staff" in done.stdout


def new_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def fresh_email(request: pytest.FixtureRequest) -> str:
    """An address no test has used yet."""
    label = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower())
    return new_email(label.strip("-")[:40])


@dataclass(frozen=True)
class Enrolled:
    """An account with one passkey, and that passkey as the virtual authenticator held it
    (including its private key), for adding to another authenticator."""

    email: str
    credential: dict[str, Any]


@pytest.fixture
def enrolled(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Enrolled:
    """Signed up and given a passkey in a browser context of its own, closed before the test's
    own context does anything."""
    email = new_email("enrolled")
    setup = open_tab(browser, site, f"{file_name(request.node)}-setup")
    try:
        setup.sign_up(email)
        setup.add_passkey(expected=1)
        (credential,) = setup.credentials()
    except Exception:
        with contextlib.suppress(Error):
            setup.shot("failed")
        print(f"page: {setup.page.url}\nconsole errors: {setup.console_errors}")
        print(f"--- {site.log} (last 4000 characters) ---\n{site.log.read_text()[-4000:]}")
        raise
    finally:
        close_tab(setup)
    return Enrolled(email=email, credential=credential)
