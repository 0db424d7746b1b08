"""Who is asking: the client's address and browser, as the web layer resolved them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    ip: str = ""
    user_agent: str = ""
