"""Keyfob's back office for staff, built on SQLAdmin (package keyfob.admin).

`mount_admin(app, runtime)` serves it at /admin. Who gets in: keyfob.admin.auth; how forms are
protected: keyfob.admin.csrf and keyfob.admin.cookie; what staff can do: keyfob.auth.moderation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from keyfob.admin.application import KeyfobAdmin
from keyfob.admin.views import VIEWS
from keyfob.web.runtime import Runtime


def mount_admin(
    app: Starlette,
    runtime: Runtime,
    *,
    views: Sequence[type[Any]] = VIEWS,
    templates: Sequence[Path] = (),
) -> KeyfobAdmin:
    """Mounts the back office on `app` at /admin, with every view and every route guarded.

    `views` beyond Keyfob's own are a site owner's (keyfob.extend.admin): SQLAdmin's `expose`
    puts each of their routes behind the same staff gate as Keyfob's, and `seal` behind the
    same CSRF check. `templates`: the owner's back-office template folders, searched first."""
    admin = KeyfobAdmin(app, runtime, templates=templates)
    for view in views:
        admin.add_view(view)
    admin.seal()
    return admin
