"""What an operator reads when ACME fails: real exceptions from requests and acme, mapped."""

from __future__ import annotations

import pytest
import requests
from acme import challenges, errors, messages

from keyfob.certs.acme_errors import mapped_errors
from keyfob.certs.errors import AcmeRefused, AcmeUnreachable, ChallengeFailed, RateLimited
from tests.mailsink import free_port

DIRECTORY = "https://acme.test/directory"


def test_a_closed_port_reads_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}/dir"
    with pytest.raises(AcmeUnreachable) as caught, mapped_errors(url, "site.test"):
        requests.get(url, timeout=5)
    assert str(caught.value) == f"cannot reach the ACME server at {url}: Connection refused"


def test_a_rate_limit_says_so_and_points_to_staging() -> None:
    detail = "too many certificates (5) already issued for this exact set of identifiers"
    with pytest.raises(RateLimited) as caught, mapped_errors(DIRECTORY, "site.test"):
        raise messages.Error.with_code("rateLimited", detail=detail)
    assert detail in str(caught.value)
    assert "staging" in str(caught.value)


def test_other_refusals_carry_the_servers_words() -> None:
    with pytest.raises(AcmeRefused) as caught, mapped_errors(DIRECTORY, "site.test"):
        raise messages.Error.with_code("rejectedIdentifier", detail="site.test is forbidden")
    assert not isinstance(caught.value, RateLimited)
    assert str(caught.value).endswith("site.test is forbidden")


def test_a_failed_validation_names_the_domain_and_what_the_server_saw() -> None:
    challenge = messages.ChallengeBody(
        chall=challenges.HTTP01(token=b"t" * 32),
        status=messages.STATUS_INVALID,
        error=messages.Error.with_code("connection", detail="connection refused"),
    )
    authz = messages.AuthorizationResource(
        uri="https://acme.test/authz/1",
        body=messages.Authorization(
            identifier=messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="site.test"),
            challenges=[challenge],
            status=messages.STATUS_INVALID,
        ),
    )
    with pytest.raises(ChallengeFailed) as caught, mapped_errors(DIRECTORY, "site.test"):
        raise errors.ValidationError([authz])
    assert "site.test: connection refused" in str(caught.value)
    assert "/.well-known/acme-challenge/" in str(caught.value)
