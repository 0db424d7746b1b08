"""Helpers for the certificate tests (this module holds no tests): `keyfob` run as a person
runs it, TLS requests that verify like a browser does, and Debian's pebble as the ACME server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from keyfob.certs import local_ca, store
from tests.mailsink import free_port

KEYFOB = Path(sys.executable).with_name("keyfob")
SECRET = "certs-test-secret-key-long-enough-0123456789abc"
STARTUP_SECONDS = 60.0  # uvicorn restarts workers slow to answer its 5 s health check


def keyfob_env(var_dir: Path, *, site_url: str, smtp_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env.update(KEYFOB_VAR_DIR=str(var_dir), KEYFOB_SECRET_KEY=SECRET, KEYFOB_SITE_URL=site_url)
    if smtp_url:
        env["KEYFOB_SMTP_URL"] = smtp_url
    return env


def keyfob(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One `keyfob` command, its output captured."""
    return subprocess.run(
        [str(KEYFOB), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@contextmanager
def serving(
    *args: str, cwd: Path, env: dict[str, str], ready: str, tls: TlsTarget | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`keyfob serve ARGS` until the block ends: ready once `ready` answers 200, a path on
    `tls` when given, else a plain-HTTP URL (asked with the site's Host header)."""
    log = cwd / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KEYFOB), "serve", *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(process, log, ready, tls, host=env["KEYFOB_SITE_URL"].split("://")[1])
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class TlsTarget:
    """Where to connect, which name to ask for (SNI and verification), and what to trust."""

    port: int
    server_name: str
    cafile: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


@dataclass(frozen=True)
class Answer:
    status: int
    leaf: x509.Certificate
    headers: str


def tls_get(target: TlsTarget, path: str = "/healthz") -> Answer:
    """A fresh, verified TLS connection and one HTTP/1.1 request, as a browser's first visit.
    Raises ssl.SSLError if the chain or the name does not verify."""
    with (
        socket.create_connection(("127.0.0.1", target.port), timeout=5) as raw,
        target.context().wrap_socket(raw, server_hostname=target.server_name) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {target.server_name}\r\nConnection: close\r\n"
        conn.sendall(f"{request}\r\n".encode())
        reply = _read_all(conn).decode("latin-1")
    status = int(reply.split(" ", 2)[1])
    return Answer(status, x509.load_der_x509_certificate(der), reply.split("\r\n\r\n", 1)[0])


def _read_all(conn: ssl.SSLSocket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _wait_ready(
    process: subprocess.Popen[bytes], log: Path, path: str, tls: TlsTarget | None, *, host: str
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"keyfob serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            if tls is not None and tls_get(tls, path).status == 200:
                return
            answer = None if tls else httpx.get(path, headers={"Host": host}, timeout=1.0)
            if answer is not None and answer.status_code == 200:
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"keyfob serve not ready within {STARTUP_SECONDS}s:\n{log.read_text()}")


@dataclass(frozen=True)
class Pebble:
    """Debian's pebble with its DNS from pebble-challtestsrv: every name is 127.0.0.1."""

    directory: str
    ca_bundle: Path  # trusts pebble's own TLS listener, not the certificates it issues
    management: str
    http_port: int  # where pebble's validator asks for HTTP-01 answers

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def issuing_root(self, folder: Path) -> Path:
        """Pebble's root for issued certificates, written to a file (new at each start)."""
        pem = httpx.get(f"{self.management}/roots/0", verify=self.trust()).text
        path = folder / "pebble-root.pem"
        path.write_text(pem)
        return path


@contextmanager
def running_pebble(folder: Path) -> Iterator[Pebble]:
    """Pebble and its DNS on free loopback ports, with a config and TLS keys made here."""
    for tool in ("pebble", "pebble-challtestsrv"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: `apt-get install pebble` (tests/run does)")
    ports = {name: free_port() for name in ("acme", "management", "http", "tls", "dns", "dnsm")}
    ca_bundle = _pebble_tls(folder)
    config = folder / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{ports['acme']}",
        "managementListenAddress": f"127.0.0.1:{ports['management']}",
        "certificate": str(folder / "pebble-tls.pem"),
        "privateKey": str(folder / "pebble-tls.key"),
        "httpPort": ports["http"],
        "tlsPort": ports["tls"],
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}))  # fmt: skip
    dns = f"127.0.0.1:{ports['dns']}"
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    log = (folder / "pebble.log").open("wb")
    processes = [
        subprocess.Popen(
            ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
             "-dns01", dns, "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-management", f"127.0.0.1:{ports['dnsm']}"],
            stdout=log, stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            ["pebble", "-config", str(config), "-dnsserver", dns],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    pebble = Pebble(
        directory=f"https://127.0.0.1:{ports['acme']}/dir",
        ca_bundle=ca_bundle,
        management=f"https://127.0.0.1:{ports['management']}",
        http_port=ports["http"],
    )
    try:
        _wait_for_directory(pebble, folder / "pebble.log")
        yield pebble
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        log.close()


def _pebble_tls(folder: Path) -> Path:
    now = datetime.now(UTC)
    ca = local_ca.make_ca(now=now)
    leaf, key = local_ca.issue_leaf(ca, host="localhost", now=now)
    (folder / "pebble-tls.pem").write_bytes(store.cert_pem(leaf))
    (folder / "pebble-tls.key").write_bytes(store.key_pem(key))
    bundle = folder / "pebble-tls-ca.pem"
    bundle.write_bytes(store.cert_pem(ca.cert))
    return bundle


def _wait_for_directory(pebble: Pebble, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(pebble.directory, verify=pebble.trust()).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"pebble did not start:\n{log.read_text()}")
