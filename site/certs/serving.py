"""What `keyfob serve --https` needs: the site's certificate, and the plain-HTTP listener.

Glue for the command line (it starts a uvicorn server), kept apart from the certificate
modules, which know nothing of serving.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from keyfob.certs import store, tls
from keyfob.certs.errors import CertificateProblem
from keyfob.settings import Settings

STOP_SECONDS = 5.0


def https_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS arguments for the site's certificate; raises CertificateProblem if none."""
    pair = store.serving_pair(settings.var_dir, settings.rp_id)
    if pair is None:
        raise CertificateProblem(
            f"no certificate for {settings.rp_id} under {store.certs_dir(settings.var_dir)}: "
            f"run `keyfob certs dev` (development) or `keyfob certs issue --domain "
            f"{settings.rp_id} --email …` (production) first"
        )
    leaf = store.read_leaf(pair)
    if leaf is None:
        raise CertificateProblem(
            f"{pair.cert} and {pair.key} cannot be read or do not match: run "
            "`keyfob certs dev` or `keyfob certs renew --force` again"
        )
    if not store.names_host(leaf, settings.rp_id):
        redo = "`keyfob certs dev`" if pair == store.dev_leaf(settings.var_dir) else "a new one"
        print(
            f"keyfob: warning: {pair.cert} is not for {settings.rp_id}: browsers will refuse "
            f"it; make {redo}",
            file=sys.stderr,
        )
    return tls.uvicorn_options(pair)


@contextmanager
def plain_http(settings: Settings, *, host: str, port: int | None) -> Iterator[None]:
    """While the block runs, `port` answers ACME challenges and redirects the rest to https.

    Binds before the site starts, so a taken or privileged port fails at once with OSError."""
    if port is None:
        yield
        return
    import uvicorn

    from keyfob.web.acme import plain_http_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CertificateProblem(f"cannot listen for plain HTTP on {host}:{port}: {exc}") from exc
    app = plain_http_app(var_dir=settings.var_dir, origin=settings.origin)
    config = uvicorn.Config(app, lifespan="off", log_config=None, server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(STOP_SECONDS)
        sock.close()
