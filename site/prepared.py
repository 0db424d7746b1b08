"""Core statements for the passkey sign-in path, compiled once and, on SQLite, run on the
driver's connection.

SQLAlchemy spends 150 to 250 µs of CPU running one Core statement (its cache key, execution
context, result set and a greenlet switch), where aiosqlite on Keyfob's in-place connection
spends about 20: on a sign-in that was most of the request. `Prepared` compiles a statement
once per set of parameter names with SQLAlchemy, keeps SQLAlchemy's own conversions of each
parameter and result column (dates, booleans, JSON, bytes are stored and read exactly as
through the ORM), and runs the SQL on the session's own connection, in its transaction. The
writer lock and the busy retry of `db.InPlaceConnection` apply as to any other statement.
On PostgreSQL (and SQLite in memory) it runs through SQLAlchemy's Core as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import SessionTransaction
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from keyfob.db import InPlaceConnection

Convert = Callable[[Any], Any] | None
Statement = Select[*tuple[Any, ...]] | UpdateBase


@dataclass(frozen=True)
class Compiled:
    compiled: SQLCompiler
    names: tuple[str, ...]
    binds: tuple[Convert, ...]
    columns: tuple[str, ...]
    results: tuple[Convert, ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(dict(params))
        return [
            value if convert is None or value is None else convert(value)
            for value, convert in zip((values[n] for n in self.names), self.binds, strict=True)
        ]

    def record(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {
            key: value if convert is None or value is None else convert(value)
            for key, value, convert in zip(self.columns, row, self.results, strict=True)
        }


@dataclass(frozen=True)
class Link:
    """The session's connection for prepared statements, and aiosqlite's in-place connection
    under it where there is one. Kept on the session for the rest of its transaction: asking
    SQLAlchemy for them costs two greenlet switches, more than a statement."""

    conn: AsyncConnection
    driver: InPlaceConnection | None
    transaction: SessionTransaction


async def link(db: AsyncSession) -> Link:
    """Pending ORM changes are written first, so a statement sees (and may refer to) them."""
    if db.new or db.dirty or db.deleted:
        await db.flush()
    current = db.sync_session.get_transaction()
    kept = db.info.get(LINK)
    if isinstance(kept, Link) and current is not None and kept.transaction is current:
        return kept
    conn = await db.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    transaction = db.sync_session.get_transaction()
    assert transaction is not None  # db.connection() began one
    made = Link(conn, driver if isinstance(driver, InPlaceConnection) else None, transaction)
    db.info[LINK] = made
    return made


LINK = "keyfob.prepared.link"


class Prepared:
    """One statement; `rows` for a SELECT, `run` (the row count) for the rest."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], Compiled] = {}

    async def rows(self, db: AsyncSession, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        on = await link(db)
        if on.driver is None:
            result = await on.conn.execute(self.statement, params)
            return [dict(row) for row in result.mappings()]
        compiled = self._for(on.conn.dialect, params)
        cursor = await on.driver.execute(compiled.compiled.string, compiled.arguments(params))
        return [compiled.record(tuple(row)) for row in await cursor.fetchall()]

    async def run(self, db: AsyncSession, params: Mapping[str, Any]) -> int:
        on = await link(db)
        if on.driver is None:
            result = await on.conn.execute(self.statement, params)
            return int(result.rowcount)
        compiled = self._for(on.conn.dialect, params)
        cursor = await on.driver.execute(compiled.compiled.string, compiled.arguments(params))
        return int(cursor.rowcount)

    def _for(self, dialect: Dialect, params: Mapping[str, Any]) -> Compiled:
        key = (dialect.name, frozenset(params))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_for(self.statement, dialect, list(params))
        return found


def compile_for(statement: Statement, dialect: Dialect, names: list[str]) -> Compiled:
    """Refuses a statement that would need SQLAlchemy at run time: a column default computed
    in Python, or parameters that are not positional."""
    compiled = statement.compile(dialect=dialect, column_keys=names)
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        raise TypeError("a prepared statement needs a positional SQL dialect")
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
        columns=tuple(str(column.key) for column in selected),
        results=tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected
        ),
    )
