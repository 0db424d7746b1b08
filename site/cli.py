"""The `keyfob` command: serve the site, migrate the database, manage staff."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from pydantic import ValidationError

from keyfob import extensions
from keyfob.certs import cli as certs_cli
from keyfob.errors import KeyfobError
from keyfob.events import Events
from keyfob.i18n_catalogs import add_commands as add_i18n_commands
from keyfob.settings import Settings, describe, from_environment


def _migrate() -> ModuleType:
    """Alembic is imported only when migrating: uvicorn's spawned workers re-import this
    module (it is the `keyfob` script's), and alembic would cost each of them ~10 MiB."""
    from keyfob import migrate

    return migrate


def main(argv: Sequence[str] | None = None) -> None:
    # var/ holds the secret key, the database, certificates and mail: whatever this process
    # creates is for the site's own user only.
    os.umask(0o077)
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        sys.exit(2)
    try:
        code = args.run(args)
    except ValidationError as exc:
        for line in describe(exc).splitlines():
            print(f"keyfob: {line}", file=sys.stderr)
        code = 2
    except (ValueError, KeyfobError) as exc:
        print(f"keyfob: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code or 0)


REDIRECT_HELP = "with --https: also serve plain HTTP on PORT (ACME challenges, else redirect)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keyfob", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the site (migrating the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--https", action="store_true", help="serve TLS with var/certs/")
    serve.add_argument("--redirect-http", type=int, metavar="PORT", help=REDIRECT_HELP)
    serve.set_defaults(run=_serve)

    database = commands.add_parser("db", help="database migrations").add_subparsers()
    up = database.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(run=lambda a: _migrate_to(a.revision, up=True))
    down = database.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision")
    down.set_defaults(run=lambda a: _migrate_to(a.revision, up=False))

    staff = commands.add_parser("staff", help="who may open /admin").add_subparsers()
    add = staff.add_parser("add", help="make EMAIL staff, creating the account if needed")
    add.add_argument("email")
    add.set_defaults(run=lambda a: _staff(a.email, True))
    remove = staff.add_parser("remove", help="take staff rights from EMAIL")
    remove.add_argument("email")
    remove.set_defaults(run=lambda a: _staff(a.email, False))
    add_i18n_commands(commands)
    certs_cli.add_commands(commands)
    return parser


def _migrate_to(revision: str, *, up: bool) -> int:
    """Keyfob's migrations and, with KEYFOB_SITE_PACKAGE, the owner's branch too."""
    settings = _settings()
    migrate = _migrate()
    run = migrate.upgrade if up else migrate.downgrade
    asyncio.run(run(settings.database_url, revision, site_package=settings.site_package))
    return 0


def site_events(settings: Settings) -> Events:
    """The owner's event handlers, so an account `staff add` creates is followed as well."""
    events = Events()
    owner = extensions.load(settings.site_package)
    if owner is not None:
        events.extend([owner.events])
    return events


def _settings() -> Settings:
    return from_environment()


def _serve(args: argparse.Namespace) -> int:
    scheme = "https" if args.https else "http"
    if "KEYFOB_SITE_URL" not in os.environ and "site_url" not in _dotenv_keys():
        os.environ["KEYFOB_SITE_URL"] = f"{scheme}://localhost:{args.port}"
    settings = _settings()
    from keyfob.certs import serving

    if args.redirect_http is not None and not args.https:
        raise ValueError("--redirect-http PORT goes with --https")
    tls = serving.https_options(settings) if args.https else {}
    # uvicorn's workers are spawned and inherit this: glibc gives each thread that allocates an
    # arena of its own (up to 8 per core), and the fragments of many arenas cost 2-4 MiB a worker
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    os.environ.setdefault("KEYFOB_SECRET_KEY", settings.secret_key)
    os.environ.setdefault("KEYFOB_DATABASE_URL", settings.database_url)
    asyncio.run(_migrate().upgrade(settings.database_url, site_package=settings.site_package))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    import uvicorn

    from keyfob.web import accesslog

    print(f"Keyfob on {settings.site_url}", flush=True)
    with serving.plain_http(settings, host=args.host, port=args.redirect_http):
        uvicorn.run(
            "keyfob.app:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=False,  # the app resolves the client IP itself, from trusted proxies only
            timeout_graceful_shutdown=20,
            timeout_worker_healthcheck=30,  # a busy machine starts workers slowly
            server_header=False,
            log_config=accesslog.log_config(),
            **tls,
        )
    return 0


def _dotenv_keys() -> set[str]:
    from dotenv import dotenv_values

    return {k.lower().removeprefix("keyfob_") for k in dotenv_values(".env")}


def _staff(email: str, make_staff: bool) -> int:
    from keyfob.auth.staff import set_staff
    from keyfob.db import make_engine, make_sessionmaker, transaction

    settings = _settings()

    async def run() -> str:
        await _migrate().upgrade(settings.database_url, site_package=settings.site_package)
        engine = make_engine(settings.database_url)
        try:
            async with transaction(make_sessionmaker(engine, site_events(settings))) as db:
                user = await set_staff(db, email=email, staff=make_staff)
                return user.email
        finally:
            await engine.dispose()

    address = asyncio.run(run())
    print(f"{address} is {'now' if make_staff else 'no longer'} staff")
    return 0
