"""The client's address, resolved in one place.

The socket peer is the client unless it is a configured trusted proxy; only then is
X-Forwarded-For read, from the right, skipping further trusted proxies. A client cannot
choose its own address by sending the header, so it cannot reset a rate limit that way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` -> `[::1]`, `Example.org` ->
    `example.org`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


def resolve_client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    if not trusted or not _is_trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _valid(hop):
            return peer
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
