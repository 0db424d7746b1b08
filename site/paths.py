"""Where Keyfob's files live on disk, found from the package rather than the working directory.

Two layouts hold the same files. In a checkout (and an editable install) the code is in site/
and admin/, beside templates/ and locale/. An installed wheel carries them all inside the
package: keyfob/, keyfob/admin/, keyfob/templates/, keyfob/locale/.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
IN_CHECKOUT = PACKAGE.name == "site" and (PACKAGE.parent / "templates").is_dir()
ROOT = PACKAGE.parent if IN_CHECKOUT else PACKAGE
TEMPLATES = ROOT / "templates"
LOCALE = ROOT / "locale"
BABEL_CFG = LOCALE / "babel.cfg"
STATIC = PACKAGE / "static"
MIGRATIONS = PACKAGE / "migrations"
ADMIN = ROOT / "admin"
# Each top folder that babel.cfg's patterns name, and where its files are in this layout.
SOURCES = {"site": PACKAGE, "admin": ADMIN, "templates": TEMPLATES}
