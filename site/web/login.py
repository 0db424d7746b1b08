"""/login: a passkey (button or autofill), or an emailed code for recovery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import passkeys
from keyfob.models import utcnow
from keyfob.web.bodies import read_json
from keyfob.web.deps import (
    CurrentRuntime,
    Db,
    Guarded,
    OptionalSession,
    client_of,
    guarded_endpoint,
)
from keyfob.web.email_code import send_code
from keyfob.web.errors import local_path
from keyfob.web.forms import RecoveryForm
from keyfob.web.rendering import render_for_visitor
from keyfob.web.runtime import Runtime
from keyfob.web.signin import AFTER_SIGN_IN, start_session

router = APIRouter()
CHALLENGE_KEY = "sign_in_challenge"


@router.get("/login")
async def login_page(request: Request, session: OptionalSession) -> Response:
    target = request.query_params.get("next")
    if session is not None:
        return RedirectResponse(local_path(target), status_code=303)
    if target:
        request.session[AFTER_SIGN_IN] = local_path(target)
    return render_for_visitor(request, "login/start.html", lambda: {"form": RecoveryForm(request)})


@router.post("/login", dependencies=[Guarded])
async def request_recovery_code(request: Request, db: Db, runtime: CurrentRuntime) -> Response:
    form = await RecoveryForm.from_formdata(request)
    return await send_code(request, db, runtime, form, template="login/start.html")


async def sign_in_options(request: Request, db: AsyncSession, runtime: Runtime) -> Response:
    ceremony = await passkeys.begin_authentication(
        db, rp_id=runtime.settings.rp_id, now=utcnow(), ttl=runtime.settings.challenge_ttl
    )
    request.session[CHALLENGE_KEY] = ceremony.challenge_id
    return Response(ceremony.options_json, media_type="application/json")


async def sign_in_verify(request: Request, db: AsyncSession, runtime: Runtime) -> Response:
    credential: dict[str, Any] = await read_json(request)
    client = client_of(request)
    signed_in = await passkeys.finish_authentication(
        db,
        challenge_id=request.session.pop(CHALLENGE_KEY, None),
        credential=credential,
        expect=runtime.expect,
        now=utcnow(),
        client=client,
    )
    target = request.session.pop(AFTER_SIGN_IN, None) or "/account"
    await start_session(
        request,
        db,
        user=signed_in.user,
        method="passkey",
        recovery=False,
        passkey_id=signed_in.passkey_id,
        synced=signed_in.synced,
    )
    return JSONResponse({"redirect": local_path(target)})


# The two requests of every passkey sign-in, as plain routes (see `guarded_endpoint`)
router.add_route(
    "/login/passkey/options",
    guarded_endpoint("passkey:ip", sign_in_options),
    methods=["POST"],
    include_in_schema=False,
)
router.add_route(
    "/login/passkey/verify",
    guarded_endpoint("passkey:ip", sign_in_verify),
    methods=["POST"],
    include_in_schema=False,
)
