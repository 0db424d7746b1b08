"""Keyfob's back office for staff, built on SQLAdmin (package keyfob.admin).

`mount_admin(app, runtime)` serves it at /admin. Who gets in: keyfob.admin.auth; how forms are
protected: keyfob.admin.csrf and keyfob.admin.cookie; what staff can do: keyfob.auth.moderation.
"""

from __future__ import annotations

from starlette.applications import Starlette

from keyfob.admin.application import KeyfobAdmin
from keyfob.admin.views import VIEWS
from keyfob.web.runtime import Runtime


def mount_admin(app: Starlette, runtime: Runtime) -> KeyfobAdmin:
    """Mounts the back office on `app` at /admin, with every view and every route guarded."""
    admin = KeyfobAdmin(app, runtime)
    for view in VIEWS:
        admin.add_view(view)
    admin.seal()
    return admin
