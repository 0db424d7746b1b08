"""A local certificate authority for development, and the site's certificate signed by it.

The CA is made once and reused, so it only has to be trusted once; the leaf is replaced when
it is due, names another host, or no longer matches the CA or its key.
"""

from __future__ import annotations

import getpass
import ipaddress
import platform
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keyfob.certs import store
from keyfob.certs.errors import CertificateProblem

CA_LIFETIME = timedelta(days=3650)
# Apple platforms refuse TLS server certificates valid for more than 398 days, whatever the CA.
LEAF_LIFETIME = timedelta(days=397)
BACKDATE = timedelta(minutes=5)
ALWAYS_LOCAL = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class DevCertificates:
    """What `ensure_dev_certificates` found or made, for the command to report."""

    ca: store.Pair
    leaf: store.Pair
    ca_cert: x509.Certificate
    leaf_cert: x509.Certificate
    ca_created: bool
    leaf_issued: bool


def make_ca(*, now: datetime) -> Authority:
    """Named after this user and machine, so it is recognisable in a trust store."""
    key = ec.generate_private_key(ec.SECP256R1())
    label = f"Keyfob development CA ({getpass.getuser()}@{platform.node() or 'localhost'})"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label[:64])])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _base(name, name, key.public_key(), now=now, lifetime=CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign_certs=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert=cert, key=key)


def issue_leaf(
    ca: Authority, *, host: str, now: datetime, lifetime: timedelta = LEAF_LIFETIME
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A serverAuth certificate for `host`, localhost, 127.0.0.1 and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])])
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _base(subject, ca.cert.subject, key.public_key(), now=now, lifetime=lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names_for(host)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return cert, key


def names_for(host: str) -> list[x509.GeneralName]:
    """The host first, then the loopback names, each once."""
    names: list[x509.GeneralName] = []
    for name in dict.fromkeys((host, *ALWAYS_LOCAL)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def ensure_dev_certificates(var_dir: Path, *, host: str, now: datetime) -> DevCertificates:
    """Reuses the CA when there is one; issues a new leaf only when the current one is due.

    Raises CertificateProblem if an existing CA cannot be read."""
    ca_pair, leaf_pair = store.dev_ca(var_dir), store.dev_leaf(var_dir)
    ca_created = not ca_pair.exists()
    ca = make_ca(now=now) if ca_created else load_ca(ca_pair)
    leaf = None if ca_created else store.read_leaf(leaf_pair)
    issued = leaf is None or leaf_is_due(leaf, ca=ca.cert, host=host, now=now)
    if ca_created:
        store.write_pair(ca_pair, chain_pem=store.cert_pem(ca.cert), key_pem=store.key_pem(ca.key))
    if issued:
        leaf, key = issue_leaf(ca, host=host, now=now)
        chain = store.cert_pem(leaf, ca.cert)
        store.write_pair(leaf_pair, chain_pem=chain, key_pem=store.key_pem(key))
    assert leaf is not None
    return DevCertificates(ca_pair, leaf_pair, ca.cert, leaf, ca_created, issued)


def load_ca(pair: store.Pair) -> Authority:
    try:
        cert = store.read_chain(pair.cert)[0]
        key = store.read_key(pair.key)
    except (OSError, ValueError) as exc:
        raise CertificateProblem(
            f"the development CA in {pair.cert.parent} cannot be read ({exc}); remove that "
            "folder to make a new one (and remove the old one from your trust stores)"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateProblem(f"{pair.key} is not the key `keyfob certs dev` made")
    return Authority(cert=cert, key=key)


def leaf_is_due(leaf: x509.Certificate, *, ca: x509.Certificate, host: str, now: datetime) -> bool:
    """Due if expiring within 30 days, not for `host`, or not signed by this CA."""
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return True
    return store.is_due(leaf, now=now) or not covers(leaf, host)


def covers(cert: x509.Certificate, host: str) -> bool:
    return all(store.names_host(cert, name) for name in (host, *ALWAYS_LOCAL))


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    *,
    now: datetime,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(int.from_bytes(secrets.token_bytes(16)) >> 1)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
    )


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )
