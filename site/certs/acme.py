"""Certificates from an ACME server (RFC 8555; Let's Encrypt by default) over HTTP-01.

The running site answers the challenge: this process only publishes the answer in the folder
every worker reads (`http01`) and withdraws it afterwards, whatever happened. The certificate
and its key are written only once the ACME server has issued them; the account key is kept
from the moment the server has registered it, so retries reuse one account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from acme import challenges, client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.jwk import JWKRSA

from keyfob.certs import http01, store
from keyfob.certs.acme_errors import mapped_errors
from keyfob.certs.errors import AcmeRefused, CertificateProblem
from keyfob.certs.renewals import Request, load_requests, renewal_lock, save_request

USER_AGENT = "keyfob (acme-python)"
NETWORK_TIMEOUT = 30  # seconds per HTTP request to the ACME server
DEADLINE = timedelta(seconds=90)  # for validation and issuance together


@dataclass(frozen=True)
class Issued:
    domain: str
    pair: store.Pair
    not_after: datetime


def issue(request: Request, *, var_dir: Path) -> Issued:
    """Gets a certificate for `request.domain` and writes it with its new key.

    Raises AcmeUnreachable, ChallengeFailed, RateLimited or AcmeRefused, having written no
    certificate and no key."""
    key = ec.generate_private_key(ec.SECP256R1())
    with mapped_errors(request.directory, request.domain):
        acme, account_key = connect(request, var_dir)
        order = acme.new_order(csr_for(request.domain, key))
        chain = fulfil(acme, order, account_key, http01.challenge_dir(var_dir))
    leaf = issued_leaf(chain.encode("ascii"), key)
    pair = store.acme_leaf(var_dir, request.domain)
    store.write_pair(pair, chain_pem=chain.encode("ascii"), key_pem=store.key_pem(key))
    save_request(var_dir, request)
    return Issued(request.domain, pair, leaf.not_valid_after_utc)


def issued_leaf(chain: bytes, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """The first certificate of what the server sent, checked to be for our key."""
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError as exc:
        raise AcmeRefused(f"the ACME server sent no readable certificate: {exc}") from exc
    if leaf.public_key() != key.public_key():
        raise AcmeRefused("the ACME server sent a certificate for another key")
    return leaf


def connect(request: Request, var_dir: Path) -> tuple[client.ClientV2, JWKRSA]:
    """A client logged in to the account of this machine's key, registering it if new."""
    path = store.acme_account_key(var_dir)
    known = path.is_file()
    private = account_key_in(path) if known else rsa.generate_private_key(65537, 2048)
    account_key = JWKRSA(key=private)
    # requests takes a CA bundle path where acme's annotation says bool.
    verify = cast(bool, str(request.ca_bundle)) if request.ca_bundle else True
    net = client.ClientNetwork(
        account_key, verify_ssl=verify, user_agent=USER_AGENT, timeout=NETWORK_TIMEOUT
    )
    acme = client.ClientV2(client.ClientV2.get_directory(request.directory, net), net)
    register(acme, request.email)
    if not known:
        store.write_atomic(path, store.key_pem(private), mode=0o600)
    return acme, account_key


def account_key_in(path: Path) -> rsa.RSAPrivateKey:
    try:
        private = store.read_key(path)
    except (OSError, ValueError) as exc:
        raise AcmeRefused(
            f"{path} cannot be read ({exc}): move it away to make a new account"
        ) from exc
    if not isinstance(private, rsa.RSAPrivateKey):
        raise AcmeRefused(f"{path} is not an RSA key: move it away to make a new account")
    return private


def register(acme: client.ClientV2, email: str) -> None:
    """Creates the account, or finds the one this key already has (the server says 409/200)."""
    new = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
    try:
        acme.new_account(new)
    except errors.ConflictError as existing:
        acme.net.account = messages.RegistrationResource(
            uri=existing.location, body=messages.Registration()
        )


def csr_for(domain: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def fulfil(
    acme: client.ClientV2,
    order: messages.OrderResource,
    account_key: JWKRSA,
    folder: Path,
) -> str:
    """Answers each pending authorization over HTTP-01 and returns the issued full chain."""
    published: list[str] = []
    try:
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue
            challenge = http01_of(authz)
            response, validation = challenge.response_and_validation(account_key)
            token = challenge.chall.encode("token")
            http01.publish(folder, token=token, key_authorization=validation)
            published.append(token)
            acme.answer_challenge(challenge, response)
        done = acme.poll_and_finalize(order, deadline=datetime.now() + DEADLINE)
    finally:
        for token in published:
            http01.withdraw(folder, token=token)
    return str(done.fullchain_pem)


def http01_of(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challenge in authz.body.challenges:
        if isinstance(challenge.chall, challenges.HTTP01):
            return challenge
    raise AcmeRefused(f"the ACME server offers no HTTP-01 challenge for {authz.body.identifier}")


@dataclass(frozen=True)
class Renewal:
    """One certificate's outcome; `problem` is set when renewing it failed."""

    domain: str
    not_after: datetime | None
    renewed: bool
    problem: CertificateProblem | None = None


def renew_due(var_dir: Path, *, now: datetime, force: bool = False) -> list[Renewal]:
    """Renews each certificate `issue` made here that is due (or all, with `force`); one
    failing does not stop the others. Raises CertificateProblem if another renewal runs."""
    with renewal_lock(var_dir):
        return [renew_one(r, var_dir, now=now, force=force) for r in load_requests(var_dir)]


def renew_one(request: Request, var_dir: Path, *, now: datetime, force: bool) -> Renewal:
    leaf = store.read_leaf(store.acme_leaf(var_dir, request.domain))
    until = leaf.not_valid_after_utc if leaf else None
    if leaf is not None and not force and not store.is_due(leaf, now=now):
        return Renewal(request.domain, until, renewed=False)
    try:
        issued = issue(request, var_dir=var_dir)
    except CertificateProblem as exc:
        return Renewal(request.domain, until, renewed=False, problem=exc)
    return Renewal(request.domain, issued.not_after, renewed=True)
