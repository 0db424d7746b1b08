"""A graceful stop finishes the mail in flight and leaves the rest queued: nothing lost or
sent twice."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from keyfob.db import make_engine, make_sessionmaker
from keyfob.models import OutboxMail
from tests.mailsink import MailSink
from tests.servers import Server, base_env

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def outbox_rows(url: str) -> list[OutboxMail]:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as db:
        rows = list(await db.scalars(select(OutboxMail).order_by(OutboxMail.id)))
    await engine.dispose()
    return rows


def test_stop_during_delivery_loses_and_duplicates_nothing(tmp_path: Path, fresh_db_url) -> None:
    slow = MailSink(delay=2.0)
    slow.start()
    url = fresh_db_url()
    env = base_env(
        tmp_path,
        site_url="http://localhost:1",
        smtp_url=slow.url,
        database_url=url,
        code_resend_seconds="0",
    )
    server = Server(folder=tmp_path / "s", env=env)
    env["KEYFOB_SITE_URL"] = server.url
    server.env.update(env)
    server.start()
    try:
        with httpx.Client() as browser:
            for n in range(4):
                token = CSRF_META.search(browser.get(f"{server.url}/register").text)
                assert token
                sent = browser.post(
                    f"{server.url}/register",
                    data={"email": f"s{n}@example.org", "csrf_token": token.group(1)},
                )
                assert sent.status_code == 303
        time.sleep(1.0)  # the sender is now inside the first slow delivery
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.log.read_text()
    finally:
        server.stop()
    rows = asyncio.run(outbox_rows(url))
    delivered = [r for r in rows if r.sent_at is not None]
    waiting = [r for r in rows if r.sent_at is None]
    assert len(rows) == 4
    assert len(delivered) >= 1, "the mail in flight was finished, not dropped"
    assert all(r.claimed_until is None for r in waiting), "unsent mail was handed back"
    assert all(len(slow.to(r.to_addr)) == 1 for r in delivered)

    slow.delay = 0
    server.start()
    try:
        for r in waiting:
            slow.wait_for(r.to_addr, timeout=20)
        time.sleep(1.0)
    finally:
        server.stop()
        slow.stop()
    assert [len(slow.to(f"s{n}@example.org")) for n in range(4)] == [1, 1, 1, 1]
