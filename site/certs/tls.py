"""TLS for `keyfob serve --https` that follows the certificate file while the site runs.

Each uvicorn worker builds its context with `reloading_context`. On every TLS handshake the
certificate file is stat-ed (one system call); when it has been replaced, the worker builds a
fresh context from the files and hands it to this and later connections. So a renewal reaches
every worker of the running site at its next connection, with no restart and no dropped
request. Connections already open keep the certificate they started with.

Workers import this module before they can answer uvicorn's health check, so it imports
nothing heavy.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.config import Config

    from keyfob.certs.store import Pair

logger = logging.getLogger("keyfob.certs")

Stamp = tuple[int, int, int]


def uvicorn_options(pair: Pair) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` that serve `pair` and follow its renewals."""
    return {
        "ssl_certfile": str(pair.cert),
        "ssl_keyfile": str(pair.key),
        "ssl_context_factory": reloading_context,
    }


def reloading_context(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory`: its own context, plus the reload on handshake.

    A module-level function, so uvicorn can hand it to worker processes."""
    assert config.ssl_certfile is not None
    front = default()
    follower = Follower(Path(config.ssl_certfile), build=default, initial=front)
    front.sni_callback = follower.on_hello
    return front


class Follower:
    """Keeps the newest context that loaded; a pair caught mid-replacement is retried later."""

    def __init__(
        self, cert: Path, *, build: Callable[[], ssl.SSLContext], initial: ssl.SSLContext
    ) -> None:
        self.cert = cert
        self.build = build
        self.current = initial
        self.stamp = stamp_of(cert)

    def on_hello(
        self, conn: ssl.SSLObject | ssl.SSLSocket, _server_name: str | None, ctx: ssl.SSLContext
    ) -> None:
        self.refresh()
        if self.current is not ctx:
            conn.context = self.current

    def refresh(self) -> None:
        stamp = stamp_of(self.cert)
        if stamp is None or stamp == self.stamp:
            return
        try:
            fresh = self.build()
        except (OSError, ssl.SSLError) as exc:
            logger.warning("not switching to the new certificate in %s yet: %s", self.cert, exc)
            return
        self.current, self.stamp = fresh, stamp
        logger.info("serving the new certificate from %s", self.cert)


def stamp_of(path: Path) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)
