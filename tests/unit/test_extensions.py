"""Loading a site owner's package (KEYFOB_SITE_PACKAGE) and the events it can follow."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from keyfob import extensions
from keyfob.events import AccountCreated, AccountDeleted, Events
from keyfob.settings import Settings, describe

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes"


def test_no_package_means_keyfob_alone() -> None:
    assert extensions.load("") is None


def test_the_example_is_found_with_every_folder_beside_it() -> None:
    found = extensions.load("notes")
    assert found is not None
    assert found.name == "notes"
    assert found.templates == EXAMPLE / "templates"
    assert found.static == EXAMPLE / "static"
    assert found.locale == EXAMPLE / "locale"
    assert found.migrations == EXAMPLE / "migrations" / "versions"
    assert [view.__name__ for view in found.admin_views] == ["NoteCounts"]
    assert {route.path for router in found.routers for route in router.routes} == {
        "/notes",
        "/notes/{note_id}/delete",
    }


def test_a_package_that_cannot_be_imported_names_the_setting_and_the_path() -> None:
    with pytest.raises(ValueError, match=r"KEYFOB_SITE_PACKAGE: no package named 'nothere'"):
        extensions.load("nothere")


def test_a_package_without_an_extension_function_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"'email' has no `extension\(\)`"):
        extensions.load("email")


def test_a_module_is_not_a_package() -> None:
    with pytest.raises(ValueError, match="is a module, not a package"):
        extensions.package_folder("keyword")


def test_a_malformed_name_is_refused_by_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, var_dir=tmp_path, site_package="my-site; rm -rf")
    assert "KEYFOB_SITE_PACKAGE" in describe(refused.value)


def test_migration_folders_add_the_owners_branch_after_keyfobs() -> None:
    keyfob_only = extensions.migration_folders("")
    with_notes = extensions.migration_folders("notes")
    assert with_notes == [*keyfob_only, EXAMPLE / "migrations" / "versions"]


async def test_handlers_run_in_order_for_their_event_only() -> None:
    seen: list[str] = []

    async def first(db: object, event: object) -> None:
        seen.append(f"first {event}")

    async def second(db: object, event: object) -> None:
        seen.append("second")

    events = Events({AccountDeleted: [first]})
    events.on(AccountDeleted, second)
    await events.emit(None, AccountCreated(user_id=1, email="a@example.org"))  # type: ignore[arg-type]
    assert seen == []
    await events.emit(None, AccountDeleted(user_id=7))  # type: ignore[arg-type]
    assert seen == ["first AccountDeleted(user_id=7)", "second"]


def test_only_keyfobs_events_can_be_followed() -> None:
    with pytest.raises(TypeError, match="not an event Keyfob emits"):
        Events().on(str, lambda db, event: None)  # type: ignore[arg-type]
