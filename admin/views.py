"""Every view of the back office, in menu order."""

from __future__ import annotations

from sqladmin import ModelView

from keyfob.admin.auditlog import AuditAdmin
from keyfob.admin.authenticators import PasskeyAdmin
from keyfob.admin.locked import LockedAccountAdmin
from keyfob.admin.outbox import OutboxAdmin
from keyfob.admin.signins import SessionAdmin
from keyfob.admin.users import UserAdmin

VIEWS: tuple[type[ModelView], ...] = (
    UserAdmin,
    LockedAccountAdmin,
    PasskeyAdmin,
    SessionAdmin,
    AuditAdmin,
    OutboxAdmin,
)
