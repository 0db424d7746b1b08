"""The connection pool, with connections handed to waiting requests in the order they came.

SQLAlchemy's asyncio pool keeps idle connections in an `asyncio.Queue`. A connection given
back wakes the first waiting request, but that request runs only on a later turn of the
event loop; a request that asks in between takes the connection, and the one woken finds the
queue empty and joins the back of the line. On SQLite a worker has one connection, so nearly
every request waits for it, and some were passed over again and again: in tests.bench's
sign-in (2 workers, 64 clients) p99 was 510 ms where the median was 110. Here a connection
given back goes straight to the request that has waited longest, and a request that arrives
while others wait queues behind them: p99 189 ms (medians of five interleaved pairs of
runs), with the same throughput within the noise.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import Empty, Full, QueueCommon

T = TypeVar("T")


class ArrivalOrderQueue(QueueCommon[T]):
    """Idle connections, and the requests waiting for one, each first in first out.

    Guarantees: an item put while requests wait goes to the earliest of them that is still
    waiting (those that timed out or were cancelled are skipped then, so idle items and
    waiters are never queued at once); `get` takes an idle item only when nobody is waiting
    ahead of it; a waiter that times out raises `Empty` (the pool turns it into its
    TimeoutError); a waiter cancelled after an item was handed to it hands that item on, so a
    cancelled request never keeps a connection. Used from the event loop's thread only, like
    SQLAlchemy's own.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._items: deque[T] = deque()
        self._waiters: deque[asyncio.Future[T]] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        if self._hand_over(item):
            return
        if self.full():
            raise Full()
        self._items.append(item)

    def _hand_over(self, item: T) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never puts more than it took: it never waits here

    def get_nowait(self) -> T:
        return self.get(block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if self._items and not self._waiters:
            return self._items.pop() if self.use_lifo else self._items.popleft()
        if not block:
            raise Empty()
        result: T = await_only(self._wait(timeout))
        return result

    async def _wait(self, limit: float | None) -> T:
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(limit):
                try:
                    return await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        self._give_back(waiter.result())
                    raise
        except TimeoutError:
            raise Empty() from None

    def _give_back(self, item: T) -> None:
        """A connection handed to a waiter that was cancelled before it could take it. The
        pool still counts it as checked out, so it is put back even where the pool now looks
        full (an overflow connection returned meanwhile): raising `Full` here would lose it
        and turn the cancellation into an error. The next connection returned to a full pool
        is closed instead, as the pool does with any overflow connection."""
        if not self._hand_over(item):
            self._items.append(item)


class FairPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, its waiters served in arrival order."""

    _queue_class = ArrivalOrderQueue[ConnectionPoolEntry]
