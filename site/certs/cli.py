"""`keyfob certs dev|issue|renew`.

The certificate modules (and `cryptography`) are imported by the command that runs, so every
other `keyfob` command starts without them."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from keyfob.certs.errors import CertificateProblem
from keyfob.settings import Settings, from_environment

if TYPE_CHECKING:
    from keyfob.certs.renewals import Request

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certs = commands.add_parser("certs", help="certificates for HTTPS").add_subparsers()
    dev = certs.add_parser("dev", help="a local CA and a certificate for the site's host")
    dev.set_defaults(run=lambda _a: make_dev_certificates(from_environment()))

    issue = certs.add_parser("issue", help="a certificate over ACME (Let's Encrypt by default)")
    issue.add_argument("--domain", required=True, help="the site's domain name")
    issue.add_argument("--email", required=True, help="contact address for the ACME account")
    issue.add_argument(
        "--directory",
        default=LETS_ENCRYPT,
        metavar="URL",
        help=f"ACME directory (default Let's Encrypt; staging: {LETS_ENCRYPT_STAGING})",
    )
    issue.add_argument(
        "--ca-bundle", type=Path, metavar="FILE", help="CA certificates to trust the server by"
    )
    issue.set_defaults(run=lambda a: issue_certificate(from_environment(), _request(a)))

    renew = certs.add_parser("renew", help="renew ACME certificates that are due")
    renew.add_argument("--force", action="store_true", help="renew even if not due")
    renew.set_defaults(run=lambda a: renew_certificates(from_environment(), force=a.force))


def make_dev_certificates(settings: Settings) -> int:
    from keyfob.certs import local_ca, trust

    made = local_ca.ensure_dev_certificates(
        settings.var_dir, host=settings.rp_id, now=datetime.now(UTC)
    )
    ca_state = "created" if made.ca_created else "reused"
    leaf_state = "issued" if made.leaf_issued else "still valid, kept"
    until = made.leaf_cert.not_valid_after_utc.date()
    print(f"Development CA {ca_state}: {made.ca.cert}")
    print(f"Certificate for {settings.rp_id} {leaf_state} (until {until}): {made.leaf.cert}")
    print("`keyfob serve --https` serves it.\n")
    print(trust.instructions(made.ca.cert, made.ca.key, made.ca_cert))
    return 0


def issue_certificate(settings: Settings, request: Request) -> int:
    """Refuses a domain the site would not answer for before asking the ACME server, whose
    failed validations count against its rate limits."""
    from keyfob.certs import acme

    if request.domain not in settings.host_names:
        raise CertificateProblem(
            f"--domain {request.domain}: the site answers only to {', '.join(settings.host_names)}"
            " (KEYFOB_SITE_URL, KEYFOB_ALLOWED_HOSTS), so it could not answer the challenge"
        )
    issued = acme.issue(request, var_dir=settings.var_dir)
    print(f"Certificate for {issued.domain} until {issued.not_after:%Y-%m-%d}: {issued.pair.cert}")
    print(f"Its key: {issued.pair.key}. `keyfob certs renew` renews it when due.")
    return 0


def renew_certificates(settings: Settings, *, force: bool) -> int:
    from keyfob.certs import acme

    outcomes = acme.renew_due(settings.var_dir, now=datetime.now(UTC), force=force)
    if not outcomes:
        print("No ACME certificates here yet: `keyfob certs issue` makes the first one.")
    for outcome in outcomes:
        until = f"{outcome.not_after:%Y-%m-%d}" if outcome.not_after else "unknown"
        if outcome.problem is not None:
            print(f"{outcome.domain}: not renewed: {outcome.problem}", file=sys.stderr)
        elif outcome.renewed:
            print(
                f"{outcome.domain}: renewed, valid until {until}; the running site uses it "
                "from its next connection"
            )
        else:
            print(f"{outcome.domain}: valid until {until}, not due yet")
    return 1 if any(o.problem for o in outcomes) else 0


def _request(args: argparse.Namespace) -> Request:
    from keyfob.certs.renewals import Request

    bundle: Path | None = args.ca_bundle
    if bundle is not None and not bundle.is_file():
        raise CertificateProblem(f"--ca-bundle {bundle}: no such file")
    try:
        domain = str(args.domain).strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        domain = ""
    if not domain or domain.startswith("*.") or "." not in domain:
        raise CertificateProblem(
            f"--domain {args.domain}: give one full domain name (HTTP-01 cannot prove wildcards)"
        )
    return Request(domain=domain, email=args.email, directory=args.directory, ca_bundle=bundle)
