"""The load generator: its own process, plain HTTP/1.1 over keep-alive sockets on uvloop.

Run as `python -m tests.benchlib.loadgen < spec.json`; prints one JSON result on stdout.
A hand-written client rather than httpx, so that the client spends as little of the shared
two cores as it can (httpx costs several hundred µs per request; this about 30 µs). Every
loop is bounded: connections stop issuing at the end of the window, and a watchdog cancels
whatever is still waiting `GRACE` seconds later.

Scenarios (`spec["scenario"]`):
- `page`: GET `path` with no cookie, as a first visit.
- `post`: POST the fixed `body` (JSON) to `path`.
- `signin`: per connection one account; POST /login/passkey/options, sign the challenge with
  the account's software passkey, POST /login/passkey/verify. Each connection loads /login
  once beforehand for its CSRF token and cookie, and starts every sign-in from that cookie,
  as a browser tab that stays on /login would.
- `journey`: the sign-in as a user makes it, from a fresh browser each time: GET /login,
  options, verify, then GET /account with the session cookie verify set.
- `register`: POST /register with a new address each time (the Send code form).
- `mixed`: the load test's blend (see `tests/load.py`), driven by `weights`.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.softauthn import SoftAuthenticator, SoftCredential, b64url_decode

GRACE = 15.0
CSRF_META = re.compile(rb'<meta name="csrf-token" content="([^"]+)">')


class HttpError(Exception):
    """The server answered something this client cannot read, or closed the connection."""


@dataclass
class Reply:
    status: int
    cookies: dict[str, str]
    body: bytes
    location: str = ""


class Connection:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, host: str, port: int, host_header: str) -> None:
        self.host = host
        self.port = port
        self.host_header = host_header.encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Reply:
        if self.reader is not None and self.reader.at_eof():
            await self.close()  # the server closed it while idle (keep-alive timeout): reopen
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header]
        lines += [f"{k}: {v}".encode() for k, v in headers]
        if body or method == "POST":
            lines.append(b"Content-Length: " + str(len(body)).encode())
        self.writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise HttpError("connection closed before a response") from exc
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line[9:12])
        length = 0
        chunked = False
        closing = False
        cookies: dict[str, str] = {}
        location = ""
        for line in header_lines:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"set-cookie":
                pair = value.strip().split(b";", 1)[0].decode()
                key, _, val = pair.partition("=")
                cookies[key] = val
            elif name == b"location":
                location = value.strip().decode()
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                closing = True
        data = await (self._chunks() if chunked else self.reader.readexactly(length))
        if closing:
            await self.close()
        return Reply(status=status, cookies=cookies, body=data, location=location)

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        parts = []
        for _ in range(100_000):
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(p[:-2] for p in parts)
        raise HttpError("too many chunks")


@dataclass
class Stats:
    """Latencies of requests that finished inside the measured window, per kind."""

    start: float
    end: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    units: int = 0
    all_5xx: int = 0
    all_requests: int = 0
    all_statuses: dict[str, int] = field(default_factory=dict)

    def record(self, kind: str, began: float, done: float, ok: bool, status: int) -> None:
        self.all_requests += 1
        self.all_5xx += status >= 500
        self.all_statuses[str(status)] = self.all_statuses.get(str(status), 0) + 1
        if not self.start <= done <= self.end:
            return
        self.latencies.setdefault(kind, []).append(done - began)
        self.statuses[f"{kind} {status}"] = self.statuses.get(f"{kind} {status}", 0) + 1
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def failed(self, kind: str, reason: str, done: float) -> None:
        self.all_requests += 1
        self.all_statuses["error"] = self.all_statuses.get("error", 0) + 1
        if len(self.samples) < 12:
            self.samples.append(f"{kind}: {reason}"[:300])
        if self.start <= done <= self.end:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            self.statuses[f"{kind} error"] = self.statuses.get(f"{kind} error", 0) + 1

    def in_window(self, when: float) -> bool:
        return self.start <= when <= self.end


class Client:
    """A browser-like client on one connection: keeps cookies, times each request."""

    def __init__(self, spec: dict[str, Any], stats: Stats) -> None:
        self.spec = spec
        self.conn = Connection(spec["host"], spec["port"], spec["host_header"])
        self.stats = stats
        self.origin: str = spec["origin"]

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Reply | None:
        began = time.perf_counter()
        try:
            reply = await self.conn.request(method, path, body=body, headers=headers)
        except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.conn.close()
            self.stats.failed(kind, f"{type(exc).__name__}: {exc}", time.perf_counter())
            return None
        done = time.perf_counter()
        ok = reply.status in expect
        self.stats.record(kind, began, done, ok, reply.status)
        if not ok and len(self.stats.samples) < 12:
            self.stats.samples.append(f"{kind}: {reply.status} {reply.body[:200]!r}")
        return reply if ok else None

    async def fresh_page(self, path: str) -> tuple[str, str] | None:
        """A first visit to `path`: (session cookie header, CSRF token)."""
        reply = await self.call("page", "GET", path, expect=(200,))
        if reply is None:
            return None
        found = CSRF_META.search(reply.body)
        if found is None:
            return None
        cookie = "; ".join(f"{k}={v}" for k, v in reply.cookies.items())
        return cookie, found.group(1).decode()


def load_credential(account: dict[str, Any]) -> SoftCredential:
    key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return SoftCredential(
        id=b64url_decode(account["credential_id"]),
        private_key=key,
        rp_id=account["rp_id"],
        user_handle=b64url_decode(account["user_handle"]),
        sign_count=account["sign_count"],
    )


async def sign_in(client: Client, cred: SoftCredential, auth: SoftAuthenticator) -> Reply | None:
    """One passkey sign-in from the /login page state: options, then verify's reply."""
    state = client.spec["_state"]
    cookie, token = state
    common = (("Cookie", cookie), ("X-CSRFToken", token), ("Origin", client.origin))
    json_headers = (*common, ("Content-Type", "application/json"))
    options = await client.call(
        "options", "POST", "/login/passkey/options", expect=(200,), body=b"{}", headers=json_headers
    )
    if options is None:
        return None
    session = "; ".join(f"{k}={v}" for k, v in options.cookies.items())
    assertion = auth.get(json.loads(options.body), origin=client.origin, credential=cred)
    verified = await client.call(
        "verify",
        "POST",
        "/login/passkey/verify",
        expect=(200,),
        body=json.dumps(assertion).encode(),
        headers=(
            ("Cookie", session),
            ("X-CSRFToken", token),
            ("Origin", client.origin),
            ("Content-Type", "application/json"),
        ),
    )
    return verified


async def journey(client: Client, cred: SoftCredential, auth: SoftAuthenticator) -> bool:
    """A fresh browser: GET /login, the passkey sign-in, then the account page."""
    state = await client.fresh_page("/login")
    if state is None:
        return False
    client.spec["_state"] = state
    verified = await sign_in(client, cred, auth)
    if verified is None:
        return False
    cookie = "; ".join(f"{k}={v}" for k, v in verified.cookies.items())
    page = await client.call(
        "account", "GET", "/account", expect=(200,), headers=(("Cookie", cookie),)
    )
    return page is not None


async def send_code(client: Client, address: str, path: str = "/register") -> bool:
    cookie, token = client.spec["_state"]
    body = urlencode({"email": address, "csrf_token": token}).encode()
    reply = await client.call(
        "send_code",
        "POST",
        path,
        expect=(303,),
        body=body,
        headers=(
            ("Cookie", cookie),
            ("Origin", client.origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ),
    )
    return reply is not None and reply.location == "/code"


async def drive(index: int, spec: dict[str, Any], stats: Stats, result: dict[str, Any]) -> None:
    """One connection's loop, until the window ends."""
    client = Client(dict(spec), stats)
    scenario = spec["scenario"]
    accounts = spec.get("accounts") or []
    cred = load_credential(accounts[index % len(accounts)]) if accounts else None
    auth = SoftAuthenticator()
    rng = random.Random(index)
    n = 0
    if scenario in {"signin", "register", "mixed"}:
        for _ in range(5):
            state = await client.fresh_page("/login")
            if state is not None:
                client.spec["_state"] = state
                break
            await asyncio.sleep(0.2)
        else:
            return
    if spec.get("pace"):
        await asyncio.sleep(rng.uniform(0, spec["pace"]))  # connections out of step
    while time.perf_counter() < stats.end:
        n += 1
        began = time.perf_counter()
        if scenario == "page":
            await client.call("page", "GET", spec["path"], expect=(200,))
        elif scenario == "post":
            await client.call(
                "post",
                "POST",
                spec["path"],
                expect=(200,),
                body=spec["_body"],
                headers=(("Content-Type", "application/json"),),
            )
        elif scenario == "signin":
            assert cred is not None
            if await sign_in(client, cred, auth) and stats.in_window(time.perf_counter()):
                stats.units += 1
        elif scenario == "journey":
            assert cred is not None
            if await journey(client, cred, auth) and stats.in_window(time.perf_counter()):
                stats.units += 1
        elif scenario == "register":
            await send_code(client, f"{spec['tag']}-{index}-{n}@example.org")
        elif scenario == "mixed":
            await mixed_step(client, index, n, cred, auth, rng, result)
        if spec.get("pace"):
            # arrivals at random (Poisson), `pace` s apart on average per connection; a slow
            # answer delays only this connection's next step
            gap = rng.expovariate(1 / spec["pace"])
            await asyncio.sleep(max(0.0, began + gap - time.perf_counter()))
    if cred is not None:
        result["sign_counts"][index] = cred.sign_count
    await client.conn.close()


async def mixed_step(
    client: Client,
    index: int,
    n: int,
    cred: SoftCredential | None,
    auth: SoftAuthenticator,
    rng: random.Random,
    result: dict[str, Any],
) -> None:
    """The load test's blend: pages, passkey sign-ins, and Send code for new addresses.

    Addresses are recorded with the status the site gave, so the caller can match each
    accepted request against the mails the SMTP sink received."""
    weights = client.spec["weights"]
    pick = rng.choices(list(weights), weights=list(weights.values()))[0]
    if pick == "page":
        path = rng.choice(["/login", "/register", "/healthz"])
        await client.call("page", "GET", path, expect=(200,))
    elif pick == "signin" and cred is not None:
        if await sign_in(client, cred, auth):
            result["sign_ins"] += 1
    else:
        address = f"{client.spec['tag']}-{index}-{n}@example.org"
        accepted = await send_code(client, address)
        result["addresses"].append([address, accepted])


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0, "p50": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "count": len(ordered),
        "p50": pct(0.50),
        "p99": pct(0.99),
        "mean": sum(ordered) / len(ordered) * 1000,
        "max": ordered[-1] * 1000,
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    if "body" in spec:
        spec["_body"] = spec["body"].encode()
    now = time.perf_counter()
    stats = Stats(start=now + spec["warmup"], end=now + spec["warmup"] + spec["duration"])
    result: dict[str, Any] = {
        "sign_counts": {},
        "sign_ins": 0,
        "addresses": [],
    }
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    tasks = [
        asyncio.ensure_future(drive(i, spec, stats, result)) for i in range(spec["connections"])
    ]
    done, pending = await asyncio.wait(tasks, timeout=spec["warmup"] + spec["duration"] + GRACE)
    for task in pending:
        task.cancel()
    crashed = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    every = [v for values in stats.latencies.values() for v in values]
    return {
        "duration": spec["duration"],
        "requests": len(every),
        "rps": len(every) / spec["duration"],
        "units": stats.units,
        "units_per_s": stats.units / spec["duration"],
        "latency": summary(every),
        "by_kind": {kind: summary(values) for kind, values in stats.latencies.items()},
        "errors": sum(stats.errors.values()) + len(pending) + len(crashed),
        "errors_by_kind": stats.errors,
        "statuses": stats.statuses,
        "samples": stats.samples + [repr(e)[:300] for e in crashed],
        "unfinished_connections": len(pending),
        "client_cpu_s": cpu,
        "all_requests": stats.all_requests,
        "all_5xx": stats.all_5xx,
        "all_statuses": stats.all_statuses,
        **result,
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run(spec))))
    else:
        print(json.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main()
