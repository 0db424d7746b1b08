"""The development CA and the site's certificate: the extensions browsers check, and reuse."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from keyfob.certs import local_ca, store
from keyfob.certs.errors import CertificateProblem

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_ca_may_sign_certificates_but_no_other_ca() -> None:
    ca = local_ca.make_ca(now=NOW).cert
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert ca.subject == ca.issuer
    assert ca.not_valid_after_utc - NOW > timedelta(days=3600)


def test_the_leaf_names_the_host_and_loopback_for_server_auth_only() -> None:
    ca = local_ca.make_ca(now=NOW)
    leaf, _key = local_ca.issue_leaf(ca, host="keyfob.test", now=NOW)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["keyfob.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= timedelta(days=398)
    leaf.verify_directly_issued_by(ca.cert)


def test_loopback_hosts_are_named_once() -> None:
    names = local_ca.names_for("127.0.0.1")
    assert len(names) == 3


def test_first_run_makes_both_and_writes_keys_private(tmp_path: Path) -> None:
    made = local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    assert made.ca_created and made.leaf_issued
    for pair in (made.ca, made.leaf):
        assert pair.key.stat().st_mode & 0o777 == 0o600
    chain = store.read_chain(made.leaf.cert)
    assert chain == [made.leaf_cert, made.ca_cert]  # the leaf, then the CA that signed it


def test_a_later_run_keeps_both_until_the_leaf_is_due(tmp_path: Path) -> None:
    first = local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    soon = local_ca.ensure_dev_certificates(
        tmp_path, host="localhost", now=NOW + timedelta(days=300)
    )
    assert not soon.ca_created and not soon.leaf_issued
    assert soon.leaf_cert == first.leaf_cert

    late = NOW + local_ca.LEAF_LIFETIME - timedelta(days=10)
    due = local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=late)
    assert not due.ca_created and due.leaf_issued
    assert due.ca_cert == first.ca_cert
    assert due.leaf_cert.not_valid_after_utc > first.leaf_cert.not_valid_after_utc


def test_a_leaf_from_another_ca_is_replaced(tmp_path: Path) -> None:
    local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    stranger = local_ca.make_ca(now=NOW)
    leaf, key = local_ca.issue_leaf(stranger, host="localhost", now=NOW)
    store.write_pair(
        store.dev_leaf(tmp_path), chain_pem=store.cert_pem(leaf), key_pem=store.key_pem(key)
    )
    again = local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    assert again.leaf_issued and again.leaf_cert != leaf


def test_an_unreadable_ca_is_reported_not_replaced(tmp_path: Path) -> None:
    local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    store.dev_ca(tmp_path).key.write_text("not a key")
    with pytest.raises(CertificateProblem, match="cannot be read"):
        local_ca.ensure_dev_certificates(tmp_path, host="localhost", now=NOW)
    assert store.dev_ca(tmp_path).key.read_text() == "not a key"
