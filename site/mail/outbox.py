"""The outbox: mail is queued in the caller's transaction and delivered by a background loop.

Guarantees: a mail is queued exactly when the data it speaks of commits; an SMTP outage only
delays it (retries with exponential backoff); each mail is claimed by one sender at a time, so
several workers or hosts never send it twice in normal operation; the body is erased once sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from keyfob.db import forget_overwritten
from keyfob.mail.messages import Message
from keyfob.mail.transports import MailTransport
from keyfob.models import OutboxMail

log = logging.getLogger("keyfob.mail")

CLAIM_FOR = timedelta(minutes=2)
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(hours=1)
RECORD_RETRY = timedelta(seconds=1)
RECORD_TRIES = 60  # a minute of database outage: half of CLAIM_FOR


def enqueue(db: AsyncSession, message: Message, *, now: datetime) -> OutboxMail:
    row = OutboxMail(
        to_addr=message.to,
        kind=message.kind,
        subject=message.subject,
        text=message.text,
        html=message.html,
        created_at=now,
        next_try_at=now,
    )
    db.add(row)
    return row


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int


def backoff(attempts: int) -> timedelta:
    delay: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(delay, LAST_RETRY)


async def deliver_due(
    maker: async_sessionmaker[AsyncSession],
    transport: MailTransport,
    *,
    mail_from: str,
    now: datetime,
    max_attempts: int,
    batch: int = 20,
) -> DeliveryReport:
    """Send what is due: claim a batch in one statement, send each, record each outcome."""
    sent = failed = 0
    claimed = await claim_due(maker, now=now, batch=batch)
    unsent = [mail_id for mail_id, _ in claimed]
    for mail_id, message in claimed:
        work = asyncio.ensure_future(
            _deliver_one(
                maker,
                transport,
                mail_id,
                message,
                mail_from=mail_from,
                now=now,
                max_attempts=max_attempts,
            )
        )
        try:
            delivered = await asyncio.shield(work)
        except asyncio.CancelledError:
            # shutting down: finish the mail in flight (bounded by the SMTP timeout) so it is
            # neither lost nor sent twice, and hand the rest back to the queue
            await work
            unsent.remove(mail_id)
            await _release(maker, unsent)
            raise
        unsent.remove(mail_id)
        sent, failed = (sent + 1, failed) if delivered else (sent, failed + 1)
    if sent or failed:
        await forget_overwritten(maker.kw["bind"])
    return DeliveryReport(sent=sent, failed=failed)


async def _deliver_one(
    maker: async_sessionmaker[AsyncSession],
    transport: MailTransport,
    mail_id: int,
    message: Message,
    *,
    mail_from: str,
    now: datetime,
    max_attempts: int,
) -> bool:
    try:
        await transport.send(message, mail_from=mail_from)
    except Exception as exc:  # any failure of the far side must leave the mail queued
        await _record_failure(maker, mail_id, error=str(exc), now=now, limit=max_attempts)
        return False
    await _record_sent(maker, mail_id, now=now)
    return True


async def _release(maker: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
    """At shutdown: hand back what this sender claimed but did not send, for the next one."""
    if not ids:
        return
    async with maker() as db, db.begin():
        await db.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(ids), OutboxMail.sent_at.is_(None))
            .values(claimed_until=None, attempts=OutboxMail.attempts - 1)
        )


def _claimable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        OutboxMail.sent_at.is_(None),
        OutboxMail.failed_at.is_(None),
        OutboxMail.next_try_at <= now,
        or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
    )


async def claim_due(
    maker: async_sessionmaker[AsyncSession], *, now: datetime, batch: int
) -> list[tuple[int, Message]]:
    """One UPDATE … RETURNING marks up to `batch` due mails as this sender's for CLAIM_FOR.

    On PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, so concurrent senders
    never wait on each other and never share a row; SQLite runs one writer at a time, so the
    same statement is atomic there. A sender that dies leaves its claim to expire."""
    async with maker() as db, db.begin():
        picked = (
            select(OutboxMail.id)
            .where(*_claimable(now))
            .order_by(OutboxMail.next_try_at)
            .limit(batch)
        )
        if db.get_bind().dialect.name == "postgresql":
            picked = picked.with_for_update(skip_locked=True)
        rows = await db.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(picked.scalar_subquery()), *_claimable(now))
            .values(claimed_until=now + CLAIM_FOR, attempts=OutboxMail.attempts + 1)
            .returning(
                OutboxMail.id,
                OutboxMail.to_addr,
                OutboxMail.kind,
                OutboxMail.subject,
                OutboxMail.text,
                OutboxMail.html,
            )
            .execution_options(synchronize_session=False)
        )
        return [
            (
                row.id,
                Message(
                    to=row.to_addr, kind=row.kind, subject=row.subject, text=row.text, html=row.html
                ),
            )
            for row in rows
        ]


async def _record_success(
    maker: async_sessionmaker[AsyncSession], mail_id: int, *, now: datetime
) -> None:
    async with maker() as db, db.begin():
        await db.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail_id)
            .values(sent_at=now, claimed_until=None, text="", html="", last_error="")
        )


async def _record_sent(
    maker: async_sessionmaker[AsyncSession], mail_id: int, *, now: datetime
) -> None:
    """Keeps trying while the database is briefly away: a claim that expired unrecorded would
    send the mail a second time. Gives up (and raises) well before the claim runs out."""
    for attempt in range(RECORD_TRIES):
        try:
            await _record_success(maker, mail_id, now=now)
            return
        except Exception:
            if attempt == RECORD_TRIES - 1:
                raise
            await asyncio.sleep(RECORD_RETRY.total_seconds())


async def _record_failure(
    maker: async_sessionmaker[AsyncSession],
    mail_id: int,
    *,
    error: str,
    now: datetime,
    limit: int,
) -> None:
    log.warning("Mail %s not delivered: %s", mail_id, error)
    async with maker() as db, db.begin():
        row = await db.get_one(OutboxMail, mail_id)
        row.claimed_until = None
        row.last_error = error[:500]
        row.next_try_at = now + backoff(row.attempts)
        if row.attempts >= limit:
            row.failed_at = now
            row.text = row.html = ""


async def run_sender(
    maker: async_sessionmaker[AsyncSession],
    transport: MailTransport,
    *,
    mail_from: str,
    poll_seconds: float,
    max_attempts: int,
    wake: asyncio.Event,
) -> None:
    """The background loop of one worker; woken at once when this worker queues a mail."""
    from keyfob.models import utcnow

    while True:
        try:
            await deliver_due(
                maker, transport, mail_from=mail_from, now=utcnow(), max_attempts=max_attempts
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be briefly away; the loop must outlive that
            log.exception("Outbox pass failed; retrying")
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
