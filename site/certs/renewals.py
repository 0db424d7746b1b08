"""What `keyfob certs renew` needs to repeat an issuance, kept beside each certificate.

`certs issue` records its domain, email, directory and CA bundle in `renewal.json` only after
a certificate was issued, so `renew` (from cron or a systemd timer) takes no arguments.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from keyfob.certs import store
from keyfob.certs.errors import CertificateProblem

RENEWAL_FILE = "renewal.json"


@dataclass(frozen=True)
class Request:
    domain: str
    email: str
    directory: str
    ca_bundle: Path | None = None


def save_request(var_dir: Path, request: Request) -> None:
    record = {
        "domain": request.domain,
        "email": request.email,
        "directory": request.directory,
        "ca_bundle": str(request.ca_bundle.resolve()) if request.ca_bundle else None,
    }
    path = store.acme_dir(var_dir) / request.domain / RENEWAL_FILE
    store.write_atomic(path, json.dumps(record, indent=2).encode(), mode=0o644)


def load_requests(var_dir: Path) -> list[Request]:
    """Every certificate `certs issue` made here, by domain; raises CertificateProblem for a
    record that cannot be read."""
    return [_load(path) for path in sorted(store.acme_dir(var_dir).glob(f"*/{RENEWAL_FILE}"))]


@contextmanager
def renewal_lock(var_dir: Path) -> Iterator[None]:
    """One renewal at a time: a slow run and the next timer tick must not race."""
    path = store.acme_dir(var_dir) / ".renew.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CertificateProblem("another `keyfob certs renew` is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(path: Path) -> Request:
    try:
        record = json.loads(path.read_text())
        bundle = record.get("ca_bundle")
        return Request(
            domain=str(record["domain"]),
            email=str(record["email"]),
            directory=str(record["directory"]),
            ca_bundle=Path(bundle) if bundle else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CertificateProblem(
            f"{path} cannot be read ({exc!r}): run `keyfob certs issue` for that domain again"
        ) from exc
