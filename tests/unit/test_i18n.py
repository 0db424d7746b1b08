"""Which language a browser gets, and the pseudo-locale a developer can ask for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from keyfob import i18n, paths
from keyfob.i18n_pseudo import pseudo_text


@pytest.mark.parametrize(
    ("accept_language", "chosen"),
    [
        ("zh", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("zh-SG", "zh-Hans"),
        ("zh-hans", "zh-Hans"),
        ("pt", "pt-BR"),
        ("pt-BR", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("iw", "he"),
        ("iw-IL", "he"),
        ("he-IL", "he"),
        ("ja-JP", "ja"),
        ("ja", "ja"),
        ("pl-PL", "pl"),
        ("de-CH", "de"),
        ("ar-EG", "ar"),
        ("en-GB", "en"),
    ],
)
def test_what_browsers_send_finds_the_offered_language(accept_language: str, chosen: str) -> None:
    assert i18n.negotiate(None, accept_language) == chosen


@pytest.mark.parametrize("traditional", ["zh-TW", "zh-HK", "zh-MO", "zh-Hant", "zh-Hant-CN"])
def test_traditional_chinese_is_never_given_simplified(traditional: str) -> None:
    """A reader of traditional characters gets their next preference, else English."""
    assert i18n.negotiate(None, traditional) == "en"
    assert i18n.negotiate(None, f"{traditional}, ja;q=0.5") == "ja"
    assert i18n.negotiate(None, f"{traditional}, zh;q=0.8, en;q=0.5") == "zh-Hans"


@pytest.mark.parametrize(
    ("accept_language", "chosen"),
    [
        ("ja;q=0.5, pl;q=0.9", "pl"),
        ("ko, he;q=0.2, pt-PT;q=0.3", "pt-BR"),
        ("sv, zh-CN;q=0.7, de;q=0.8", "de"),
        ("fr;q=0, iw;q=0.1", "he"),
        ("pl, ja", "pl"),
        ("ko-KR, sv;q=0.5, zh-TW;q=0.3", "en"),
        ("x-klingon, *;q=0.5", "en"),
        ("", "en"),
    ],
)
def test_preferences_are_tried_in_the_order_of_their_q_values(
    accept_language: str, chosen: str
) -> None:
    assert i18n.negotiate(None, accept_language) == chosen


@pytest.mark.parametrize(
    ("cookie", "chosen"),
    [
        ("pt-BR", "pt-BR"),
        ("zh-Hans", "zh-Hans"),
        ("pt_BR", "pt-BR"),  # gettext's spelling
        ("zh_Hans", "zh-Hans"),
        ("de", "de"),  # what the menu has always set
        ("ar", "ar"),
        ("nonsense", "fr"),  # a cookie naming nothing offered: Accept-Language decides
    ],
)
def test_the_cookie_names_the_language_in_any_spelling(cookie: str, chosen: str) -> None:
    assert i18n.negotiate(cookie, "fr") == chosen


def test_every_offered_language_is_found_by_its_own_tag() -> None:
    for tag in i18n.LOCALES:
        assert i18n.negotiate(tag, None) == tag
        assert i18n.negotiate(None, tag) == tag


def test_catalog_folders_are_in_gettext_form() -> None:
    assert i18n.folder("pt-BR") == "pt_BR"
    assert i18n.folder("zh-Hans") == "zh_Hans"
    for tag in i18n.LOCALES[1:]:
        assert (paths.LOCALE / i18n.folder(tag) / "LC_MESSAGES" / "messages.po").is_file(), tag


def test_hebrew_and_arabic_read_right_to_left() -> None:
    assert [tag for tag in i18n.LOCALES if i18n.direction(tag) == "rtl"] == ["ar", "he"]


def test_every_language_is_translated_at_start() -> None:
    catalogs = i18n.Catalogs(paths.LOCALE)
    assert catalogs.missing == ()
    with i18n.activate("pt-BR", catalogs):
        assert i18n.gettext("Send code") != "Send code"
    with i18n.activate("zh-Hans", catalogs):
        assert i18n.gettext("Send code") != "Send code"


def test_dates_are_formatted_in_the_page_language() -> None:
    assert i18n.babel_locale("pt-BR").territory == "BR"
    assert i18n.babel_locale("zh-Hans").script == "Hans"
    assert str(i18n.babel_locale(i18n.PSEUDO_LOCALE)) == "en"


# The pseudo-locale.

PLACEHOLDERS = re.compile(r"%\([^)]*\)[sd]|%%|\{[a-z_]+\}|<[^>]+>|&\w+;")


@pytest.mark.parametrize(
    "english",
    [
        "Sign in with a passkey",
        "Code",
        "Signed in as <strong>%(email)s</strong>",
        "%(num)d passkey &amp; {name}: 100%%",
    ],
)
def test_pseudo_text_is_accented_longer_and_keeps_placeholders(english: str) -> None:
    pseudo = pseudo_text(english)
    assert PLACEHOLDERS.findall(pseudo) == PLACEHOLDERS.findall(english)
    prose, pseudo_prose = PLACEHOLDERS.sub("", english), PLACEHOLDERS.sub("", pseudo)
    assert len(pseudo_prose) >= 1.4 * len(prose)
    assert not re.search(r"[A-Za-z]", pseudo_prose), pseudo
    assert pseudo_prose.isascii() is False


def test_the_pseudo_locale_translates_every_message_of_the_template() -> None:
    catalogs = i18n.Catalogs(paths.LOCALE, pseudo=True)
    assert catalogs.pseudo
    with paths.LOCALE.joinpath("messages.pot").open("rb") as fp:
        template = read_po(fp)
    with i18n.activate(i18n.PSEUDO_LOCALE, catalogs):
        for message in template:
            if isinstance(message.id, str) and message.id:
                assert i18n.translate(message.id) == pseudo_text(message.id)
            elif message.id:
                singular, plural = message.id
                assert i18n.translate_plural(singular, plural, 1) == pseudo_text(singular)
                assert i18n.translate_plural(singular, plural, 5) == pseudo_text(plural)
        shown = i18n.ngettext(
            "Too many attempts. Please wait %(num)d second and try again.",
            "Too many attempts. Please wait %(num)d seconds and try again.",
            45,
        )
    assert "45" in shown and "seconds" not in shown and "šéçöñðš" in shown


def test_the_pseudo_locale_is_only_offered_when_asked_for_by_name(tmp_path: Path) -> None:
    assert i18n.PSEUDO_LOCALE not in i18n.LOCALES
    assert i18n.negotiate(i18n.PSEUDO_LOCALE, "de", pseudo=True) == i18n.PSEUDO_LOCALE
    assert i18n.negotiate(None, i18n.PSEUDO_LOCALE, pseudo=True) == "en"  # never from a browser
    assert i18n.negotiate(i18n.PSEUDO_LOCALE, "de") == "en"  # a public site: plain English
    assert not i18n.Catalogs(paths.LOCALE).pseudo
    assert not i18n.Catalogs(tmp_path, pseudo=True).pseudo  # no messages.pot to build it from
