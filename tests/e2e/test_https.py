"""`keyfob certs dev` in a real Chromium: trusted the way its output says, the site loads over
https with no certificate warning, and a passkey is made and used with the site's own RP ID.

The site is `https://keyfob.test:PORT` (Chromium maps the name to 127.0.0.1), not localhost:
localhost is a secure context even over plain http, so only a real domain shows that passkeys
work because the certificate is trusted. Chromium on Linux trusts what the per-user NSS store
($HOME/.pki/nssdb) trusts; each browser here gets a HOME of its own, so the test never touches
this machine's trust stores. A browser whose store lacks the CA is refused the site: that is
what makes the trusted browser's success mean something.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, KEYFOB, Site, close_tab, new_email, open_tab
from tests.mailsink import MailSink, free_port

pytestmark = pytest.mark.e2e

HOST = "keyfob.test"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class HttpsSite:
    site: Site
    ca: Path


@pytest.fixture(scope="module")
def https_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsSite]:
    """`keyfob certs dev`, then `keyfob serve --https`, for https://keyfob.test:PORT."""
    var_dir = tmp_path_factory.mktemp("keyfob-https")
    sink = MailSink()
    sink.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env.update(
        KEYFOB_VAR_DIR=str(var_dir),
        KEYFOB_SMTP_URL=sink.url,
        KEYFOB_SECRET_KEY=secrets.token_urlsafe(36),
        KEYFOB_SITE_URL=f"https://{HOST}:{port}",
        KEYFOB_OUTBOX_POLL_SECONDS="0.2",
    )
    made = subprocess.run(
        [str(KEYFOB), "certs", "dev"], cwd=var_dir, env=env, capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr
    ca = var_dir / "certs" / "dev" / "ca.pem"
    log = var_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KEYFOB), "serve", "--https", "--port", str(port)],
            cwd=var_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for_tls(port, ca, process, log)
        yield HttpsSite(Site(url=f"https://{HOST}:{port}", mail=sink, log=log), ca)
    finally:
        process.terminate()
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        sink.stop()


def _wait_for_tls(port: int, ca: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"keyfob serve exited:\n{log.read_text()}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname=HOST),
            ):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"keyfob serve did not answer over TLS:\n{log.read_text()}")


def nss_home(folder: Path, *, trusting: Path | None) -> Path:
    """A HOME with its own NSS store, trusting `trusting` as `keyfob certs dev` says to."""
    if shutil.which("certutil") is None:
        pytest.fail("certutil is not installed: `apt-get install libnss3-tools`")
    nssdb = folder / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    if trusting is not None:
        subprocess.run(
            ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "keyfob-dev-ca",
             "-i", str(trusting)],
            check=True,
        )  # fmt: skip
    return folder


def launch(browser: Browser, home: Path) -> Browser:
    """Another Chromium from the session's Playwright, with `home` as its HOME."""
    return browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"],
        env={**os.environ, "HOME": str(home)},
        headless=True,
    )


def test_without_the_ca_trusted_chromium_refuses_the_site(
    browser: Browser, https_site: HttpsSite, tmp_path: Path
) -> None:
    untrusting = launch(browser, nss_home(tmp_path, trusting=None))
    try:
        page = untrusting.new_page()
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto(f"{https_site.site.url}/login")
    finally:
        untrusting.close()


def test_with_the_ca_trusted_a_passkey_is_made_and_signs_in_over_https(
    browser: Browser, https_site: HttpsSite, tmp_path: Path
) -> None:
    trusted = launch(browser, nss_home(tmp_path, trusting=https_site.ca))
    tab = open_tab(trusted, https_site.site, "https-passkey")
    try:
        page = tab.page
        response = page.goto(f"{https_site.site.url}/login")
        assert response is not None and response.ok
        details = response.security_details()
        assert details is not None and details.get("subjectName") == HOST
        assert str(details.get("issuer", "")).startswith("Keyfob development CA")
        assert page.evaluate("window.isSecureContext") is True

        email = new_email("https")
        tab.sign_up(email)
        tab.add_passkey(expected=1)
        (credential,) = tab.credentials()
        assert credential["rpId"] == HOST
        signs_before = credential["signCount"]

        tab.sign_out()
        page.wait_for_url("**/account")  # the passkey signs in by autofill on /login
        tab.expect_signed_in_as(email)
        (used,) = tab.credentials()
        assert used["signCount"] > signs_before
        expect(page).to_have_url(f"{https_site.site.url}/account")
        assert tab.console_errors == []
    finally:
        close_tab(tab)
        trusted.close()
