"""Files under var/certs/: written whole, keys private, due dates and pairs read right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from keyfob.certs import local_ca, store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_write_atomic_sets_the_mode_from_the_start_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "certs" / "key.pem"
    store.write_atomic(path, b"first", mode=0o600)
    store.write_atomic(path, b"second", mode=0o600)
    assert path.read_bytes() == b"second"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["key.pem"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "cert.pem"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        store.write_atomic(path, "not bytes", mode=0o644)  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cert.pem"]


def test_a_90_day_certificate_is_due_30_days_before_it_ends() -> None:
    leaf = _leaf(lifetime=timedelta(days=90))
    end = leaf.not_valid_after_utc
    assert not store.is_due(leaf, now=end - timedelta(days=31))
    assert store.is_due(leaf, now=end - timedelta(days=29))


def test_a_short_lived_certificate_is_due_in_its_last_third() -> None:
    leaf = _leaf(lifetime=timedelta(days=6))
    end = leaf.not_valid_after_utc
    assert not store.is_due(leaf, now=end - timedelta(days=2, hours=1))
    assert store.is_due(leaf, now=end - timedelta(days=1, hours=23))


def test_read_leaf_refuses_a_certificate_with_someone_elses_key(tmp_path: Path) -> None:
    ca = local_ca.make_ca(now=NOW)
    leaf, key = local_ca.issue_leaf(ca, host="localhost", now=NOW)
    pair = store.Pair(tmp_path / "cert.pem", tmp_path / "key.pem")
    store.write_pair(pair, chain_pem=store.cert_pem(leaf), key_pem=store.key_pem(key))
    assert store.read_leaf(pair) == leaf
    store.write_atomic(pair.key, store.key_pem(ca.key), mode=0o600)
    assert store.read_leaf(pair) is None


def test_an_acme_certificate_for_the_host_is_served_before_the_development_one(
    tmp_path: Path,
) -> None:
    assert store.serving_pair(tmp_path, "site.test") is None
    for pair in (store.dev_leaf(tmp_path), store.acme_leaf(tmp_path, "site.test")):
        store.write_pair(pair, chain_pem=b"cert", key_pem=b"key")
    assert store.serving_pair(tmp_path, "site.test") == store.acme_leaf(tmp_path, "site.test")
    assert store.serving_pair(tmp_path, "other.test") == store.dev_leaf(tmp_path)


def _leaf(*, lifetime: timedelta) -> x509.Certificate:
    ca = local_ca.make_ca(now=NOW)
    return local_ca.issue_leaf(ca, host="localhost", now=NOW, lifetime=lifetime)[0]
