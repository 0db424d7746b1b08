"""Security notices by mail, in the account's language (NIST SP 800-63B-4 §4.2.3).

Each kind can be turned off with KEYFOB_SECURITY_NOTICES. A notice about an email-code sign-in
carries a "this wasn't me" link that signs out every session of the account. The link lives 48
hours and works once: after it (or any later link) was used, it is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import audit, sessions
from keyfob.auth.client import Client
from keyfob.mail import outbox
from keyfob.mail.messages import MailRenderer
from keyfob.models import AuditEvent, User

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
        "recovery_codes_removed",
    }
)
NOT_ME_VALID_SECONDS = 48 * 3600


@dataclass(frozen=True)
class NotMe:
    user_id: int
    handle: str
    issued_at: datetime


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

    def read_not_me_token(self, token: str) -> NotMe | None:
        """What a "this wasn't me" link names, or None if it is forged or expired."""
        try:
            data, issued = self._signer().loads(
                token, max_age=NOT_ME_VALID_SECONDS, return_timestamp=True
            )
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("user"), int):
            return None
        return NotMe(data["user"], str(data.get("handle", "")), issued)

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


async def use_not_me_link(
    db: AsyncSession, notifier: Notifier, token: str, *, now: datetime, client: Client
) -> bool:
    """Signs out every session of the account the link names, once: a link issued before the
    account's last use of such a link is spent. False for a forged, expired or spent link."""
    named = notifier.read_not_me_token(token)
    user = await db.get(User, named.user_id) if named else None
    if named is None or user is None or user.webauthn_handle.hex()[:16] != named.handle:
        return False
    spent = await db.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.user_id == user.id, AuditEvent.kind == "not_me")
        .where(AuditEvent.at >= named.issued_at)
        .limit(1)
    )
    if spent is not None:
        return False
    count = await sessions.revoke_others(db, user_id=user.id, keep_id=None)
    audit.record(db, "not_me", now=now, user=user, client=client, sessions_revoked=count)
    return True


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
