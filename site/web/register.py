"""/register: an email address, then a code, then a passkey."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from keyfob.web.deps import CurrentRuntime, Db, Guarded, OptionalSession
from keyfob.web.email_code import send_code
from keyfob.web.forms import EmailForm
from keyfob.web.rendering import render_for_visitor

router = APIRouter()


@router.get("/register")
async def register_page(request: Request, session: OptionalSession) -> Response:
    if session is not None:
        return RedirectResponse("/account", status_code=303)
    return render_for_visitor(request, "register/start.html", lambda: {"form": EmailForm(request)})


@router.post("/register", dependencies=[Guarded])
async def register(request: Request, db: Db, runtime: CurrentRuntime) -> Response:
    form = await EmailForm.from_formdata(request)
    return await send_code(request, db, runtime, form, template="register/start.html")
