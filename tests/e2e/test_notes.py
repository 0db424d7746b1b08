"""The notes example (examples/notes) in a real Chromium: a site built on Keyfob, run as its
README says, `PYTHONPATH=examples KEYFOB_SITE_PACKAGE=notes keyfob serve`.

A person signs up, adds a passkey, writes a note; a second person cannot see it; staff see the
count in the back office's **Notes** view. Screenshots for the README (the owner's home page
over Keyfob's layout, the notes page, the added back-office view):
tests/artifacts/screenshots/test_notes-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import make_staff, new_email, open_tab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.e2e.conftest import Site, Tab

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTES_SITE = {"KEYFOB_SITE_PACKAGE": "notes", "PYTHONPATH": str(EXAMPLES)}


def write_note(tab: Tab, text: str) -> None:
    page = tab.page
    tab.goto("/notes")
    page.get_by_label("Note", exact=True).fill(text)
    with page.expect_navigation():
        page.get_by_role("button", name="Save note").click()
    tab.arrive("/notes")


@pytest.mark.parametrize("site", [NOTES_SITE], indirect=True)
def test_notes_are_private_and_staff_see_only_counts(
    tab: Tab, site: Site, browser: Browser, fresh_email: str
) -> None:
    page = tab.page
    tab.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Private notes")
    expect(page.locator(".brand img")).to_have_attribute("src", "/static/notes/logo.svg")
    tab.shot("home-override")

    tab.sign_up(fresh_email)
    tab.add_passkey(expected=1)
    write_note(tab, "Buy a second security key")
    write_note(tab, "Call the bank")
    notes = page.locator(".note-text")
    expect(notes).to_have_text(["Call the bank", "Buy a second security key"])
    assert tab.probe()["csp"] == [], "the owner's page keeps Keyfob's CSP clean"
    tab.shot("notes-page")

    other = open_tab(browser, site, "test_notes-other")
    try:
        other.sign_up(new_email("other"))
        other.add_passkey(expected=1)
        other.goto("/notes")
        expect(other.page.get_by_role("heading", level=1)).to_have_text("Your notes")
        expect(other.page.get_by_text("No notes yet.")).to_be_visible()
        expect(other.page.get_by_text("Call the bank")).to_have_count(0)
    finally:
        other.context.close()

    make_staff(site, fresh_email, **NOTES_SITE)
    tab.goto("/admin/")
    page.get_by_role("link", name="Notes").click()
    page.wait_for_url("**/admin/notes")
    expect(page.locator(f'[data-count-for="{fresh_email}"]')).to_have_text("2")
    expect(page.get_by_text("Call the bank")).to_have_count(0)
    assert tab.probe()["csp"] == []
    tab.shot("admin-notes")
