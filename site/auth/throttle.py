"""Named rate limits on the `limits` package: in memory for one process, in Redis for many.

Counters are keyed by action plus a hash of the address or IP, so Redis never holds an email.
A moving window counts every hit; `hit` raises Throttled with the seconds to wait. With the
in-memory store each worker counts alone: set KEYFOB_REDIS_URL when running several workers.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
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


class LocalWindows:
    """Moving windows in this process's memory, for when there is no Redis.

    limits' async memory storage hands an expiry sweep of every key to a thread on each hit
    (about 50 thread hand-offs per passkey sign-in: most of that request's CPU) and copies each
    window's list as it goes. Here a hit is a deque append; expired hits fall off the left,
    and windows left empty are swept every SWEEP_EVERY hits. One event loop: no locks needed.
    """

    SWEEP_EVERY = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, deque[float]]] = {}
        self._until_sweep = self.SWEEP_EVERY

    def hit(self, item: RateLimitItem, *identifiers: str, now: float) -> float:
        """Counts the hit and returns 0, or refuses it and returns the seconds until room."""
        name = item.key_for(*identifiers)
        length, hits = self._windows.setdefault(name, (item.get_expiry(), deque()))
        while hits and hits[0] <= now - length:
            hits.popleft()
        if len(hits) >= item.amount:
            return max(hits[len(hits) - item.amount] + length - now, 1e-3)
        hits.append(now)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._until_sweep = self.SWEEP_EVERY
            self._windows = {
                k: (span, q) for k, (span, q) in self._windows.items() if q and q[-1] > now - span
            }
        return 0.0

    def clear(self) -> None:
        self._windows.clear()


class Throttle:
    def __init__(self, storage_url: str, rates: Mapping[str, str]) -> None:
        self._local = LocalWindows() if storage_url.startswith("async+memory") else None
        storage = storage_from_string(storage_url)
        self._limiter = MovingWindowRateLimiter(storage)
        self._rates: dict[str, list[RateLimitItem]] = {
            name: parse_many(rate) for name, rate in {**DEFAULT_RATES, **rates}.items()
        }

    async def hit(self, action: str, key: str) -> None:
        """Counts one hit; raises Throttled, with the wait, if any rate of `action` is spent."""
        hashed = hashlib.sha256(key.lower().encode()).hexdigest()[:32]
        for item in self._rates[action]:
            if self._local is not None:
                wait = self._local.hit(item, action, hashed, now=time.time())
                if wait:
                    raise Throttled(retry_after=max(1, math.ceil(wait)))
            elif not await self._limiter.hit(item, action, hashed):
                stats = await self._limiter.get_window_stats(item, action, hashed)
                raise Throttled(retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    async def reset(self) -> None:
        if self._local is not None:
            self._local.clear()
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
