"""Engine and session factory. Nothing connects until first use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from keyfob.events import Events

# Connections kept open per worker. Past POOL_SIZE, SQLAlchemy opens overflow connections and
# closes each one when it is returned: under load that is a new PostgreSQL backend (a fork) or a
# new SQLite thread and file per request, which cost more than the request itself.
POOL_SIZE = 20
POOL_OVERFLOW = 10
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
    """SQLite gets WAL and a busy timeout, so several workers can share one file, and one
    connection per worker: SQLite has one writer at a time, and more connections (each an
    aiosqlite thread) only fight for its lock in the busy handler, which sleeps up to 100 ms a
    try. Measured with tests.bench (2 workers, 64 clients, passkey sign-in): 20 + 10
    connections 61 sign-ins/s, p99 6.2 s; 4: 72/s, p99 1.3 s; 1: 75/s, p99 0.77 s. Requests
    wait their turn in the pool instead, first come first served."""
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    if url.startswith("sqlite"):
        pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 0}
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, **pool)
    event.listen(engine.sync_engine, "checkout", _drop_if_closed)
    return engine


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
    then. Nothing to do on PostgreSQL, whose files only the server's own user reads."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def make_sessionmaker(
    engine: AsyncEngine, events: Events | None = None
) -> async_sessionmaker[AsyncSession]:
    """`events`: the handlers every session it makes runs on account changes."""
    info = events.session_info() if events is not None else {}
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed if the block finishes, rolled back if it raises."""
    async with maker() as session, session.begin():
        yield session
