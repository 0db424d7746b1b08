"""Packages that make up the site: Keyfob's own and, named by KEYFOB_SITE_PACKAGE, the owner's.

Each is an `Extension`: its routers, templates, static files, catalogs, migrations,
back-office views and event handlers. The composition root installs them all the same way;
what differs is precedence. The owner's templates and translations are found before
Keyfob's (so a page can be overridden by name), while Keyfob's routes are matched before the
owner's (so no owner route can stand in for a sign-in page).
"""

from __future__ import annotations

import importlib
import keyword
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from keyfob import paths
from keyfob.events import Event, Events, Handler
from keyfob.settings import Settings

ENTRY_POINT = "extension"
"""The callable an owner's package defines: `def extension() -> keyfob.extend.Extension`."""


@dataclass(frozen=True)
class Extension:
    """One package's share of the site. Folders left unset are simply not there."""

    name: str
    routers: tuple[APIRouter, ...] = ()
    templates: Path | None = None
    static: Path | None = None
    locale: Path | None = None
    migrations: Path | None = None
    admin_views: tuple[type[Any], ...] = ()
    events: Events = field(default_factory=Events)
    folder: Path | None = None
    """Where the package's source is: `keyfob i18n extract` reads its strings from here."""

    @classmethod
    def of_package(
        cls,
        package: str,
        *,
        routers: Sequence[APIRouter] = (),
        admin_views: Sequence[type[Any]] = (),
        on: Mapping[type[Event], Sequence[Handler]] | None = None,
    ) -> Extension:
        """Finds the package's `templates/`, `static/`, `locale/` and `migrations/versions/`
        beside its `__init__.py`."""
        folder = package_folder(package)
        return cls(
            name=package.rpartition(".")[2],
            routers=tuple(routers),
            templates=_folder(folder / "templates"),
            static=_folder(folder / "static"),
            locale=_folder(folder / "locale"),
            migrations=_folder(folder / "migrations" / "versions"),
            admin_views=tuple(admin_views),
            events=Events(on),
            folder=folder,
        )

    @property
    def static_prefix(self) -> str:
        return f"/static/{self.name}"


def _folder(path: Path) -> Path | None:
    return path if path.is_dir() else None


def package_folder(package: str) -> Path:
    module = _import(package)
    locations = list(getattr(module, "__path__", []))
    if not locations:
        raise ValueError(f"KEYFOB_SITE_PACKAGE: {package!r} is a module, not a package")
    return Path(locations[0]).resolve()


def _import(package: str) -> Any:
    if not all(part.isidentifier() and not keyword.iskeyword(part) for part in package.split(".")):
        raise ValueError(f"KEYFOB_SITE_PACKAGE: {package!r} is not an import name")
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        if exc.name is not None and package.startswith(exc.name):
            raise ValueError(
                f"KEYFOB_SITE_PACKAGE: no package named {package!r} can be imported "
                "(is its parent folder on PYTHONPATH?)"
            ) from exc
        raise


def load(package: str) -> Extension | None:
    """The owner's extension, or None when no package is named. Its errors name the setting."""
    if not package:
        return None
    module = _import(package)
    entry = getattr(module, ENTRY_POINT, None)
    if not callable(entry):
        raise ValueError(
            f"KEYFOB_SITE_PACKAGE: {package!r} has no `{ENTRY_POINT}()` "
            "returning keyfob.extend.Extension"
        )
    found = entry()
    if not isinstance(found, Extension):
        raise ValueError(f"KEYFOB_SITE_PACKAGE: {package}.{ENTRY_POINT}() is not an Extension")
    taken = {child.name for child in paths.STATIC.iterdir()}
    if found.static is not None and found.name in taken:
        raise ValueError(
            f"KEYFOB_SITE_PACKAGE: {found.name!r} would serve its static files over Keyfob's "
            f"/static/{found.name}/; name the package otherwise"
        )
    return found


def core(settings: Settings) -> Extension:
    """Keyfob itself, as one more extension: its pages, files and catalogs. Its back-office
    views are added when the back office is built (keyfob.web.backoffice)."""
    from keyfob.web import pages

    return Extension(
        name="keyfob",
        routers=tuple(pages.routers(settings)),
        templates=paths.TEMPLATES,
        static=paths.STATIC,
        locale=paths.LOCALE,
        migrations=paths.MIGRATIONS / "versions",
        folder=paths.ROOT,
    )


def of_site(settings: Settings) -> list[Extension]:
    """Every extension of this site, the owner's first: the order templates and catalogs are
    searched in."""
    owner = load(settings.site_package)
    return [owner, core(settings)] if owner is not None else [core(settings)]


def migration_folders(package: str) -> list[Path]:
    """Only the migration folders: enough for `keyfob db upgrade`, without importing the
    package's pages and back office (`extension()` would)."""
    folders = [paths.MIGRATIONS / "versions"]
    if package:
        found = _folder(package_folder(package) / "migrations" / "versions")
        if found is not None:
            folders.append(found)
    return folders
