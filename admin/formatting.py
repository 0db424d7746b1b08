"""How values look in the back office. Anything a person typed or a browser sent is escaped:
these return Markup only when they build it with `Markup.format`, which escapes every value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqladmin._types import BASE_FORMATTERS_TYPE

from keyfob.auth.devices import describe
from keyfob.auth.providers import provider_for
from keyfob.i18n import gettext, lazy_gettext

METHODS = {"passkey": lazy_gettext("Passkey"), "code": lazy_gettext("Emailed code")}
LOCK_REASONS = {"code_failures": lazy_gettext("Too many wrong codes")}


def moment(value: datetime) -> Markup:
    """Always UTC, to the minute, in the one order every reader can parse; it may wrap
    between the day and the time, never inside either."""
    return Markup(
        '<time datetime="{}" title="{}"><span class="text-nowrap">{}</span> '
        '<span class="text-nowrap">{}</span></time>'
    ).format(
        value.isoformat(),
        value.strftime("%Y-%m-%d %H:%M:%S UTC"),
        value.strftime("%Y-%m-%d"),
        value.strftime("%H:%M"),
    )


def yes_no(value: bool) -> Markup:
    if value:
        return Markup('<span class="badge bg-green-lt">{}</span>').format(gettext("Yes"))
    return Markup('<span class="badge bg-secondary-lt">{}</span>').format(gettext("No"))


def nothing(_value: None) -> str:
    return ""


def words(value: list[Any]) -> str:
    return ", ".join(str(item) for item in value)


def detail(value: dict[str, Any]) -> str:
    """An audit event's detail as `key=value` pairs, in a stable order."""
    return ", ".join(f"{key}={value[key]}" for key in sorted(value))


TYPE_FORMATTERS: BASE_FORMATTERS_TYPE[str] = {
    type(None): nothing,
    bool: yes_no,
    datetime: moment,
    list: words,
    dict: detail,
}


def provider(passkey: Any, _name: str) -> Markup:
    """The provider's icon and name from the AAGUID, or a plain fallback name."""
    found = provider_for(str(passkey.aaguid))
    name = found.name or gettext("Unknown provider")
    if found.icon_light is None:
        return Markup("{}").format(name)
    return Markup('<img class="provider-icon" src="{}" alt="" width="20" height="20"> {}').format(
        found.icon_light, name
    )


def provider_and_aaguid(passkey: Any, name: str) -> Markup:
    """For lists: the provider, and under it the AAGUID it was found from."""
    return Markup('{}<br><small class="text-secondary">{}</small>').format(
        provider(passkey, name), passkey.aaguid
    )


def backup(passkey: Any, _name: str) -> str:
    if passkey.backed_up:
        return gettext("Backed up")
    if passkey.backup_eligible:
        return gettext("Eligible, not backed up")
    return gettext("Device-bound")


def sign_in_method(row: Any, name: str) -> str:
    value = getattr(row, name)
    return str(METHODS.get(value, value or ""))


def lock_reason(user: Any, _name: str) -> str:
    return str(LOCK_REASONS.get(user.lock_reason, user.lock_reason))


def device(session: Any, _name: str) -> str:
    return describe(str(session.user_agent))
