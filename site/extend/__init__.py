"""Build your site on Keyfob: the public surface for a site owner's package.

Name your package in `KEYFOB_SITE_PACKAGE` and give it a function `extension()` that returns
`Extension.of_package(__name__, routers=[...], admin_views=[...], on={...})`. Keyfob then serves
its routers, finds its templates before Keyfob's, serves its `static/` at /static/<package>/,
migrates its `migrations/versions/` with `keyfob db upgrade`, adds its back-office views
(keyfob.extend.admin) and merges its `locale/` catalogs. README: "Build your site on Keyfob".

What this module (and keyfob.extend.admin) names is kept stable between releases; anything
else inside Keyfob may change.

Guarantees to an owner's routes: Keyfob's security headers and CSP, Host check, body limit and
error pages apply to them; every state-changing request to them passes the same per-client
throttle and CSRF check as Keyfob's own forms; Keyfob's routes are matched first, so an owner's
route never replaces a sign-in page.
"""

from __future__ import annotations

from keyfob.errors import Forbidden, KeyfobError, NotFound
from keyfob.events import AccountCreated, AccountDeleted, EmailChanged, Event, PasskeyAdded
from keyfob.extensions import Extension
from keyfob.i18n import gettext, lazy_gettext, ngettext
from keyfob.models import Base, User, utcnow
from keyfob.models.base import UTCDateTime
from keyfob.web.deps import Db
from keyfob.web.forms import BaseForm as Form
from keyfob.web.people import (
    MaybeSignedIn,
    Person,
    SignedIn,
    SignedInOrRecovering,
    Staff,
    signed_in_within,
)
from keyfob.web.rendering import render

Refusal = KeyfobError
"""Subclass it (with `code`, `status`, `message`) for an error shown on Keyfob's error page."""

_ = gettext

__all__ = [
    "AccountCreated",
    "AccountDeleted",
    "Base",
    "Db",
    "EmailChanged",
    "Event",
    "Extension",
    "Forbidden",
    "Form",
    "MaybeSignedIn",
    "NotFound",
    "PasskeyAdded",
    "Person",
    "Refusal",
    "SignedIn",
    "SignedInOrRecovering",
    "Staff",
    "UTCDateTime",
    "User",
    "_",
    "gettext",
    "lazy_gettext",
    "ngettext",
    "render",
    "signed_in_within",
    "utcnow",
]
