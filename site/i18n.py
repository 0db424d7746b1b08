"""Languages, negotiation and gettext for Python code, templates and mail alike.

The active translation lives in a context variable set once per request (or per mail), so
lazy strings, forms and templates all read the same language without being handed it.

A language is named everywhere by its BCP 47 tag (`pt-BR`, `zh-Hans`): the `lang` cookie, the
language menu, `<html lang>`, mail and the language kept on an account. Only the catalogs use
gettext's form (`locale/pt_BR/`), and Babel's formatting its own Locale: `folder` and
`babel_locale` turn a tag into those, so no other form travels through the code.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple, cast

from babel import Locale
from babel.core import get_global
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

DEFAULT_LOCALE = "en"
LOCALES: tuple[str, ...] = ("en", "de", "fr", "es", "ar", "ja", "zh-Hans", "pt-BR", "pl", "he")
"""The languages offered, as BCP 47 tags, in the order of the language menu."""
RTL = frozenset({"ar", "he", "fa", "ur"})
LANG_COOKIE = "lang"
PSEUDO_LOCALE = "en-XA"
"""The pseudo-locale for development (accented, longer English): a site on this machine
offers it to whoever asks for it by name, never in the menu nor from Accept-Language."""

_active: ContextVar[tuple[str, NullTranslations]] = ContextVar(
    "keyfob_translations", default=(DEFAULT_LOCALE, NullTranslations())
)


def folder(tag: str) -> str:
    """The catalog folder under locale/ of a tag: gettext writes `pt_BR` for `pt-BR`."""
    return tag.replace("-", "_")


@functools.cache
def babel_locale(tag: str) -> Locale:
    """Babel's Locale for formatting dates and numbers in a tag's language (the pseudo-locale
    formats as English)."""
    if tag == PSEUDO_LOCALE or tag not in LOCALES:
        return Locale.parse(DEFAULT_LOCALE)
    return Locale.parse(folder(tag))


class Catalogs:
    """Translations compiled in memory from the .po files at start, so they are never stale.

    With `pseudo`, also the pseudo-locale, made from locale/messages.pot: only for a site that
    runs on this machine, so that no public page can be asked for it.

    `overlays`: a site owner's locale/ folders (keyfob.extend), whose translations are looked
    up before Keyfob's: the owner's strings, and any of Keyfob's they choose to reword."""

    def __init__(
        self, locale_dir: Path, *, pseudo: bool = False, overlays: Sequence[Path] = ()
    ) -> None:
        self._by_locale: dict[str, NullTranslations] = {DEFAULT_LOCALE: NullTranslations()}
        self.missing: tuple[str, ...] = ()
        """Languages whose catalog was not found: their pages would fall back to English."""
        for code in LOCALES:
            po = locale_dir / folder(code) / "LC_MESSAGES" / "messages.po"
            if code == DEFAULT_LOCALE:
                continue
            if po.exists():
                self._by_locale[code] = _compile(po, folder(code))
            else:
                self.missing += (code,)
        pot = locale_dir / "messages.pot"
        if pseudo and pot.exists():
            from keyfob.i18n_pseudo import pseudo_translations

            self._by_locale[PSEUDO_LOCALE] = pseudo_translations(pot)
        for overlay in reversed(overlays):
            self._overlay(overlay)

    def _overlay(self, locale_dir: Path) -> None:
        for code in (*LOCALES, PSEUDO_LOCALE):
            if code == DEFAULT_LOCALE or (code == PSEUDO_LOCALE and not self.pseudo):
                continue
            if code == PSEUDO_LOCALE:
                from keyfob.i18n_pseudo import pseudo_translations

                pot = locale_dir / "messages.pot"
                found: Translations | None = pseudo_translations(pot) if pot.exists() else None
            else:
                po = locale_dir / folder(code) / "LC_MESSAGES" / "messages.po"
                found = _compile(po, folder(code)) if po.exists() else None
            if found is None:
                continue
            under = self._by_locale.get(code)
            if isinstance(under, Translations):
                under.merge(found)
            else:
                self._by_locale[code] = found

    @property
    def pseudo(self) -> bool:
        """Whether the pseudo-locale is on offer (a site on this machine)."""
        return PSEUDO_LOCALE in self._by_locale

    def get(self, locale: str) -> NullTranslations:
        return self._by_locale.get(locale, self._by_locale[DEFAULT_LOCALE])


def _compile(po: Path, code: str) -> Translations:
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=code)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf)


def negotiate(cookie: str | None, accept_language: str | None, *, pseudo: bool = False) -> str:
    """The `lang` cookie wins, then Accept-Language in the order of its q-values, then English.

    The cookie holds a tag of LOCALES, but any spelling of one works (`pt_BR`, `zh-hans`, or
    what the menu of an older release set). `pseudo`: the site offers the pseudo-locale, and
    the cookie may name it; a browser's Accept-Language never reaches it."""
    if cookie:
        if pseudo and cookie.replace("_", "-").lower() == PSEUDO_LOCALE.lower():
            return PSEUDO_LOCALE
        if chosen := match(cookie):
            return chosen
    for tag in _parse_accept_language(accept_language or ""):
        if chosen := match(tag):
            return chosen
    return DEFAULT_LOCALE


class _Subtags(NamedTuple):
    language: str
    script: str | None
    region: str | None


def match(tag: str) -> str | None:
    """The offered language a browser's tag asks for, or None.

    Language and script must agree, the script filled in from CLDR's likely subtags when the
    tag has none: `zh`, `zh-CN`, `zh-SG` are written in simplified characters (`zh-Hans`), while
    `zh-TW`, `zh-HK` and `zh-Hant` are not and find nothing here, so the browser's next choice
    is tried. A region only breaks a tie: `pt-PT` gets Brazilian Portuguese, the closest on
    offer. Deprecated codes are read as their successors (`iw` is Hebrew, `he`)."""
    wanted = _subtags(tag)
    if wanted is None:
        return None
    best: str | None = None
    for code in LOCALES:
        offered = _OFFERED[code]
        if offered.language != wanted.language or offered.script != wanted.script:
            continue
        if offered.region == wanted.region:
            return code
        best = best or code
    return best


def _subtags(tag: str) -> _Subtags | None:
    parts = tag.strip().replace("_", "-").split("-")
    language = parts[0].lower()
    if not (2 <= len(language) <= 3 and language.isascii() and language.isalpha()):
        return None
    language = get_global("language_aliases").get(language, language)
    script = region = None
    for part in parts[1:]:
        if not part.isascii():
            continue
        if len(part) == 4 and part.isalpha():
            script = script or part.title()
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            region = region or part.upper()
    if script is None:
        likely = get_global("likely_subtags")
        filled = likely.get(f"{language}_{region}") or likely.get(language)
        if filled is not None:
            script = next((p for p in filled.split("_")[1:] if len(p) == 4), None)
    return _Subtags(language, script, region)


_OFFERED: dict[str, _Subtags] = {
    code: subtags for code in LOCALES if (subtags := _subtags(code)) is not None
}


def _parse_accept_language(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def direction(locale: str) -> str:
    return "rtl" if locale in RTL else "ltr"


@contextmanager
def activate(locale: str, catalogs: Catalogs) -> Iterator[None]:
    token = _active.set((locale, catalogs.get(locale)))
    try:
        yield
    finally:
        _active.reset(token)


def set_active(locale: str, catalogs: Catalogs) -> None:
    """For a request: the context of the request's task ends with the request."""
    _active.set((locale, catalogs.get(locale)))


def current_locale() -> str:
    return _active.get()[0]


def translate(message: str) -> str:
    """The translation, unformatted: for Jinja, which fills in the placeholders itself."""
    return _active.get()[1].ugettext(message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    return _active.get()[1].ungettext(singular, plural, n)


def gettext(message: str, **variables: Any) -> str:
    text = translate(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    return translate_plural(singular, plural, n) % {"num": n, **variables}


def lazy_gettext(message: str, **variables: Any) -> str:
    """For strings built at import time (form labels, error classes): translated each time
    it is turned into text, in the language active then. It stands in for a str."""
    return cast(str, LazyProxy(gettext, message, enable_cache=False, **variables))


_ = gettext


def wtforms_translations() -> Any:
    """WTForms' own messages (\"This field is required.\") in the active language."""
    return _wtforms_catalog(current_locale())


@functools.cache
def _wtforms_catalog(locale: str) -> Any:
    """Read from WTForms' installed files once per language: finding them costs a file
    search on every form otherwise. Locales are the few the site offers, so this stays small."""
    from wtforms.i18n import get_translations

    return get_translations([folder(locale), DEFAULT_LOCALE])
