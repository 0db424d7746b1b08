"""What `certs renew` remembers of each issuance, and that renewals never overlap."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyfob.certs import acme, store
from keyfob.certs.errors import CertificateProblem
from keyfob.certs.renewals import Request, load_requests, renewal_lock, save_request


def test_a_saved_request_is_loaded_back(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    request = Request("site.test", "ops@site.test", "https://acme.test/dir", bundle)
    save_request(tmp_path, request)
    assert load_requests(tmp_path) == [request]


def test_an_unreadable_record_says_which_file(tmp_path: Path) -> None:
    path = store.acme_dir(tmp_path) / "site.test" / "renewal.json"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    with pytest.raises(CertificateProblem, match=r"renewal\.json cannot be read"):
        load_requests(tmp_path)


def test_a_second_renewal_is_refused_while_one_runs(tmp_path: Path) -> None:
    with renewal_lock(tmp_path), pytest.raises(CertificateProblem, match="is running"):
        acme.renew_due(tmp_path, now=datetime.now(UTC))
    assert acme.renew_due(tmp_path, now=datetime.now(UTC)) == []
