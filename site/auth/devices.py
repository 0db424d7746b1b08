"""A readable name for a signed-in device, from its User-Agent, and an approximate address."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from keyfob.i18n import gettext


def describe(user_agent: str) -> str:
    """ "Firefox on Windows"; "Unknown browser" when the header says nothing useful. In the
    active language: only the parse is cached, never the wording."""
    browser, system = _families(user_agent)
    if browser and system:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    if browser:
        return browser
    return gettext("Unknown browser")


@lru_cache(maxsize=1024)
def _families(user_agent: str) -> tuple[str | None, str | None]:
    """Browser and system names, None when unknown. ua-parser (its rules take ~1 MiB) is
    loaded on the first call, by the few pages that name devices."""
    if not user_agent:
        return None, None
    from ua_parser import parse

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    return (
        browser if browser != "Other" else None,
        system if system != "Other" else None,
    )


def approximate(ip: str) -> str:
    """The network, not the host: enough to recognise a place, less to track a person."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
