"""A wrong code costs the same whether or not the address has an account: the same SQL
statements, in the same order, and (over many fresh addresses, in back-to-back pairs) a
median difference within measurement noise. Next to the byte-identical answers of
test_security, this closes the timing side channel a reviewer measured (7.7 ms against
6.1 ms)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from keyfob.auth.throttle import DEFAULT_RATES
from keyfob.models import User, utcnow
from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.conftest import csrf_from

SAMPLES = 25
WRONG = "000000"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"rate_limits": {name: "100000 per minute" for name in DEFAULT_RATES}}
    )


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL the app runs meanwhile, with values and numbered parameters folded away."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(re.sub(r"\s+", " ", re.sub(r"\$\d+|\?|'[^']*'", "?", statement)).strip())

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def make_accounts(runtime: Runtime, emails: list[str]) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        db.add_all(User(email=email, created_at=utcnow()) for email in emails)


async def ask_for_code(client: httpx.AsyncClient, email: str) -> str:
    """A fresh browser asks /login for a code; returns the code page's CSRF token."""
    client.cookies.clear()
    token = await csrf_from(client, "/login")
    sent = await client.post("/login", data={"email": email, "csrf_token": token})
    assert sent.status_code == 303
    return await csrf_from(client, "/code")


async def enter_wrong_code(client: httpx.AsyncClient, token: str) -> None:
    answer = await client.post("/code", data={"code": WRONG, "csrf_token": token})
    assert answer.status_code == 400


async def test_a_wrong_code_runs_the_same_statements_for_both(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await make_accounts(runtime, ["known.stmt@example.org"])
    results = {}
    for email in ("known.stmt@example.org", "unknown.stmt@example.org"):
        token = await ask_for_code(client, email)
        with statements(runtime) as seen:
            await enter_wrong_code(client, token)
        results[email] = seen
    assert results["known.stmt@example.org"] == results["unknown.stmt@example.org"]


async def test_wrong_code_timing_does_not_tell_an_account_exists(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    known = [f"known{i}@example.org" for i in range(SAMPLES)]
    await make_accounts(runtime, known)
    timings: dict[bool, list[float]] = {True: [], False: []}
    for i, email in enumerate(known):
        for exists, address in ((True, email), (False, f"nobody{i}@example.org")):
            token = await ask_for_code(client, address)
            started = time.perf_counter()
            await enter_wrong_code(client, token)
            timings[exists].append(time.perf_counter() - started)
    # Each pair ran back to back, so a burst of load elsewhere on the machine slows both:
    # the median of the pairs' differences is what an attacker repeating requests would see.
    gap = statistics.median(a - b for a, b in zip(timings[True], timings[False], strict=True))
    without = statistics.median(timings[False])
    steps = zip(timings[True][1:], timings[True][:-1], strict=True)
    noise = statistics.median(abs(a - b) for a, b in steps)
    assert abs(gap) <= max(noise, 0.15 * without), (gap, without, noise)
