"""Where Keyfob's files live on disk, found from the package rather than the working directory."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
TEMPLATES = ROOT / "templates"
LOCALE = ROOT / "locale"
STATIC = PACKAGE / "static"
MIGRATIONS = PACKAGE / "migrations"
BABEL_CFG = ROOT / "babel.cfg"
