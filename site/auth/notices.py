"""Security notices by mail, in the account's language (NIST SP 800-63B-4 §4.2.3).

Each kind can be turned off with KEYFOB_SECURITY_NOTICES. A notice about an email-code sign-in
carries a "this wasn't me" link that signs out every session of the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.mail import outbox
from keyfob.mail.messages import MailRenderer
from keyfob.models import User

KINDS = frozenset(
    {
        "passkey_added",
        "passkey_removed",
        "email_changed",
        "code_sign_in",
        "account_deleted",
        "recovery_app_added",
        "recovery_app_removed",
        "recovery_codes_replaced",
    }
)
NOT_ME_VALID_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Notifier:
    mail: MailRenderer
    enabled: frozenset[str]
    secret_key: str
    default_locale: str = "en"

    def _signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="keyfob-not-me")

    def not_me_token(self, user: User) -> str:
        return self._signer().dumps({"user": user.id, "handle": user.webauthn_handle.hex()[:16]})

    def read_not_me_token(self, token: str) -> tuple[int, str] | None:
        """The account a "this wasn't me" link names, or None if it is forged or expired."""
        try:
            data = self._signer().loads(token, max_age=NOT_ME_VALID_SECONDS)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("user"), int):
            return None
        return data["user"], str(data.get("handle", ""))

    def send(
        self,
        db: AsyncSession,
        user: User,
        kind: str,
        *,
        now: datetime,
        to: str | None = None,
        **context: Any,
    ) -> None:
        if kind not in self.enabled:
            return
        if kind == "code_sign_in":
            context["not_me_url"] = (
                f"{self.mail.site_url.rstrip('/')}/account/not-me?token={self.not_me_token(user)}"
            )
        message = self.mail.render(
            "notice",
            to=to or user.email,
            locale=user.locale or self.default_locale,
            kind=kind,
            email=user.email,
            when=now,
            **context,
        )
        outbox.enqueue(db, message, now=now)


def parse_kinds(value: str) -> frozenset[str]:
    """KEYFOB_SECURITY_NOTICES: "all", "none", or a comma-separated list of kinds."""
    text = value.strip().lower()
    if text in {"", "all"}:
        return KINDS
    if text == "none":
        return frozenset()
    chosen = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = chosen - KINDS
    if unknown:
        raise ValueError(f"KEYFOB_SECURITY_NOTICES names unknown kinds: {sorted(unknown)}")
    return chosen
