"""Notes: a site built on Keyfob, in one small package.

Signed-in people keep private notes; staff see how many each account has. Run it from the
repository root:

    PYTHONPATH=examples KEYFOB_SITE_PACKAGE=notes keyfob serve
"""

from __future__ import annotations

from keyfob.extend import AccountDeleted, Extension


def extension() -> Extension:
    """What Keyfob loads when KEYFOB_SITE_PACKAGE=notes."""
    from notes import admin, pages, store

    return Extension.of_package(
        __name__,
        routers=[pages.router],
        admin_views=[admin.NoteCounts],
        on={AccountDeleted: [store.forget_account]},
    )
