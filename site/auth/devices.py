"""A readable name for a signed-in device, from its User-Agent, and an approximate address."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from ua_parser import parse

from keyfob.i18n import gettext


@lru_cache(maxsize=1024)
def describe(user_agent: str) -> str:
    """ "Firefox on Windows"; "Unknown browser" when the header says nothing useful."""
    result = parse(user_agent) if user_agent else None
    browser = result.user_agent.family if result and result.user_agent else None
    system = result.os.family if result and result.os else None
    if browser and browser != "Other" and system and system != "Other":
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    if browser and browser != "Other":
        return browser
    return gettext("Unknown browser")


def approximate(ip: str) -> str:
    """The network, not the host: enough to recognise a place, less to track a person."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
