"""/healthz must fail where an install could not find its templates or catalogs, since every
page would then be an error while the database still answers."""

from __future__ import annotations

from pathlib import Path

from keyfob import i18n, paths
from keyfob.templating import make_environment
from keyfob.web.health import missing_files


def test_the_projects_own_files_are_found() -> None:
    env = make_environment(paths.TEMPLATES)
    assert missing_files(env, i18n.Catalogs(paths.LOCALE)) is None


def test_missing_templates_are_reported(tmp_path: Path) -> None:
    env = make_environment(tmp_path)
    assert missing_files(env, i18n.Catalogs(paths.LOCALE)) == "templates not found"


def test_missing_catalogs_are_reported(tmp_path: Path) -> None:
    env = make_environment(paths.TEMPLATES)
    problem = missing_files(env, i18n.Catalogs(tmp_path))
    assert problem is not None and problem.startswith("catalogs not found: de")
