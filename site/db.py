"""Engine and session factory. Nothing connects until first use."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from keyfob.events import Events
from keyfob.pool import FairPool

# Connections a worker keeps open on PostgreSQL, opened as requests need them. None is an
# overflow connection, which SQLAlchemy closes when it is returned: under load that was a new
# PostgreSQL backend (a fork) several times a second, as a request holds its connection across
# several turns of a busy event loop (60 ms at the median in tests.bench's sign-in), so 20
# kept and 10 in overflow were often all taken. Two pairs of runs, 20 + 10 against 30 + 0: the
# sign-in's p99 292 and 346 ms against 208 and 199, throughput the same within the noise.
POOL_SIZE = 30
SQLITE_POOL_SIZE = 1


def private_sqlite_file(url: str) -> None:
    """A SQLite database and its -wal and -shm files are readable by the site's user only,
    in a folder only that user may enter, whatever the umask."""
    if not url.startswith("sqlite"):
        return
    name = url.split("///", 1)[-1]
    if not name or name == ":memory:":
        return
    file = Path(name)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    file.touch(mode=0o600, exist_ok=True)
    for path in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        if path.exists():
            path.chmod(0o600)


def make_engine(url: str) -> AsyncEngine:
    """SQLite gets WAL, so several workers can share one file, one connection per worker, and
    its statements run in place (see `InPlaceConnection`): SQLite has one writer at a time,
    and more connections, or the round trips to aiosqlite's thread, only lengthen the time
    the write lock is held while every other writer waits. Measured with tests.bench (2
    workers, 64 clients, passkey sign-in): 20 + 10 connections 61 sign-ins/s, p99 6.2 s; 4:
    72/s, p99 1.3 s; 1: 75/s, p99 0.77 s. Requests wait their turn in the pool instead, first
    come first served (`keyfob.pool`)."""
    sqlite = url.startswith("sqlite")
    pool: dict[str, Any] = {
        "poolclass": FairPool,
        "pool_size": SQLITE_POOL_SIZE if sqlite else POOL_SIZE,
        "max_overflow": 0,
    }
    if sqlite:
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            engine = create_async_engine(url, async_creator=partial(_in_place, path), **pool)
        else:
            engine = create_async_engine(url, connect_args={"timeout": BUSY_WAIT}, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, **pool)
    event.listen(engine.sync_engine, "checkout", _drop_if_closed)
    return engine


BUSY_WAIT = 30.0  # seconds a statement waits for another process's write lock


class _RunAtOnce:
    """Stands in for the queue to aiosqlite's thread: what is put in runs at once, here."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the waiting caller, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InPlaceConnection(aiosqlite.Connection):
    """aiosqlite's connection without its thread: each call runs in the caller's thread, at
    once. A statement on a warm, local SQLite file takes microseconds, while a round trip to
    aiosqlite's thread cost more CPU than the statement (a queue, a thread switch, the
    interpreter lock handed over twice, a callback on the event loop), and each one let the
    event loop run other requests in the middle of a transaction: a sign-in's write lock was
    held for as many event-loop turns as it had statements. In place, a transaction's writes
    run back to back and the lock is held for their own time only.

    Writers take turns through `WriterLock` (a file lock next to the database) before their
    first write, so SQLite's own lock is free when they reach it and nobody waits in its
    busy handler, which would block the event loop here and sleeps up to 100 ms a try. A
    writer outside the site (a `keyfob` command) can still hold SQLite's lock: a statement
    refused with SQLITE_BUSY is tried again after an asynchronous sleep, for up to BUSY_WAIT
    seconds; a statement refused the lock did nothing, so that is safe. SQLITE_BUSY_SNAPSHOT
    (a transaction that read an older snapshot) is raised at once, as before."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], lock: WriterLock) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]
        self._writer = lock

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        conn = self._connection
        if not self._writer.held and args and _writes(args[0]) and not conn.in_transaction:
            await self._writer.acquire()
        try:
            return await _patiently(fn, *args, **kwargs)
        finally:
            if self._writer.held and not _in_transaction(conn):
                self._writer.release()  # committed, rolled back, or the write failed alone

    def stop(self) -> asyncio.Future[Any] | None:
        self._writer.close()
        return super().stop()


def _in_transaction(conn: sqlite3.Connection) -> bool:
    try:
        return conn.in_transaction
    except sqlite3.ProgrammingError:  # closed
        return False


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _writes(sql: object) -> bool:
    return isinstance(sql, str) and sql.lstrip()[:7].upper().startswith(WRITES)


async def _patiently(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    pause = 0.0005
    deadline = None
    while True:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                raise
            now = time.monotonic()
            deadline = deadline or now + BUSY_WAIT
            if now >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.004)


class WriterLock:
    """An exclusive flock on `<database>-lock`, one open file per connection: the site's
    writers, in every worker, take turns at it from their first write to their commit. A
    free lock is taken at once; a busy one is tried again after an asynchronous sleep of
    0.2 ms, doubling up to 2 ms, for up to BUSY_WAIT seconds. A writer holds it for well
    under a millisecond. Waiting in a thread for the kernel to hand the lock over instead
    cost more than the wait: a thread hand-off and the interpreter lock taken back and forth
    on every turn (tests.bench, sign-in on SQLite, pairs of runs: 258/227 sign-ins/s in a
    thread, 280/253 polling). A cancelled request simply stops asking."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.held = False

    async def acquire(self) -> None:
        pause = 0.0002
        deadline = None
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                deadline = deadline or now + BUSY_WAIT
                if now >= deadline:
                    raise TimeoutError("the database's writer lock stayed busy") from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.002)
        self.held = True

    def release(self) -> None:
        self.held = False
        self._unlock()

    def _unlock(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # lets go of the lock too
            self.fd = -1
            self.held = False


async def _in_place(path: str) -> aiosqlite.Connection:
    lock = WriterLock(path + "-lock")
    return await InPlaceConnection(
        partial(sqlite3.connect, path, timeout=0, check_same_thread=False), lock
    )


def _drop_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hands out no connection the server has already closed (a restart, an idle timeout):
    the pool then opens a fresh one, so a database restart costs no failed request once it
    is back. Unlike `pool_pre_ping`, which spends three round trips on every checkout, this
    only asks the driver, which learnt of the close from the socket."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("connection closed by the server")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted or overwritten content (a sent mail's body, which held a code) is zeroed in the
    # file instead of lingering in free space.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


async def forget_overwritten(engine: AsyncEngine) -> None:
    """On SQLite, moves the write-ahead log into the database and empties it: the log still
    holds every earlier version of a changed row (a mail body before it was erased) until
    then. Nothing to do on PostgreSQL, whose files only the server's own user reads.

    On a connection of its own, in a thread: the checkpoint waits for readers and writers in
    SQLite's busy handler and writes the whole log back, which the event loop must not wait
    out (the site's connections run their statements in place)."""
    if engine.dialect.name != "sqlite":
        return
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    await asyncio.to_thread(_checkpoint, path)


def _checkpoint(path: str) -> None:
    conn = sqlite3.connect(path, timeout=BUSY_WAIT)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()


def make_sessionmaker(
    engine: AsyncEngine, events: Events | None = None
) -> async_sessionmaker[AsyncSession]:
    """`events`: the handlers every session it makes runs on account changes."""
    from keyfob.prepared import CheckedSession, refuse_unsent  # it builds on this module

    if not event.contains(CheckedSession, "before_commit", refuse_unsent):
        event.listen(CheckedSession, "before_commit", refuse_unsent)
    info = events.session_info() if events is not None else {}
    return async_sessionmaker(
        engine, expire_on_commit=False, info=info, sync_session_class=CheckedSession
    )


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed if the block finishes, rolled back if it raises."""
    async with maker() as session, session.begin():
        yield session
