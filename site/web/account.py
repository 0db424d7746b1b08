"""/account and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from keyfob.web.deps import CurrentSession, Db, Guarded, OptionalSession
from keyfob.web.rendering import render
from keyfob.web.signin import end_session

router = APIRouter()


@router.get("/")
async def home(session: OptionalSession) -> Response:
    return RedirectResponse("/account" if session else "/login", status_code=303)


@router.get("/account")
async def account_page(request: Request, session: CurrentSession) -> Response:
    return render(request, "account/index.html", {"session": session})


@router.post("/logout", dependencies=[Guarded])
async def logout(request: Request, db: Db, session: OptionalSession) -> Response:
    if session is not None:
        await end_session(request, db, session)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
