"""Schema migrations with Alembic, configured in code so an installed package needs no ini."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from keyfob import paths
from keyfob.db import private_sqlite_file


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(paths.MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def _run(url: str, action: Any, *args: Any) -> None:
    private_sqlite_file(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: action(_config(sync), *args))
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, command.upgrade, revision)


async def downgrade(url: str, revision: str) -> None:
    await _run(url, command.downgrade, revision)


async def autogenerate(url: str, message: str) -> None:
    """For developers: writes a new revision from the difference between models and the DB."""
    await _run(url, lambda cfg, msg: command.revision(cfg, message=msg, autogenerate=True), message)
