"""Core statements for the passkey sign-in path, compiled once and run on the driver's own
connection.

SQLAlchemy spends 150 to 250 µs of CPU running one Core statement (its cache key, execution
context, result set and a greenlet switch), where aiosqlite on Keyfob's in-place connection
spends about 20 and asyncpg about 40: on a sign-in that was most of the request. `Prepared`
compiles a statement once per dialect and set of parameter names with SQLAlchemy, keeps
SQLAlchemy's own conversion of each parameter and result column (dates, booleans, JSON and
bytes are stored and read exactly as through the ORM), and runs the SQL on the session's own
connection, in its transaction:

- SQLite (a file): on `db.InPlaceConnection`, whose writer lock and busy retry apply as to
  any other statement; sqlite3 opens the transaction at the first write, as under SQLAlchemy.
- PostgreSQL: on the asyncpg connection, while it is inside a transaction: SQLAlchemy begins
  one at its first statement, and asyncpg would run a statement outside one otherwise, so a
  statement that finds the connection outside a transaction goes through SQLAlchemy. Two
  exceptions need no transaction, and save its BEGIN and COMMIT round trips: a statement
  made `standalone` (its effect stands on its own, whatever the request does next), and the
  writes a batching session kept back (`later`, `send_waiting`). The pool drops a
  connection the server closed at its next checkout.
- Either driver's errors are raised as SQLAlchemy's DBAPIError, as through SQLAlchemy.
- Anything else (SQLite in memory): SQLAlchemy's Core, as usual.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from keyfob.db import InPlaceConnection

if TYPE_CHECKING:
    import asyncpg

Convert = Callable[[Any], Any] | None
Statement = Select[*tuple[Any, ...]] | UpdateBase


@dataclass(frozen=True)
class Compiled:
    compiled: SQLCompiler
    names: tuple[str, ...]
    binds: tuple[Convert, ...]
    columns: tuple[str, ...]
    results: tuple[Convert, ...]
    sources: tuple[tuple[str | None, Any], ...] | None = None
    """Per position: the parameter's key, or None and the statement's own value. None when
    only SQLAlchemy's `construct_params` can tell (a value computed by a callable)."""

    @property
    def sql(self) -> str:
        return self.compiled.string

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        if self.sources is None:
            values = self.compiled.construct_params(dict(params))
            ordered: Iterable[Any] = (values[name] for name in self.names)
        else:
            ordered = (value if key is None else params[key] for key, value in self.sources)
        return [
            convert(value) if convert is not None else value
            for value, convert in zip(ordered, self.binds, strict=True)
        ]

    def record(self, row: Iterable[Any]) -> dict[str, Any]:
        return {
            key: convert(value) if convert is not None else value
            for key, value, convert in zip(self.columns, row, self.results, strict=True)
        }


LINK = "keyfob.prepared.link"  # the key in `db.info`
BATCH = "keyfob.prepared.batch"  # set in `db.info`: this session's `later` writes may wait


@dataclass(frozen=True)
class Waiting:
    """A write kept back by `later`: its table, SQL and converted arguments."""

    table: str
    sql: str
    arguments: list[Any]


@dataclass
class Link:
    """The driver's connection under the session's, for prepared statements. Kept on the
    session for the rest of its transaction: asking SQLAlchemy for it costs a greenlet switch,
    more than a statement."""

    dialect: Dialect
    driver: InPlaceConnection | asyncpg.Connection | None
    transaction: SessionTransaction
    waiting: list[Waiting] = field(default_factory=list)


class CheckedSession(Session):
    """The site's sessions (`keyfob.db.make_sessionmaker`): a commit while writes kept back by
    `Prepared.later` have not been sent is refused, not allowed to drop them without a word,
    whichever way it is made (`commit()`, the end of `begin()`): see `refuse_unsent`."""


def refuse_unsent(session: Session) -> None:
    """`before_commit` of every `CheckedSession`."""
    kept = session.info.get(LINK)
    if isinstance(kept, Link) and kept.waiting and kept.transaction is session.get_transaction():
        raise RuntimeError("writes are waiting: send_waiting comes before the commit")


def batch_writes(db: AsyncSession) -> None:
    """From now on, this session's `later` writes on PostgreSQL wait for `send_waiting`, which
    the caller must await before it commits. For a unit of work whose last statements are
    writes nobody reads back: the passkey sign-in (`keyfob.web.deps.guarded_endpoint`)."""
    db.info[BATCH] = True


async def link(db: AsyncSession) -> Link:
    """Pending ORM changes are written first, so a statement sees (and may refer to) them."""
    if db.new or db.dirty or db.deleted:
        await db.flush()
    current = db.sync_session.get_transaction()
    kept = db.info.get(LINK)
    if isinstance(kept, Link) and current is not None and kept.transaction is current:
        return kept
    made = await db.run_sync(_link)
    db.info[LINK] = made
    return made


def _link(session: Session) -> Link:
    """One greenlet switch for the connection, its driver's and the transaction."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    transaction = session.get_transaction()
    assert transaction is not None  # session.connection() began one
    if not isinstance(driver, InPlaceConnection) and connection.dialect.driver != "asyncpg":
        driver = None  # asyncpg is imported only where SQLAlchemy connects with it
    return Link(connection.dialect, driver, transaction)


class Prepared:
    """One statement; `rows` for a SELECT, `run` (the row count) for the rest, `later` for a
    write whose row count nobody needs.

    `standalone`: the statement's effect stands on its own, so on PostgreSQL it may run
    outside a transaction, committed by itself, when it is a request's first (for example a
    challenge spent the moment it is presented); inside a transaction it joins it."""

    def __init__(self, statement: Statement, *, standalone: bool = False) -> None:
        self.statement = statement
        self.standalone = standalone
        self._compiled: dict[tuple[str, frozenset[str]], Compiled] = {}

    async def rows(self, db: AsyncSession, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        direct = await self._direct(db, params)
        if direct is None:
            result = await (await db.connection()).execute(self.statement, params)
            return [dict(row) for row in result.mappings()]
        driver, compiled, outside = direct
        with _driver_errors(compiled), _closed_on_failure(driver if outside else None):
            if isinstance(driver, InPlaceConnection):
                cursor = await driver.execute(compiled.sql, compiled.arguments(params))
                found: Iterable[Iterable[Any]] = await cursor.fetchall()
            else:
                found = await driver.fetch(compiled.sql, *compiled.arguments(params))
        return [compiled.record(row) for row in found]

    async def run(self, db: AsyncSession, params: Mapping[str, Any]) -> int:
        direct = await self._direct(db, params)
        if direct is None:
            result = await (await db.connection()).execute(self.statement, params)
            return int(result.rowcount)
        driver, compiled, outside = direct
        with _driver_errors(compiled), _closed_on_failure(driver if outside else None):
            if isinstance(driver, InPlaceConnection):
                cursor = await driver.execute(compiled.sql, compiled.arguments(params))
                return int(cursor.rowcount)
            status = await driver.execute(compiled.sql, *compiled.arguments(params))
        return int(status.rsplit(" ", 1)[-1])  # "DELETE 1", "INSERT 0 1"

    async def later(self, db: AsyncSession, params: Mapping[str, Any]) -> None:
        """In a batching session (`batch_writes`) on PostgreSQL the write waits, to go with
        the session's other waiting writes in as few statements as PostgreSQL can run
        atomically (`send_waiting`); anywhere else it runs at once, as `run`."""
        dialect = getattr(db.bind, "dialect", None)
        if not db.info.get(BATCH) or dialect is None or dialect.driver != "asyncpg":
            await self.run(db, params)  # one link, made by `run`
            return
        if not isinstance(self.statement, UpdateBase):
            raise TypeError("only a write can wait")
        on = await link(db)
        compiled = self._for(on.dialect, params)
        table = str(getattr(self.statement, "table", ""))
        on.waiting.append(Waiting(table, compiled.sql, compiled.arguments(params)))

    async def _direct(
        self, db: AsyncSession, params: Mapping[str, Any]
    ) -> tuple[InPlaceConnection | asyncpg.Connection, Compiled, bool] | None:
        """The driver's connection, the compiled statement and whether it runs outside a
        transaction; or None: through SQLAlchemy."""
        on = await link(db)
        if on.waiting:
            raise RuntimeError("a statement after a waiting write: send_waiting comes first")
        driver = on.driver
        if driver is None:
            return None
        outside = not isinstance(driver, InPlaceConnection) and not driver.is_in_transaction()
        if outside and not self.standalone:
            return None
        return driver, self._for(on.dialect, params), outside

    def _for(self, dialect: Dialect, params: Mapping[str, Any]) -> Compiled:
        key = (dialect.name, frozenset(params))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_for(self.statement, dialect, list(params))
        return found


async def send_waiting(db: AsyncSession) -> None:
    """Sends the writes `later` kept back, in the order they were made. Inside a transaction
    they join it. Outside one, each group is one statement, atomic by itself (PostgreSQL runs
    the writes of a WITH clause together), and several groups share one transaction of
    asyncpg's own. ORM changes still pending are written first, in a transaction the waiting
    writes join, so the two commit together; so an ORM change made after a waiting write
    reaches the database before it (on SQLite, where `later` runs at once, after it): a unit
    of work does not change one row both ways. A write waits at most until its session commits:
    the caller awaits this first (`CheckedSession` refuses the commit otherwise), and no
    prepared statement runs after a waiting write (`_direct` refuses). Writes kept in a
    transaction that has since ended (a rollback) are dropped with it. A request cancelled
    (its client gone) while the one statement is in flight closes the connection, and the
    statement still commits all of its writes or none, as a COMMIT in flight would: a session
    nobody holds the token of, which expires unused."""
    kept = db.info.get(LINK)
    if not isinstance(kept, Link) or not kept.waiting:
        return
    if kept.transaction is not db.sync_session.get_transaction():
        kept.waiting = []
        return  # kept in a transaction that has ended: rolled back with it
    if db.new or db.dirty or db.deleted:
        await db.flush()  # begins the transaction, which the waiting writes then join
    waiting, kept.waiting = kept.waiting, []
    driver = kept.driver
    assert driver is not None and not isinstance(driver, InPlaceConnection)
    groups = joined(waiting)
    outside = not driver.is_in_transaction()
    with (
        _driver_errors(groups[0][0], kept.dialect),
        _closed_on_failure(driver if outside else None),
    ):
        if outside and len(groups) > 1:
            async with driver.transaction():
                for sql, arguments in groups:
                    await driver.execute(sql, *arguments)
        else:
            for sql, arguments in groups:
                await driver.execute(sql, *arguments)


_PLACEHOLDER = re.compile(r"(?<![\w$])\$(\d+)")


def _plain(sql: str) -> bool:
    """No quoted name or string and no dollar quoting: every `$n` in it is a placeholder."""
    return "'" not in sql and '"' not in sql and "$$" not in sql


def joined(waiting: list[Waiting]) -> list[tuple[str, list[Any]]]:
    """Consecutive writes as one statement, `WITH w0 AS (first), w1 AS (second) last`, with
    their placeholders numbered on. PostgreSQL runs them on one snapshot, where none sees the
    others' changes and two changes to one row are undefined, so a group holds each table
    once; and a statement with quotes in it (where a `$1` might not be a placeholder) goes
    alone."""
    groups: list[list[Waiting]] = []
    for write in waiting:
        last = groups[-1] if groups else None
        if (
            last is None
            or not _plain(write.sql)
            or not _plain(last[-1].sql)
            or any(w.table == write.table for w in last)
        ):
            groups.append([write])
        else:
            last.append(write)
    return [_one_statement(group) for group in groups]


def _one_statement(group: list[Waiting]) -> tuple[str, list[Any]]:
    if len(group) == 1:
        return group[0].sql, list(group[0].arguments)
    arguments = [value for write in group for value in write.arguments]
    return _with_clauses(tuple((w.sql, len(w.arguments)) for w in group)), arguments


@lru_cache(maxsize=64)
def _with_clauses(parts: tuple[tuple[str, int], ...]) -> str:
    """The joined SQL for a sequence of statements: the same few for every sign-in."""
    numbered: list[str] = []
    offset = 0
    for sql, count in parts:
        numbered.append(_renumbered(sql, offset))
        offset += count
    heads = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(numbered[:-1]))
    return f"WITH {heads} {numbered[-1]}"


def _renumbered(sql: str, offset: int) -> str:
    if not offset:
        return sql
    return _PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


@contextmanager
def _closed_on_failure(driver: InPlaceConnection | asyncpg.Connection | None) -> Iterator[None]:
    """Outside SQLAlchemy's transaction, SQLAlchemy cannot clean up after a failure (an error,
    a lost connection, a cancelled request): the connection is closed at once, so it never
    goes back to the pool in a state nobody knows, and the pool opens a fresh one at its next
    checkout (`keyfob.db`). Failures are rare; a new connection is cheap beside a lost write."""
    try:
        yield
    except BaseException:
        if driver is not None and not isinstance(driver, InPlaceConnection):
            driver.terminate()
        raise


@contextmanager
def _driver_errors(what: Compiled | str, dialect: Dialect | None = None) -> Iterator[None]:
    """The driver's errors as SQLAlchemy would raise them, of the same class (IntegrityError,
    OperationalError, ...), so the site answers them as it does through SQLAlchemy: a refused
    statement is a bug (500); SQLite's write lock still busy after BUSY_WAIT, a PostgreSQL
    restart or a lost connection is a 503 with Retry-After. The statement's values are left
    out."""
    if isinstance(what, Compiled):
        sql, dialect = what.sql, what.compiled.dialect
    else:
        sql = what
    try:
        yield
    except OSError as exc:
        raise DBAPIError(sql, None, exc, hide_parameters=True) from exc
    except sqlite3.Error as exc:
        raise _translated(sql, exc, sqlite3.Error, dialect) from exc
    except Exception as exc:
        if not type(exc).__module__.startswith("asyncpg") or dialect is None:
            raise
        dbapi = dialect.loaded_dbapi
        raise _translated(sql, _adapted(exc, dbapi), dbapi.Error, dialect) from exc


def _translated(sql: str, error: Exception, base: type, dialect: Dialect | None) -> DBAPIError:
    found = DBAPIError.instance(sql, None, error, base, hide_parameters=True, dialect=dialect)
    if isinstance(found, DBAPIError):
        return found
    return DBAPIError(sql, None, error, hide_parameters=True)


def _adapted(error: Exception, dbapi: Any) -> Exception:
    """asyncpg's exception as SQLAlchemy's asyncpg adapter would raise it (its own table of
    asyncpg's classes); one it does not know is the adapter's plain Error."""
    table: Mapping[type, Callable[..., Exception]] = getattr(dbapi, "_asyncpg_error_translate", {})
    message = error.args[0] if error.args else str(error)
    for kind in type(error).__mro__:
        if kind in table:
            return table[kind](message, error)
    adapted: Exception = dbapi.Error(message, error)
    return adapted


def compile_for(statement: Statement, dialect: Dialect, names: list[str]) -> Compiled:
    """Refuses a statement that would need SQLAlchemy at run time: a column default computed
    in Python, or parameters that are not positional."""
    compiled = statement.compile(dialect=dialect, column_keys=names)
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        raise TypeError("a prepared statement needs a positional SQL dialect")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise TypeError("a prepared statement cannot expand parameters at run time")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise TypeError("a prepared INSERT or UPDATE must give every column with a default")
    order = tuple(compiled.positiontup)
    binds = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
    )
    selected = list(statement.selected_columns) if isinstance(statement, Select) else []
    return Compiled(
        compiled=compiled,
        names=order,
        binds=binds,
        sources=_sources(compiled, order, set(names)),
        columns=tuple(str(column.key) for column in selected),
        results=tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected
        ),
    )


class _Given:
    """Stands for a caller's parameter while `construct_params` places the values once."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def _sources(
    compiled: SQLCompiler, order: tuple[str, ...], given: set[str]
) -> tuple[tuple[str | None, Any], ...] | None:
    """Where each positional value comes from, asked once of `construct_params` itself with a
    stand-in for each given parameter, so its rules (keys, `.params()`, the statement's own
    values) hold as they would on every call. None where a value is only known at run time
    (a callable), a name is escaped, or a required parameter is missing (the call raises)."""
    if compiled.escaped_bind_names or any(b.callable is not None for b in compiled.binds.values()):
        return None
    try:
        placed = compiled.construct_params({key: _Given(key) for key in given})
    except InvalidRequestError:
        return None
    values = [placed[name] for name in order]
    return tuple((v.key, None) if isinstance(v, _Given) else (None, v) for v in values)
