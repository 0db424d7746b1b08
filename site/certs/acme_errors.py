"""What went wrong talking to an ACME server, said once, in terms an operator can act on.

The acme package and requests raise their own exceptions; `mapped_errors` turns each into one
of `keyfob.certs.errors`, carrying the server's own explanation where it gave one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from acme import errors, messages
from josepy.errors import DeserializationError

from keyfob.certs.errors import AcmeRefused, AcmeUnreachable, ChallengeFailed, RateLimited

RATE_LIMITS = "https://letsencrypt.org/docs/rate-limits/"
REASONS = (
    r"\[Errno -?\d+\] ([^'\")\]]+)",
    r"(certificate verify failed: [^('\")\]]+)",
    r"(timed out)",
)


@contextmanager
def mapped_errors(directory: str, domain: str) -> Iterator[None]:
    """Raises AcmeUnreachable, ChallengeFailed, RateLimited or AcmeRefused in their place."""
    try:
        yield
    except requests.exceptions.SSLError as exc:
        raise AcmeUnreachable(
            f"the ACME server at {directory} has a TLS certificate this machine does not trust "
            f"({_reason(exc)}); for a private ACME server, pass its CA with --ca-bundle"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise AcmeUnreachable(
            f"cannot reach the ACME server at {directory}: {_reason(exc)}"
        ) from exc
    except errors.ValidationError as exc:
        raise ChallengeFailed(challenge_failure(domain, exc.failed_authzrs)) from exc
    except errors.TimeoutError as exc:
        raise ChallengeFailed(
            f"the ACME server did not finish validating {domain} in time; try again later"
        ) from exc
    except errors.IssuanceError as exc:
        raise refusal(exc.error, domain) from exc
    except messages.Error as exc:
        raise refusal(exc, domain) from exc
    except (errors.Error, DeserializationError, KeyError) as exc:
        raise AcmeUnreachable(
            f"{directory} did not answer as an ACME (RFC 8555) directory does: {exc!r}"
        ) from exc


def refusal(error: messages.Error, domain: str) -> AcmeRefused:
    said = error.detail or error.description or error.typ
    if error.code == "rateLimited":
        return RateLimited(
            f"the ACME server's rate limit was hit for {domain}: {said}. Try again after the "
            f"time it names; to experiment, use a staging --directory ({RATE_LIMITS})"
        )
    return AcmeRefused(f"the ACME server refused a certificate for {domain}: {said}")


def challenge_failure(domain: str, failed: list[messages.AuthorizationResource]) -> str:
    said = "; ".join(
        f"{authz.body.identifier.value}: {challenge.error.detail or challenge.error.typ}"
        for authz in failed
        for challenge in authz.body.challenges
        if challenge.error is not None
    )
    return (
        f"the ACME server could not fetch the HTTP-01 answer for {domain} ({said}). It asks "
        f"http://{domain}/.well-known/acme-challenge/… (on port 80 for Let's Encrypt): "
        f"`keyfob serve` must be running with the same var dir and be reachable there "
        f"(directly, with --redirect-http 80, or through a proxy), and {domain} must resolve "
        f"to this machine"
    )


def _reason(exc: requests.exceptions.RequestException) -> str:
    """The useful words ("Connection refused") out of urllib3's nested wrapping."""
    text = str(exc)
    for pattern in REASONS:
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip()
    return text or type(exc).__name__
