"""/account/sessions: every signed-in device, and signing them out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from keyfob.auth import audit, sessions
from keyfob.auth.devices import approximate, describe
from keyfob.models import utcnow
from keyfob.web.deps import Db, FullSession, Guarded, RecentFullSession, client_of
from keyfob.web.rendering import render

router = APIRouter()


@router.get("/account/sessions")
async def sessions_page(request: Request, db: Db, session: FullSession) -> Response:
    rows = await sessions.list_sessions(db, user_id=session.user_id)
    listed = [
        {
            "row": row,
            "device": describe(row.user_agent),
            "network": approximate(row.ip),
            "current": row.id == session.id,
        }
        for row in sorted(rows, key=lambda r: r.id != session.id)
    ]
    return render(
        request,
        "account/sessions.html",
        {
            "sessions": listed,
            "others": len(rows) - 1,
            "offer": request.query_params.get("offer") == "1",
            "done": request.query_params.get("done"),
        },
    )


@router.post("/account/sessions/{session_id}/revoke", dependencies=[Guarded])
async def revoke_one(
    request: Request, session_id: int, db: Db, session: RecentFullSession
) -> Response:
    if session_id == session.id:
        return RedirectResponse("/account/sessions", status_code=303)
    if await sessions.revoke_own(db, user_id=session.user_id, session_id=session_id):
        client = client_of(request)
        audit.record(
            db,
            "session_revoked",
            now=utcnow(),
            user=session.user,
            client=client,
            session_id=session_id,
        )
    return RedirectResponse("/account/sessions?done=one", status_code=303)


@router.post("/account/sessions/revoke-others", dependencies=[Guarded])
async def revoke_others(request: Request, db: Db, session: RecentFullSession) -> Response:
    count = await sessions.revoke_others(db, user_id=session.user_id, keep_id=session.id)
    client = client_of(request)
    audit.record(
        db,
        "sessions_revoked",
        now=utcnow(),
        user=session.user,
        client=client,
        count=count,
    )
    return RedirectResponse("/account/sessions?done=others", status_code=303)
