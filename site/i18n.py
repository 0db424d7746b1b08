"""Languages, negotiation and gettext for Python code, templates and mail alike.

The active translation lives in a context variable set once per request (or per mail), so
lazy strings, forms and templates all read the same language without being handed it.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

DEFAULT_LOCALE = "en"
LOCALES: tuple[str, ...] = ("en", "de", "fr", "es", "ar")
RTL = frozenset({"ar", "he", "fa", "ur"})
LANG_COOKIE = "lang"

_active: ContextVar[tuple[str, NullTranslations]] = ContextVar(
    "keyfob_translations", default=(DEFAULT_LOCALE, NullTranslations())
)


class Catalogs:
    """Translations compiled in memory from the .po files at start, so they are never stale."""

    def __init__(self, locale_dir: Path) -> None:
        self._by_locale: dict[str, NullTranslations] = {DEFAULT_LOCALE: NullTranslations()}
        self.missing: tuple[str, ...] = ()
        """Languages whose catalog was not found: their pages would fall back to English."""
        for code in LOCALES:
            po = locale_dir / code / "LC_MESSAGES" / "messages.po"
            if code == DEFAULT_LOCALE:
                continue
            if po.exists():
                self._by_locale[code] = _compile(po, code)
            else:
                self.missing += (code,)

    def get(self, locale: str) -> NullTranslations:
        return self._by_locale.get(locale, self._by_locale[DEFAULT_LOCALE])


def _compile(po: Path, code: str) -> Translations:
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=code)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The `lang` cookie wins, then Accept-Language, then English."""
    if cookie in LOCALES:
        return cookie
    for tag in _parse_accept_language(accept_language or ""):
        try:
            parsed = Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue
        if parsed.language in LOCALES:
            return parsed.language
    return DEFAULT_LOCALE


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

    return get_translations([locale, DEFAULT_LOCALE])
