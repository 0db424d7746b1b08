"""HTTP-01 answers waiting to be fetched: written by `keyfob certs issue`, read by the site.

They are plain files in one folder under the var dir, so every worker of the running site
(and the plain-HTTP listener) serves the same answers the issuing process published.
RFC 8555 §8.3: the answer to token T is served at /.well-known/acme-challenge/T.
"""

from __future__ import annotations

import re
from pathlib import Path

from keyfob.certs import store

PATH_PREFIX = "/.well-known/acme-challenge/"
# RFC 8555 §8.1: a token is base64url without padding; anything else names no answer.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")


def challenge_dir(var_dir: Path) -> Path:
    return var_dir / "acme-challenge"


def publish(directory: Path, *, token: str, key_authorization: str) -> Path:
    """Raises ValueError for a token that is not base64url (it would name a path)."""
    if not TOKEN.fullmatch(token):
        raise ValueError(f"not an ACME token: {token!r}")
    path = directory / token
    store.write_atomic(path, key_authorization.encode("ascii"), mode=0o644)
    return path


def withdraw(directory: Path, *, token: str) -> None:
    if TOKEN.fullmatch(token):
        (directory / token).unlink(missing_ok=True)


def lookup(directory: Path, token: str) -> str | None:
    """The published answer, or None for an unknown or malformed token."""
    if not TOKEN.fullmatch(token):
        return None
    try:
        return (directory / token).read_text("ascii")
    except (OSError, UnicodeDecodeError):
        return None
