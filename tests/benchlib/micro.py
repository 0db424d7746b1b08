"""CPU per request, in process and one request at a time: the site's ASGI app called directly
(no sockets, no load generator, no other request in flight), so the figure is the request's own
cost, steady on a busy machine where `tests.bench`'s are not. Repeats the passkey sign-in as a
user makes it (GET /login, options, verify, GET /account) and prints, per request, the process
CPU time (the database thread included) per call.

    .venv/bin/python -m tests.benchlib.micro [--rounds 300] [--profile out.prof]

`--profile` writes a cProfile of the measured rounds (read it with `python -m pstats`), of
one kind of request with `--only` ("GET /login", "options", "verify", "GET /account").
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.mailsink import MailSink, code_in
from tests.softauthn import SoftAuthenticator

SITE = "http://localhost:8000"
CSRF_META = re.compile(rb'<meta name="csrf-token" content="([^"]+)">')
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call(
    app: App,
    method: str,
    path: str,
    *,
    cookie: str = "",
    body: bytes = b"",
    json_body: bool = False,
    csrf: str = "",
) -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app: status, cookies set, body."""
    headers = [(b"host", b"localhost:8000"), (b"user-agent", b"micro")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if method == "POST":
        headers += [(b"origin", SITE.encode()), (b"content-length", str(len(body)).encode())]
    if json_body:
        headers.append((b"content-type", b"application/json"))
    if csrf:
        headers.append((b"x-csrftoken", csrf.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0
    cookies: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"set-cookie":
                    key, _, val = value.decode().split(";", 1)[0].partition("=")
                    cookies[key] = val
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, cookies, b"".join(chunks)


def header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


async def sign_up(app: Any, runtime: Any, sink: MailSink, email: str) -> SoftAuthenticator:
    from keyfob.mail import outbox
    from keyfob.models import utcnow

    authenticator = SoftAuthenticator()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:

        async def token(path: str) -> str:
            found = CSRF_META.search((await client.get(path)).content)
            assert found is not None
            return found.group(1).decode()

        sent = await client.post(
            "/register", data={"email": email, "csrf_token": await token("/register")}
        )
        assert sent.status_code == 303, sent.text
        await outbox.deliver_due(
            runtime.sessionmaker,
            runtime.transport,
            mail_from=runtime.settings.mail_from,
            now=utcnow(),
            max_attempts=3,
        )
        code = code_in(sink.wait_for(email))
        done = await client.post("/code", data={"code": code, "csrf_token": await token("/code")})
        assert done.status_code == 303, done.text
        csrf = await token("/account/passkeys")
        options = await client.post(
            "/account/passkeys/options", headers={"X-CSRFToken": csrf}, json={}
        )
        made = await client.post(
            "/account/passkeys/verify",
            headers={"X-CSRFToken": csrf},
            json=authenticator.create(options.json(), origin=SITE),
        )
        assert made.status_code == 200, made.text
    return authenticator


async def main(rounds: int, profile: Path | None, only: str | None = None) -> None:
    from keyfob import migrate
    from keyfob.app import create_app
    from keyfob.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="keyfob-micro-"))
    url = f"sqlite+aiosqlite:///{folder / 'keyfob.sqlite3'}"
    await migrate.upgrade(url)
    sink = MailSink()
    sink.start()
    settings = Settings(
        _env_file=None,
        site_url=SITE,
        var_dir=folder,
        database_url=url,
        secret_key="micro-" + "x" * 40,
        smtp_url=sink.url,
        code_resend_seconds=0,
        rate_limits={"passkey:ip": "1000000 per minute", "post:ip": "1000000 per minute"},
    )
    app = create_app(settings, send_mail=False)
    runtime = app.state.runtime
    try:
        async with app.router.lifespan_context(app):
            authenticator = await sign_up(app, runtime, sink, "micro@example.org")
            spent: dict[str, float] = {}
            profiler = cProfile.Profile() if profile else None

            async def timed(
                kind: str, *args: Any, **kwargs: Any
            ) -> tuple[int, dict[str, str], bytes]:
                if profiler is not None and only in (None, kind):
                    profiler.enable()
                began = time.process_time()
                answer = await call(app, *args, **kwargs)
                spent[kind] = spent.get(kind, 0.0) + time.process_time() - began
                if profiler is not None:
                    profiler.disable()
                return answer

            for n in range(rounds + rounds // 10):
                if n == rounds // 10:  # the first tenth warms caches up
                    spent.clear()
                status, cookies, body = await timed("GET /login", "GET", "/login")
                assert status == 200, body[:300]
                found = CSRF_META.search(body)
                assert found is not None
                csrf = found.group(1).decode()
                status, cookies2, body = await timed(
                    "options",
                    "POST",
                    "/login/passkey/options",
                    cookie=header(cookies),
                    body=b"{}",
                    json_body=True,
                    csrf=csrf,
                )
                assert status == 200, body[:300]
                assertion = authenticator.get(json.loads(body), origin=SITE)
                status, cookies3, body = await timed(
                    "verify",
                    "POST",
                    "/login/passkey/verify",
                    cookie=header(cookies2),
                    body=json.dumps(assertion).encode(),
                    json_body=True,
                    csrf=csrf,
                )
                assert status == 200, body[:300]
                status, _, body = await timed(
                    "GET /account", "GET", "/account", cookie=header(cookies3)
                )
                assert status == 200, body[:300]
            total = 0.0
            for kind, seconds in spent.items():
                total += seconds
                print(f"  {kind:<14} {1000 * seconds / rounds:6.3f} ms CPU a request")
            print(f"  {'sign-in':<14} {1000 * total / rounds:6.3f} ms CPU for the four")
            if profiler is not None and profile is not None:
                profiler.dump_stats(profile)
    finally:
        sink.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="tests.benchlib.micro", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--only", help="profile only this request: 'GET /login', 'options', ...")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(max(10, args.rounds), args.profile, args.only))  # as uvicorn runs the site
