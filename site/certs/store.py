"""Where certificates and keys live under `var/certs/`, and how they are read and written.

Every file is written whole or not at all (a temporary file, then `os.replace`), and private
keys are created with mode 0600, so a crash or a full disk never leaves a torn PEM behind.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

RENEW_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class Pair:
    """A certificate file (the full chain, leaf first) and its private key file."""

    cert: Path
    key: Path

    def exists(self) -> bool:
        return self.cert.is_file() and self.key.is_file()


def certs_dir(var_dir: Path) -> Path:
    return var_dir / "certs"


def dev_ca(var_dir: Path) -> Pair:
    return Pair(certs_dir(var_dir) / "dev" / "ca.pem", certs_dir(var_dir) / "dev" / "ca.key")


def dev_leaf(var_dir: Path) -> Pair:
    return Pair(certs_dir(var_dir) / "dev" / "cert.pem", certs_dir(var_dir) / "dev" / "key.pem")


def acme_dir(var_dir: Path) -> Path:
    return certs_dir(var_dir) / "acme"


def acme_leaf(var_dir: Path, domain: str) -> Pair:
    folder = acme_dir(var_dir) / domain
    return Pair(folder / "cert.pem", folder / "key.pem")


def acme_account_key(var_dir: Path) -> Path:
    return acme_dir(var_dir) / "account.key"


def serving_pair(var_dir: Path, host: str) -> Pair | None:
    """A certificate from ACME for `host` wins over the development one; None if neither."""
    for pair in (acme_leaf(var_dir, host), dev_leaf(var_dir)):
        if pair.exists():
            return pair
    return None


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Readers see the old file or the new one, never a part; `mode` holds from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_pair(pair: Pair, *, chain_pem: bytes, key_pem: bytes) -> None:
    """The key goes first: a running server reloads when the certificate file changes, so it
    never pairs a new certificate with the old key."""
    write_atomic(pair.key, key_pem, mode=0o600)
    write_atomic(pair.cert, chain_pem, mode=0o644)


def key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def read_chain(path: Path) -> list[x509.Certificate]:
    """Raises OSError or ValueError when the file is missing or holds no certificate."""
    return x509.load_pem_x509_certificates(path.read_bytes())


def read_key(path: Path) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def read_leaf(pair: Pair) -> x509.Certificate | None:
    """The leaf of a pair whose files are readable and whose key matches; else None."""
    try:
        leaf = read_chain(pair.cert)[0]
        key = read_key(pair.key)
    except (OSError, ValueError):
        return None
    return leaf if _same_key(leaf, key) else None


def is_due(cert: x509.Certificate, *, now: datetime) -> bool:
    """Due when less than 30 days or a third of its lifetime remain, whichever is shorter:
    30 days for Let's Encrypt's 90-day certificates, as it advises; proportionally less for
    shorter-lived ones."""
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - now < min(RENEW_WITHIN, lifetime / 3)


def names_host(cert: x509.Certificate, host: str) -> bool:
    """True if the certificate's subjectAltName lists `host` (a DNS name or an IP address)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        return ipaddress.ip_address(host) in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return host.lower() in (name.lower() for name in san.get_values_for_type(x509.DNSName))


def _same_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(der, public) == key.public_key().public_bytes(der, public)
    )
