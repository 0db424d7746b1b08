"""Failures of the `keyfob certs` commands a person can cause or fix, each with what to do.

They are KeyfobErrors, so the command line prints them as one line and exits non-zero.
Their text is for the operator's terminal, in English, with the details the server gave.
"""

from __future__ import annotations

from keyfob.errors import KeyfobError


class CertificateProblem(KeyfobError):
    """Certificates could not be made, read or served; the text says which and what to do."""

    code = "certificate_problem"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail

    def text(self) -> str:
        return self.detail


class AcmeUnreachable(CertificateProblem):
    """The ACME server did not answer, or its TLS certificate was not trusted."""

    code = "acme_unreachable"


class ChallengeFailed(CertificateProblem):
    """The ACME server could not fetch the HTTP-01 answer from the domain."""

    code = "acme_challenge_failed"


class AcmeRefused(CertificateProblem):
    """The ACME server refused the request (rate limit, policy, bad domain or account)."""

    code = "acme_refused"


class RateLimited(AcmeRefused):
    """The ACME server's rate limit was hit: retry later, or test against staging."""

    code = "acme_rate_limited"
