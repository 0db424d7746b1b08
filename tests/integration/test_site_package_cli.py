"""The `keyfob` command with a site owner's package: migrations and the translators' workflow
cover the package too, and a missing setting stops with a message instead of a traceback."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEYFOB = Path(sys.executable).with_name("keyfob")
ROOT = Path(__file__).resolve().parents[2]


def keyfob(
    *args: str, cwd: Path, package: str | None, path: Path = EXAMPLES
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env.update(KEYFOB_VAR_DIR=str(cwd / "var"), PYTHONPATH=str(path))
    if package is not None:
        env["KEYFOB_SITE_PACKAGE"] = package
    return subprocess.run(
        [str(KEYFOB), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_db_upgrade_applies_the_packages_branch_and_refuses_to_guess_without_it(
    tmp_path: Path,
) -> None:
    done = keyfob("db", "upgrade", cwd=tmp_path, package="notes")
    assert done.returncode == 0, done.stderr
    database = tmp_path / "var" / "keyfob.sqlite3"
    assert {"users", "notes_note"} <= tables(database)
    with sqlite3.connect(database) as conn:
        heads = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    assert heads == {"5e0c1a2b3d4f"}, "the branch depends on Keyfob's head, which it implies"

    without = keyfob("db", "upgrade", cwd=tmp_path, package=None)
    assert without.returncode == 2
    assert "KEYFOB_SITE_PACKAGE must name the same package" in without.stderr
    assert "Traceback" not in without.stderr

    down = keyfob("db", "downgrade", "notes@base", cwd=tmp_path, package="notes")
    assert down.returncode == 0, down.stderr
    assert "notes_note" not in tables(database) and "users" in tables(database)


def test_an_unknown_package_is_named_in_the_error(tmp_path: Path) -> None:
    done = keyfob("db", "upgrade", cwd=tmp_path, package="nothere")
    assert done.returncode == 2
    assert "KEYFOB_SITE_PACKAGE: no package named 'nothere'" in done.stderr


def test_i18n_check_covers_the_package_and_names_its_untranslated_line(tmp_path: Path) -> None:
    done = keyfob("i18n", "check", cwd=ROOT, package="notes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "examples/notes/locale: ar, de, es, fr" in done.stdout

    copy = tmp_path / "site" / "notes"
    shutil.copytree(EXAMPLES / "notes", copy)
    german = copy / "locale" / "de" / "LC_MESSAGES" / "messages.po"
    german.write_text(
        german.read_text(encoding="utf-8").replace('msgstr "Notiz speichern"', 'msgstr ""'),
        encoding="utf-8",
    )
    broken = keyfob("i18n", "check", cwd=ROOT, package="notes", path=copy.parent)
    assert broken.returncode == 1
    assert "de/LC_MESSAGES/messages.po" in broken.stdout
    assert "Save note" in broken.stdout
