"""Every table; Alembic's autogenerate and the app import them from here."""

from keyfob.models.audit import AuditEvent
from keyfob.models.base import Base, table, utcnow
from keyfob.models.challenge import WebAuthnChallenge
from keyfob.models.code import EmailCode
from keyfob.models.outbox import OutboxMail
from keyfob.models.passkey import Passkey
from keyfob.models.recovery import AuthenticatorApp, RecoveryCode
from keyfob.models.session import SignInSession
from keyfob.models.user import User

__all__ = [
    "AuditEvent",
    "AuthenticatorApp",
    "Base",
    "EmailCode",
    "OutboxMail",
    "Passkey",
    "RecoveryCode",
    "SignInSession",
    "User",
    "WebAuthnChallenge",
    "table",
    "utcnow",
]
