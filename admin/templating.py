"""SQLAdmin's Jinja environment, speaking the page's language and knowing the CSRF token.

Strings are looked up in Keyfob's catalogs first (our own templates and labels), then in the
catalog SQLAdmin ships for its built-in strings, in the language the site chose for the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment
from sqladmin.i18n import translations as sqladmin_catalogs
from starlette.requests import Request

from keyfob import i18n
from keyfob.admin import csrf
from keyfob.admin.auth import STATE_KEY, Staff


@dataclass(frozen=True)
class Translations:
    catalogs: i18n.Catalogs

    def gettext(self, message: str) -> str:
        locale = i18n.current_locale()
        text: str = self.catalogs.get(locale).gettext(message)
        fallback = sqladmin_catalogs.get(locale)
        if text == message and fallback is not None:
            text = fallback.gettext(message)
        return text

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        locale = i18n.current_locale()
        text: str = self.catalogs.get(locale).ngettext(singular, plural, n)
        fallback = sqladmin_catalogs.get(locale)
        if text in (singular, plural) and fallback is not None:
            text = fallback.ngettext(singular, plural, n)
        return text


def staff_of(request: Request) -> Staff | None:
    staff = getattr(request.state, STATE_KEY, None)
    return staff if isinstance(staff, Staff) else None


def page_direction() -> str:
    return i18n.direction(i18n.current_locale())


def install(env: Environment, catalogs: i18n.Catalogs) -> None:
    translations = Translations(catalogs)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translations.gettext, translations.ngettext, newstyle=True
    )
    env.policies["ext.i18n.trimmed"] = True
    env.globals.update(
        csrf_token=csrf.token_of,
        staff_of=staff_of,
        page_lang=i18n.current_locale,
        page_dir=page_direction,
    )
