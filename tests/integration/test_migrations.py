"""Migrations upgrade and downgrade cleanly, and the upgraded schema is exactly the models'.

The notes example (examples/notes) is imported here, so its table is among the models: its
branch must migrate to exactly its model too, alongside Keyfob's."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from notes.models import Note
from sqlalchemy import Connection, inspect

from keyfob import migrate
from keyfob.db import make_engine
from keyfob.models import Base

EXAMPLE_TABLE = Note.__tablename__


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_schema_after_upgrade_matches_the_models(fresh_db_url) -> None:
    url = fresh_db_url()
    await migrate.upgrade(url, site_package="notes")
    engine = make_engine(url)
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    await engine.dispose()


async def test_downgrade_to_base_and_upgrade_again(fresh_db_url) -> None:
    url = fresh_db_url()
    await migrate.upgrade(url, site_package="notes")
    await migrate.downgrade(url, "base", site_package="notes")
    engine = make_engine(url)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await migrate.upgrade(url, site_package="notes")
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        assert await connection.run_sync(_differences) == []
    assert {"users", "passkeys", "email_codes", "outbox", "audit_events"} <= set(tables)
    assert EXAMPLE_TABLE in tables
    await engine.dispose()
