"""SQLite's writers, as the site's workers share one file: statements run in place, writers
take turns through the file lock next to the database, and nobody waits in SQLite's busy
handler on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from keyfob.db import make_engine


async def _table(tmp_path: Path) -> tuple[str, list[AsyncEngine]]:
    path = tmp_path / "writers.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    engines = [make_engine(url), make_engine(url)]  # two workers' engines
    async with engines[0].begin() as conn:
        await conn.execute(text("CREATE TABLE hits (worker INTEGER, n INTEGER)"))
    return str(path), engines


def _mode(path: str) -> int:
    return Path(path).stat().st_mode & 0o777


async def _write(engine: AsyncEngine, worker: int, n: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT count(*) FROM hits"))
        await conn.execute(text("INSERT INTO hits VALUES (:w, :n)"), {"w": worker, "n": n})
        await asyncio.sleep(0)  # another request runs in the middle of the transaction
        await conn.execute(
            text("UPDATE hits SET n = n + 1 WHERE worker = :w AND n = :n"), {"w": worker, "n": n}
        )


async def test_two_workers_writing_at_once_all_commit(tmp_path: Path) -> None:
    path, engines = await _table(tmp_path)
    try:
        await asyncio.gather(
            *(_write(engine, w, n) for n in range(60) for w, engine in enumerate(engines))
        )
        async with engines[1].connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM hits"))).scalar() == 120
        assert _mode(path + "-lock") == 0o600
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_cancelled_writer_does_not_keep_the_lock(tmp_path: Path) -> None:
    _, (first, second) = await _table(tmp_path)
    try:
        holder = await first.connect()
        await holder.execute(text("INSERT INTO hits VALUES (1, 1)"))  # holds the writer lock
        waiting = asyncio.ensure_future(_write(second, 2, 1))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it waits its turn
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await holder.commit()
        await holder.close()
        await asyncio.wait_for(_write(second, 2, 2), timeout=5)
        await asyncio.wait_for(_write(first, 1, 3), timeout=5)
    finally:
        await first.dispose()
        await second.dispose()


async def test_an_outside_writer_is_waited_for_without_blocking_the_event_loop(
    tmp_path: Path,
) -> None:
    path, (engine, other) = await _table(tmp_path)
    await other.dispose()
    outside = sqlite3.connect(path, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")  # a `keyfob` command holding SQLite's own write lock
    outside.execute("INSERT INTO hits VALUES (9, 9)")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.ensure_future(ticker())
    try:
        writing = asyncio.ensure_future(_write(engine, 1, 1))
        began = time.monotonic()
        await asyncio.sleep(0.5)
        assert not writing.done()
        assert ticks >= 20  # the event loop kept running while the write waited
        outside.execute("COMMIT")
        await asyncio.wait_for(writing, timeout=5)
        assert time.monotonic() - began < 2
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM hits"))).scalar() == 2
    finally:
        ticking.cancel()
        outside.close()
        await engine.dispose()
