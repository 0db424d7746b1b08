"""`keyfob certs issue` and `renew` against Debian's pebble, through the site's own endpoint.

Pebble's validator resolves every name to 127.0.0.1 (pebble-challtestsrv), so `site.test`
is this machine; it asks for HTTP-01 answers on the port the site listens on. The issued
chain is checked the way a browser would, against the root pebble made at this start.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.test_certs_support import (
    Pebble,
    TlsTarget,
    keyfob,
    keyfob_env,
    running_pebble,
    serving,
    tls_get,
)
from tests.mailsink import MailSink, free_port

DOMAIN = "site.test"


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble")) as started:
        yield started


@pytest.fixture
def env(tmp_path: Path, mail_sink: MailSink) -> dict[str, str]:
    return keyfob_env(tmp_path / "var", site_url=f"https://{DOMAIN}", smtp_url=mail_sink.url)


def issue(
    pebble: Pebble, cwd: Path, env: dict[str, str], *, trusted: bool = True
) -> subprocess.CompletedProcess[str]:
    bundle = ["--ca-bundle", str(pebble.ca_bundle)] if trusted else []
    return keyfob(
        *("certs", "issue", "--domain", DOMAIN, "--email", f"ops@{DOMAIN}"),
        *("--directory", pebble.directory, *bundle),
        cwd=cwd,
        env=env,
    )


@dataclass
class Probe:
    """New verified TLS connections, one after another, recording what each was served."""

    target: TlsTarget
    served: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = tls_get(self.target)
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if answer.status != 200:
                self.failures.append(f"HTTP {answer.status}")
            self.served.append(answer.leaf.serial_number)

    def wait_for(self, serial: int, *, in_a_row: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tail = self.served[-in_a_row:]
            if len(tail) == in_a_row and set(tail) == {serial}:
                return
            time.sleep(0.05)
        raise AssertionError(f"the site did not settle on {serial:x}: {self.served[-10:]}")


def serial_in(pair_dir: Path) -> int:
    return x509.load_pem_x509_certificates((pair_dir / "cert.pem").read_bytes())[0].serial_number


def test_issue_serve_and_forced_renewal_keep_the_site_answering(
    pebble: Pebble, tmp_path: Path, env: dict[str, str]
) -> None:
    """The whole production path: the plain-HTTP site answers pebble's challenge, the
    certificate verifies against pebble's root, and a forced renewal (through the
    --redirect-http listener) reaches both running workers with no request failing."""
    http = pebble.http_port
    live = tmp_path / "var" / "certs" / "acme" / DOMAIN
    with serving(
        "--port", str(http), cwd=tmp_path, env=env, ready=f"http://127.0.0.1:{http}/healthz"
    ):
        issued = issue(pebble, tmp_path, env)
    assert issued.returncode == 0, issued.stderr
    assert f"Certificate for {DOMAIN} until" in issued.stdout
    assert (live / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var" / "certs" / "acme" / "account.key").stat().st_mode & 0o777 == 0o600
    assert list((tmp_path / "var" / "acme-challenge").iterdir()) == []  # answers withdrawn
    first = serial_in(live)

    target = TlsTarget(free_port(), DOMAIN, pebble.issuing_root(tmp_path))
    args = ("--https", "--port", str(target.port), "--redirect-http", str(http), "--workers", "2")
    with serving(*args, cwd=tmp_path, env=env, ready="/healthz", tls=target):
        assert tls_get(target).leaf.serial_number == first  # chain and name verified

        not_due = keyfob("certs", "renew", cwd=tmp_path, env=env)
        assert not_due.returncode == 0, not_due.stderr
        assert f"{DOMAIN}: valid until" in not_due.stdout and "not due" in not_due.stdout
        assert serial_in(live) == first

        probe = Probe(target)
        worker = threading.Thread(target=probe.run)
        worker.start()
        try:
            forced = keyfob("certs", "renew", "--force", cwd=tmp_path, env=env)
            assert forced.returncode == 0, forced.stderr
            assert f"{DOMAIN}: renewed" in forced.stdout
            second = serial_in(live)
            assert second != first
            probe.wait_for(second, in_a_row=20)
        finally:
            probe.stop.set()
            worker.join()
        print(f"\nrenewal under load: {len(probe.served)} requests, {len(probe.failures)} failed")
        assert probe.failures == []
        assert probe.served[0] == first

        # A renewal that cannot reach its ACME server leaves the served certificate alone.
        renewal = live / "renewal.json"
        record = json.loads(renewal.read_text())
        renewal.write_text(json.dumps({**record, "directory": f"https://127.0.0.1:{free_port()}/"}))
        before = (live / "cert.pem").read_bytes(), (live / "key.pem").read_bytes()
        failed = keyfob("certs", "renew", "--force", cwd=tmp_path, env=env)
        assert failed.returncode == 1
        assert f"{DOMAIN}: not renewed: cannot reach the ACME server" in failed.stderr
        assert ((live / "cert.pem").read_bytes(), (live / "key.pem").read_bytes()) == before
        assert tls_get(target).leaf.serial_number == second


def test_issue_fails_clearly_when_the_acme_server_is_down(
    tmp_path: Path, env: dict[str, str]
) -> None:
    directory = f"https://127.0.0.1:{free_port()}/dir"
    result = keyfob(
        *("certs", "issue", "--domain", DOMAIN, "--email", f"ops@{DOMAIN}"),
        *("--directory", directory),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode != 0
    assert f"cannot reach the ACME server at {directory}: Connection refused" in result.stderr
    assert not (tmp_path / "var" / "certs").exists()
    assert not (tmp_path / "var" / "acme-challenge").exists()


def test_issue_fails_clearly_when_the_challenge_is_unreachable(
    pebble: Pebble, tmp_path: Path, env: dict[str, str]
) -> None:
    """No site listens where pebble asks: no certificate or key is written, and the published
    answer is withdrawn. The account key stays, so a retry reuses the registered account."""
    result = issue(pebble, tmp_path, env)
    assert result.returncode != 0
    assert f"could not fetch the HTTP-01 answer for {DOMAIN}" in result.stderr
    assert "connection refused" in result.stderr
    assert not (tmp_path / "var" / "certs" / "acme" / DOMAIN).exists()
    assert list((tmp_path / "var" / "acme-challenge").iterdir()) == []
    assert (tmp_path / "var" / "certs" / "acme" / "account.key").is_file()


def test_issue_refuses_an_acme_server_it_cannot_trust(
    pebble: Pebble, tmp_path: Path, env: dict[str, str]
) -> None:
    result = issue(pebble, tmp_path, env, trusted=False)
    assert result.returncode != 0
    assert "does not trust" in result.stderr and "--ca-bundle" in result.stderr
    assert not (tmp_path / "var" / "certs").exists()


def test_issue_refuses_a_domain_the_site_does_not_answer_for(
    pebble: Pebble, tmp_path: Path, env: dict[str, str]
) -> None:
    result = keyfob(
        *("certs", "issue", "--domain", "other.test", "--email", "ops@other.test"),
        *("--directory", pebble.directory, "--ca-bundle", str(pebble.ca_bundle)),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode != 0
    assert "the site answers only to site.test" in result.stderr
    assert not (tmp_path / "var" / "certs").exists()
