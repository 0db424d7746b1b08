"""A software WebAuthn authenticator and client for driving passkey flows without a browser.

Responses are the JSON dicts a browser's ``PublicKeyCredential.toJSON()`` would give, so they
can be posted to the site or handed straight to py_webauthn's ``verify_*_response``. Keys are
P-256 (ES256, COSE alg -7) and attestation is always ``"none"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_UP = 0x01
_UV = 0x04
_BE = 0x08
_BS = 0x10
_AT = 0x40
_ES256 = -7


def b64url(data: bytes) -> str:
    """Encode as unpadded base64url, the WebAuthn JSON wire form."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class SoftAuthenticatorError(Exception):
    """The authenticator refused, as a real one would (excluded credential, nothing to sign)."""


@dataclass
class SoftCredential:
    """A discoverable credential held by a :class:`SoftAuthenticator`."""

    id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int


def _rp_id(options_rp_id: str | None, origin: str) -> str:
    return options_rp_id or urlsplit(origin).hostname or ""


def _client_data(type_: str, challenge: str, origin: str) -> bytes:
    data = {"type": type_, "challenge": challenge, "origin": origin, "crossOrigin": False}
    return json.dumps(data, separators=(",", ":")).encode()


def cose_key(key: ec.EllipticCurvePublicKey) -> bytes:
    numbers = key.public_numbers()
    x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
    return cbor2.dumps({1: 2, 3: _ES256, -1: 1, -2: x, -3: y})


class SoftAuthenticator:
    """A platform authenticator that keeps every credential it makes in :attr:`credentials`.

    ``sign_count_step=0`` keeps the counter at 0 forever, as many synced passkeys do.
    Registration always reports a counter of 0. Keyword overrides on :meth:`create` and
    :meth:`get` build deliberately wrong responses; with none given, responses verify.
    """

    def __init__(
        self,
        *,
        aaguid: bytes = bytes(16),
        user_verified: bool = True,
        backup_eligible: bool = False,
        backed_up: bool = False,
        sign_count_step: int = 1,
    ) -> None:
        if len(aaguid) != 16:
            raise ValueError("aaguid must be 16 bytes")
        self.aaguid = aaguid
        self.user_verified = user_verified
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.sign_count_step = sign_count_step
        self.credentials: list[SoftCredential] = []

    def _flags(self, user_verified: bool | None) -> int:
        uv = self.user_verified if user_verified is None else user_verified
        return (
            _UP
            | (_UV if uv else 0)
            | (_BE if self.backup_eligible else 0)
            | (_BS if self.backed_up else 0)
        )

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        credential_id: bytes | None = None,
        rp_id: str | None = None,
        client_type: str | None = None,
        challenge: str | None = None,
        user_verified: bool | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.create()`` with a RegistrationResponseJSON dict.

        Raises :class:`SoftAuthenticatorError` if an ``excludeCredentials`` id is held here
        or ES256 is not among ``pubKeyCredParams``.
        """
        held = {c.id for c in self.credentials}
        for desc in options.get("excludeCredentials") or []:
            if b64url_decode(desc["id"]) in held:
                raise SoftAuthenticatorError("a credential in excludeCredentials is held here")
        params = options.get("pubKeyCredParams")
        if params and all(p.get("alg") != _ES256 for p in params):
            raise SoftAuthenticatorError("ES256 not offered in pubKeyCredParams")
        cred = SoftCredential(
            id=os.urandom(16) if credential_id is None else credential_id,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=_rp_id(options["rp"].get("id"), origin),
            user_handle=b64url_decode(options["user"]["id"]),
            sign_count=0,
        )
        self.credentials.append(cred)
        attested = (
            self.aaguid
            + struct.pack(">H", len(cred.id))
            + cred.id
            + cose_key(cred.private_key.public_key())
        )
        auth_data = (
            hashlib.sha256((rp_id or cred.rp_id).encode()).digest()
            + bytes([self._flags(user_verified) | _AT])
            + struct.pack(">I", cred.sign_count)
            + attested
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data(
            client_type or "webauthn.create", challenge or options["challenge"], origin
        )
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _pick(self, options: dict[str, Any], origin: str) -> SoftCredential:
        rp = _rp_id(options.get("rpId"), origin)
        mine = [c for c in self.credentials if c.rp_id == rp]
        allowed = {b64url_decode(d["id"]) for d in options.get("allowCredentials") or []}
        if allowed:
            mine = [c for c in mine if c.id in allowed]
        if not mine:
            raise SoftAuthenticatorError(f"no usable credential for RP ID {rp!r}")
        return mine[-1]

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        credential: SoftCredential | None = None,
        sign_count: int | None = None,
        rp_id: str | None = None,
        client_type: str | None = None,
        challenge: str | None = None,
        user_verified: bool | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.get()`` with an AuthenticationResponseJSON dict.

        Uses ``credential`` if given, else the newest credential for the RP ID that
        ``allowCredentials`` (when non-empty) permits. ``sign_count`` sets the stored counter
        instead of stepping it. Raises :class:`SoftAuthenticatorError` if nothing matches.
        """
        cred = self._pick(options, origin) if credential is None else credential
        if sign_count is None:
            sign_count = cred.sign_count + self.sign_count_step
        cred.sign_count = sign_count
        auth_data = (
            hashlib.sha256((rp_id or cred.rp_id).encode()).digest()
            + bytes([self._flags(user_verified)])
            + struct.pack(">I", cred.sign_count)
        )
        client_data = _client_data(
            client_type or "webauthn.get", challenge or options["challenge"], origin
        )
        signature = cred.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(cred.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
