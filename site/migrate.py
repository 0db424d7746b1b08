"""Schema migrations with Alembic, configured in code so an installed package needs no ini.

A site owner's package (KEYFOB_SITE_PACKAGE) brings a branch of its own: its first revision
has `branch_labels` of its own and `depends_on` a Keyfob revision, so both lines upgrade
together and `heads` is every branch's latest."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from keyfob import paths
from keyfob.db import private_sqlite_file


def _config(connection: Connection, folders: Sequence[Path]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(paths.MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(f) for f in folders))
    config.attributes["connection"] = connection
    return config


async def _run(url: str, site_package: str, action: Any, *args: Any) -> None:
    from keyfob.extensions import migration_folders

    folders = migration_folders(site_package)
    private_sqlite_file(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: action(_config(sync, folders), *args))
    except CommandError as exc:
        raise ValueError(
            f"migrations: {exc} (KEYFOB_SITE_PACKAGE must name the same package as when "
            "this database was last upgraded)"
            if "Can't locate revision" in str(exc)
            else f"migrations: {exc}"
        ) from exc
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "heads", *, site_package: str = "") -> None:
    await _run(url, site_package, command.upgrade, revision)


async def downgrade(url: str, revision: str, *, site_package: str = "") -> None:
    await _run(url, site_package, command.downgrade, revision)


async def autogenerate(url: str, message: str) -> None:
    """For developers: writes a new revision from the difference between models and the DB."""
    await _run(
        url,
        "",
        lambda cfg, msg: command.revision(cfg, message=msg, autogenerate=True),
        message,
    )
