"""The back office's view **Notes**: how many notes each account keeps (never their text)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyfob.extend import lazy_gettext
from keyfob.extend.admin import AdminPage, expose
from notes import store


class NoteCounts(AdminPage):
    name = lazy_gettext("Notes")
    identity = "notes"
    icon = "fa-solid fa-note-sticky"

    @expose("/notes", methods=["GET"], identity="notes")
    async def counts(self, request: Request) -> Response:
        async with self.session() as db:
            rows = await store.counts(db)
        return await self.render(request, "notes/counts.html", {"rows": rows})
