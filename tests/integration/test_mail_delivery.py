"""Mail over a real SMTP server, and what an outage does: delay, never loss."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from keyfob.mail import outbox
from keyfob.models import OutboxMail, utcnow
from keyfob.web.runtime import Runtime
from tests.conftest import csrf_from
from tests.mailsink import MailSink, code_in


async def deliver_at(runtime: Runtime, later: timedelta) -> outbox.DeliveryReport:
    return await outbox.deliver_due(
        runtime.sessionmaker,
        runtime.transport,
        mail_from=runtime.settings.mail_from,
        now=utcnow() + later,
        max_attempts=runtime.settings.outbox_max_attempts,
    )


async def test_sign_up_survives_an_smtp_outage(
    client: httpx.AsyncClient, mail_sink: MailSink, runtime: Runtime
) -> None:
    mail_sink.stop()
    token = await csrf_from(client, "/register")
    response = await client.post(
        "/register", data={"email": "ann@example.org", "csrf_token": token}
    )
    assert response.status_code == 303 and response.headers["location"] == "/code"
    report = await deliver_at(runtime, timedelta(0))
    assert report.failed == 1 and report.sent == 0
    async with runtime.sessionmaker() as db:
        waiting = (await db.scalars(select(OutboxMail))).one()
        assert waiting.sent_at is None and waiting.attempts == 1
        assert waiting.last_error and waiting.next_try_at > utcnow()

    mail_sink.start()
    assert (await deliver_at(runtime, timedelta(0))).sent == 0, "retried before its backoff"
    assert (await deliver_at(runtime, timedelta(minutes=1))).sent == 1
    code = code_in(mail_sink.wait_for("ann@example.org"))
    token = await csrf_from(client, "/code")
    verified = await client.post("/code", data={"code": code, "csrf_token": token})
    assert verified.headers["location"] == "/account/passkeys?new=1"


async def test_delivered_mail_body_is_erased(request_code, runtime: Runtime) -> None:
    code = await request_code("bob@example.org")
    async with runtime.sessionmaker() as db:
        row = (await db.scalars(select(OutboxMail))).one()
    assert row.sent_at is not None
    assert row.text == "" and row.html == ""
    assert code not in row.subject


async def test_each_mail_is_sent_once_even_when_two_senders_run(
    client: httpx.AsyncClient, mail_sink: MailSink, runtime: Runtime
) -> None:
    import asyncio

    token = await csrf_from(client, "/register")
    for n in range(5):
        await client.post("/register", data={"email": f"u{n}@example.org", "csrf_token": token})
    reports = await asyncio.gather(
        deliver_at(runtime, timedelta(0)), deliver_at(runtime, timedelta(0))
    )
    assert sum(r.sent for r in reports) == 5
    for n in range(5):
        assert len(mail_sink.to(f"u{n}@example.org")) == 1
