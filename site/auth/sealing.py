"""Secrets kept at rest (authenticator-app seeds) are sealed with AES-GCM under a key derived
from KEYFOB_SECRET_KEY with HKDF, so the database alone does not reveal them."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12


class Sealer:
    def __init__(self, secret_key: str, *, purpose: bytes) -> None:
        self._aead = AESGCM(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"keyfob:" + purpose).derive(
                secret_key.encode()
            )
        )
        self._purpose = purpose

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, plain, self._purpose)

    def unseal(self, sealed: bytes) -> bytes:
        """Raises ValueError when the data was altered or sealed under another key."""
        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], self._purpose)
        except InvalidTag as exc:
            raise ValueError("sealed data does not open with this key") from exc
