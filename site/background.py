"""The work each worker does beside serving requests: delivering mail and purging the expired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from keyfob.auth.cleanup import Retention, purge_expired
from keyfob.db import transaction
from keyfob.mail import outbox
from keyfob.models import utcnow
from keyfob.web.runtime import Runtime

log = logging.getLogger("keyfob.background")
PURGE_EVERY = timedelta(minutes=10)


async def run_purger(runtime: Runtime) -> None:
    settings = runtime.settings
    keep = Retention(
        audit=timedelta(days=settings.audit_retention_days),
        session_idle=settings.session_idle,
        session_lifetime=settings.session_lifetime,
    )
    while True:
        try:
            async with transaction(runtime.sessionmaker) as db:
                await purge_expired(db, now=utcnow(), keep=keep)
        except Exception:  # a passing database outage must not end the loop
            log.exception("Purge failed; retrying later")
        await asyncio.sleep(PURGE_EVERY.total_seconds())


@asynccontextmanager
async def background_tasks(runtime: Runtime, *, send_mail: bool) -> AsyncIterator[None]:
    """Runs for the life of the app; cancelled at shutdown, leaving unsent mail queued."""
    settings = runtime.settings
    tasks = [asyncio.create_task(run_purger(runtime))]
    if send_mail:
        tasks.append(
            asyncio.create_task(
                outbox.run_sender(
                    runtime.sessionmaker,
                    runtime.transport,
                    mail_from=settings.mail_from,
                    poll_seconds=settings.outbox_poll_seconds,
                    max_attempts=settings.outbox_max_attempts,
                    wake=runtime.mail_wake,
                )
            )
        )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
