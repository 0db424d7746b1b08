"""Device names on the devices page: readable, and in the reader's language every time."""

from __future__ import annotations

from keyfob import i18n, paths
from keyfob.auth.devices import approximate, describe

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_a_device_is_named_in_each_readers_language_in_turn() -> None:
    catalogs = i18n.Catalogs(paths.LOCALE)
    with i18n.activate("en", catalogs):
        english = describe(FIREFOX_WINDOWS)
    with i18n.activate("de", catalogs):
        german = describe(FIREFOX_WINDOWS)
    with i18n.activate("en", catalogs):
        again = describe(FIREFOX_WINDOWS)
    assert english == "Firefox on Windows" == again
    assert german == "Firefox unter Windows"


def test_an_unreadable_user_agent_is_an_unknown_browser() -> None:
    catalogs = i18n.Catalogs(paths.LOCALE)
    with i18n.activate("fr", catalogs):
        assert describe("") == describe("zzz") == "Navigateur inconnu"
    with i18n.activate("en", catalogs):
        assert describe("") == "Unknown browser"


def test_only_the_network_is_shown() -> None:
    assert approximate("203.0.113.77") == "203.0.113.0/24"
    assert approximate("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert approximate("not an address") == ""
