"""The pool serves waiting requests in the order they came: a request that asks for a
connection while others wait does not take it from them, a waiter cancelled as a connection
reaches it passes the connection on, and a wait that times out is the pool's TimeoutError."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from keyfob.db import make_engine
from keyfob.pool import ArrivalOrderQueue, FairPool


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The site's SQLite engine: one connection a worker, so every request waits its turn."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}")
    yield engine
    await engine.dispose()


async def test_a_returned_connection_goes_to_the_longest_waiter(engine: AsyncEngine) -> None:
    served: list[str] = []

    async def request(name: str) -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            served.append(name)

    holder = await engine.connect()
    waiting = [asyncio.create_task(request(f"waiter {n}")) for n in range(3)]
    await asyncio.sleep(0.05)
    await holder.close()
    await request("late")  # asks before the first waiter has run again
    await asyncio.gather(*waiting)

    assert served == ["waiter 0", "waiter 1", "waiter 2", "late"]
    pool = engine.sync_engine.pool
    assert isinstance(pool, FairPool) and pool.checkedout() == 0


async def test_nobody_takes_an_idle_item_past_a_waiter() -> None:
    queue: ArrivalOrderQueue[str] = ArrivalOrderQueue()
    first = asyncio.create_task(greenlet_spawn(queue.get, True, 5))
    await asyncio.sleep(0)
    queue.put_nowait("connection")
    with pytest.raises(Empty):
        queue.get_nowait()
    assert await first == "connection"


async def test_a_waiter_cancelled_as_the_connection_reaches_it_passes_it_on() -> None:
    queue: ArrivalOrderQueue[str] = ArrivalOrderQueue()
    cancelled = asyncio.create_task(greenlet_spawn(queue.get, True, 5))
    after = asyncio.create_task(greenlet_spawn(queue.get, True, 5))
    await asyncio.sleep(0)
    queue.put_nowait("connection")  # handed to the first waiter, which has not run yet
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await asyncio.wait_for(after, 5) == "connection"
    assert queue.empty()


async def test_a_cancelled_waiter_gives_back_its_connection_even_to_a_full_pool() -> None:
    """The connection handed to a waiter that is cancelled goes back even when an overflow
    connection has filled the pool's idle slot meanwhile: not lost, and the request ends as
    cancelled, not with an error."""
    pool = FairPool(lambda: sqlite3.connect(":memory:"), pool_size=1, max_overflow=1, timeout=1)
    first = await greenlet_spawn(pool.connect)
    overflow = await greenlet_spawn(pool.connect)
    waiter = asyncio.create_task(greenlet_spawn(pool.connect))
    await asyncio.sleep(0)
    first.close()  # handed to the waiter, which has not run yet
    waiter.cancel()
    overflow.close()  # nobody waits now: into the idle slot
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert pool.checkedout() == 0
    both = [await greenlet_spawn(pool.connect) for _ in range(2)]
    for connection in both:
        connection.close()
    assert pool.checkedout() == 0


async def test_a_waiter_that_timed_out_keeps_nothing() -> None:
    queue: ArrivalOrderQueue[str] = ArrivalOrderQueue()
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.01)
    queue.put_nowait("connection")
    assert queue.get_nowait() == "connection"


async def test_a_full_pool_times_out_with_sqlalchemys_error(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'full.db'}",
        poolclass=FairPool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.05,
    )
    try:
        async with engine.connect():
            with pytest.raises(exc.TimeoutError):
                await engine.connect()
        async with engine.connect() as connection:  # the timed-out wait left nothing behind
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


def test_every_engine_the_site_makes_uses_it(tmp_path: Path) -> None:
    for url in (f"sqlite+aiosqlite:///{tmp_path / 'site.db'}", "postgresql+asyncpg://k@h/db"):
        assert isinstance(make_engine(url).pool, FairPool)
