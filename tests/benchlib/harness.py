"""What the benchmark and the load test share: a mail sink that can be slow or away, the
server's worker processes and their memory, accounts with passkeys made over HTTP, and the
load generator run in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives import serialization

from tests.mailsink import MailSink, _Handler, code_in
from tests.softauthn import SoftAuthenticator, b64url

ROOT = Path(__file__).resolve().parents[2]
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
HIGH_LIMITS = json.dumps(
    {
        name: "1000000 per minute"
        for name in ("passkey:ip", "post:ip", "send_code:ip", "send_code:address", "verify_code:ip")
    }
)


class _SlowHandler(_Handler):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        delay = getattr(self.sink, "delay", 0.0)
        if delay:
            await asyncio.sleep(delay)  # the whole SMTP conversation waits: a slow server
        answer = await super().handle_DATA(server, session, envelope)
        with self.sink.lock:
            mail = self.sink.messages[-1]
            to = str(mail["To"]).strip().lower()
            self.sink.by_address.setdefault(to, []).append(mail)  # type: ignore[attr-defined]
        return answer


class SlowSink(MailSink):
    """The test suite's aiosmtpd sink, taking `delay` seconds per message; can be stopped
    and started again on the same port (an SMTP outage)."""

    delay: float = 0.0

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        # parsing every message's To header on each look-up costs the GIL that aiosmtpd needs,
        # once thousands of mails are in: look-ups go through this index instead
        self.by_address: dict[str, list[EmailMessage]] = {}

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return list(self.by_address.get(address.strip().lower(), []))

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(_SlowHandler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def counts(self) -> dict[str, int]:
        """Mails received per recipient address."""
        with self.lock:
            return {to: len(mails) for to, mails in self.by_address.items()}


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under the supervisor `pid`, without multiprocessing's
    resource tracker."""
    workers = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            workers.append(child)
    return sorted(workers)


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (bounded: at most 10,000)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 10_000:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss(pids: list[int]) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mib(pids: list[int]) -> list[float]:
    """VmHWM of each process, in MiB: the most resident memory it held since the reset."""
    return [round(_status_kib(pid, "VmHWM") / 1024, 1) for pid in pids]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Account:
    email: str
    authenticator: SoftAuthenticator

    def for_loadgen(self) -> dict[str, Any]:
        cred = self.authenticator.credentials[-1]
        pem = cred.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "email": self.email,
            "private_key": pem,
            "credential_id": b64url(cred.id),
            "user_handle": b64url(cred.user_handle),
            "rp_id": cred.rp_id,
            "sign_count": cred.sign_count,
        }

    def update_sign_count(self, count: int) -> None:
        self.authenticator.credentials[-1].sign_count = count


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    found = CSRF_META.search(page.text)
    if found is None:
        raise RuntimeError(f"no CSRF token on {path}: {page.status_code}")
    return found.group(1)


def sign_up_with_passkey(url: str, sink: MailSink, email: str) -> Account:
    """The real journey over HTTP: Send code, the code from the delivered mail, then a passkey
    made by the software authenticator."""
    authenticator = SoftAuthenticator()
    with httpx.Client(base_url=url, timeout=30) as client:
        sent = client.post(
            "/register", data={"email": email, "csrf_token": _csrf(client, "/register")}
        )
        if sent.status_code != 303:
            raise RuntimeError(f"Send code for {email}: {sent.status_code} {sent.text[:300]}")
        code = code_in(sink.wait_for(email, timeout=60))
        done = client.post("/code", data={"code": code, "csrf_token": _csrf(client, "/code")})
        if done.status_code != 303:
            raise RuntimeError(f"code for {email}: {done.status_code} {done.text[:300]}")
        token = _csrf(client, "/account/passkeys")
        options = client.post("/account/passkeys/options", headers={"X-CSRFToken": token}, json={})
        made = client.post(
            "/account/passkeys/verify",
            headers={"X-CSRFToken": token},
            json=authenticator.create(options.json(), origin=url),
        )
        if made.status_code != 200:
            raise RuntimeError(f"passkey for {email}: {made.status_code} {made.text[:300]}")
    return Account(email=email, authenticator=authenticator)


def seed_accounts(url: str, sink: MailSink, count: int, *, prefix: str) -> list[Account]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(
            pool.map(
                lambda n: sign_up_with_passkey(url, sink, f"{prefix}{n}@example.org"),
                range(count),
            )
        )


def run_loadgen(spec: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Runs tests/benchlib/loadgen.py in a process of its own and returns its result."""
    limit = timeout or spec["warmup"] + spec["duration"] + 60
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchlib.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=limit,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def load_average() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(threshold: float, *, most: float) -> float:
    """Waits (bounded by `most` seconds) until the 1-minute load average is below threshold."""
    deadline = time.monotonic() + most
    while load_average() >= threshold and time.monotonic() < deadline:
        print(f"  load average {load_average():.2f} >= {threshold}; waiting", flush=True)
        time.sleep(min(30.0, max(1.0, deadline - time.monotonic())))
    return load_average()
