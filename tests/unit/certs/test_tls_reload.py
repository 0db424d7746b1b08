"""A running server follows its certificate file: real TLS handshakes over memory buffers,
with the context built by uvicorn's own Config, as each worker builds it."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509

from keyfob.certs import local_ca, store, tls

NOW = datetime.now(UTC)


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called: TLS only
    raise AssertionError


def server_context(pair: store.Pair) -> ssl.SSLContext:
    config = uvicorn.Config(_app, log_config=None, **tls.uvicorn_options(pair))
    config.load()
    assert config.ssl is not None
    return config.ssl


def handshake(server: ssl.SSLContext, ca: Path) -> x509.Certificate:
    """One TLS connection, the client verifying `localhost` against `ca`; the served leaf."""
    client = ssl.create_default_context(cafile=str(ca))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    while not all(done.values()):
        for name, side, outgoing, incoming in (
            ("client", client_side, c_out, s_in),
            ("server", server_side, s_out, c_in),
        ):
            try:
                side.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
            incoming.write(outgoing.read())
    der = client_side.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def issue(ca: local_ca.Authority, pair: store.Pair) -> x509.Certificate:
    leaf, key = local_ca.issue_leaf(ca, host="localhost", now=NOW)
    store.write_pair(pair, chain_pem=store.cert_pem(leaf, ca.cert), key_pem=store.key_pem(key))
    return leaf


def test_the_next_handshake_after_a_renewal_gets_the_new_certificate(tmp_path: Path) -> None:
    made = local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    server = server_context(made.leaf)
    assert handshake(server, made.ca.cert) == made.leaf_cert
    renewed = issue(local_ca.load_ca(made.ca), made.leaf)
    assert handshake(server, made.ca.cert) == renewed
    assert handshake(server, made.ca.cert) == renewed


def test_a_certificate_without_its_key_yet_keeps_the_old_one_served(tmp_path: Path) -> None:
    """As if caught between two writes: the new certificate is there, its key is not."""
    made = local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    server = server_context(made.leaf)
    ca = local_ca.load_ca(made.ca)
    stray, _key = local_ca.issue_leaf(ca, host="localhost", now=NOW)
    store.write_atomic(made.leaf.cert, store.cert_pem(stray, ca.cert), mode=0o644)
    assert handshake(server, made.ca.cert) == made.leaf_cert
    renewed = issue(ca, made.leaf)
    assert handshake(server, made.ca.cert) == renewed
