"""Audit log: read only, newest first, by event, account and day."""

from __future__ import annotations

from typing import ClassVar

from keyfob.admin.base import KeyfobView, labels
from keyfob.admin.filters import DayFilter, DistinctValuesFilter
from keyfob.i18n import lazy_gettext
from keyfob.models import AuditEvent


class AuditAdmin(KeyfobView, model=AuditEvent):
    name = lazy_gettext("Audit event")
    name_plural = lazy_gettext("Audit log")
    icon = "fa-solid fa-list-check"
    column_list: ClassVar[list[str]] = ["at", "kind", "email", "ip", "detail"]
    column_details_list: ClassVar[list[str]] = [
        "at",
        "kind",
        "email",
        "user_id",
        "ip",
        "user_agent",
        "detail",
    ]
    column_labels = labels(
        {
            "at": lazy_gettext("When"),
            "kind": lazy_gettext("Event"),
            "email": lazy_gettext("Account"),
            "user_id": lazy_gettext("Account number"),
            "ip": lazy_gettext("IP address"),
            "user_agent": lazy_gettext("User-Agent"),
            "detail": lazy_gettext("Detail"),
        }
    )
    column_searchable_list = (AuditEvent.email,)
    column_sortable_list = (AuditEvent.at, AuditEvent.kind, AuditEvent.email)
    column_default_sort: ClassVar[list[tuple[str, bool]]] = [("at", True), ("id", True)]
    column_filters = (
        DistinctValuesFilter(AuditEvent.kind, title=lazy_gettext("Event")),
        DayFilter(AuditEvent.at, title=lazy_gettext("Day (UTC)")),
    )
