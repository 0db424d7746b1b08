"""Named rate limits on the `limits` package: in memory for one process, in Redis for many.

Counters are keyed by action plus a hash of the address or IP, so Redis never holds an email.
A moving window counts every hit; `hit` raises Throttled with the seconds to wait. With the
in-memory store each worker counts alone: set KEYFOB_REDIS_URL when running several workers.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from datetime import datetime

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit
from keyfob.auth.client import Client
from keyfob.errors import Throttled

DEFAULT_RATES: dict[str, str] = {
    "send_code:address": "5 per hour",  # mail bombing one inbox (the 30 s resend wait is on top)
    "send_code:ip": "30 per hour",  # mail bombing many inboxes from one place
    "verify_code:ip": "30 per 10 minutes",  # guessing across many codes and addresses
    "passkey:ip": "60 per minute",  # ceremony spam: challenges written to the database
    "post:ip": "120 per minute",  # any other form post
}


class Throttle:
    def __init__(self, storage_url: str, rates: Mapping[str, str]) -> None:
        storage = storage_from_string(storage_url)
        self._limiter = MovingWindowRateLimiter(storage)
        self._rates: dict[str, list[RateLimitItem]] = {
            name: parse_many(rate) for name, rate in {**DEFAULT_RATES, **rates}.items()
        }

    async def hit(self, action: str, key: str) -> None:
        """Counts one hit; raises Throttled, with the wait, if any rate of `action` is spent."""
        hashed = hashlib.sha256(key.lower().encode()).hexdigest()[:32]
        for item in self._rates[action]:
            if not await self._limiter.hit(item, action, hashed):
                stats = await self._limiter.get_window_stats(item, action, hashed)
                raise Throttled(retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    async def reset(self) -> None:
        await self._limiter.storage.reset()

    def close(self) -> None:
        """Drops Redis connections at shutdown; the in-memory store has none."""
        client = getattr(getattr(self._limiter.storage, "bridge", None), "storage", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()


async def enforce(
    throttle: Throttle, db: AsyncSession, action: str, key: str, *, now: datetime, client: Client
) -> None:
    """`hit`, and a refusal goes to the audit log (the caller commits on KeyfobError)."""
    try:
        await throttle.hit(action, key)
    except Throttled as exc:
        audit.record(
            db, "throttled", now=now, client=client, action=action, retry_after=exc.retry_after
        )
        raise


def storage_url(redis_url: str) -> str:
    if not redis_url:
        return "async+memory://"
    return "async+" + redis_url if not redis_url.startswith("async+") else redis_url
