"""/account/confirm: prove it's you again (a passkey, or a fresh code), then carry on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from keyfob.auth import passkeys, reauth
from keyfob.errors import CodeRejected, ResendTooSoon, Throttled
from keyfob.models import utcnow
from keyfob.web.bodies import read_form, read_json
from keyfob.web.deps import (
    CurrentRuntime,
    CurrentSession,
    Db,
    Guarded,
    PasskeyGuarded,
    client_of,
)
from keyfob.web.errors import local_path
from keyfob.web.forms import CodeForm
from keyfob.web.rendering import render
from keyfob.web.signin import rotate

router = APIRouter()
CHALLENGE_KEY = "reauth_challenge"
CODE_KEY = "reauth_code"
NEXT_KEY = "reauth_next"


@router.get("/account/confirm")
async def confirm_page(request: Request, session: CurrentSession) -> Response:
    target = local_path(request.query_params.get("next"))
    passkey_only = request.query_params.get("passkey") == "1"
    return render(
        request,
        "account/confirm.html",
        {"next": target, "session": session, "passkey_only": passkey_only},
    )


@router.post("/account/confirm/passkey/options", dependencies=[PasskeyGuarded])
async def passkey_options(
    request: Request, db: Db, runtime: CurrentRuntime, session: CurrentSession
) -> Response:
    ceremony = await passkeys.begin_authentication(
        db,
        rp_id=runtime.settings.rp_id,
        now=utcnow(),
        ttl=runtime.settings.challenge_ttl,
        user=session.user,
    )
    request.session[CHALLENGE_KEY] = ceremony.challenge_id
    return Response(ceremony.options_json, media_type="application/json")


@router.post("/account/confirm/passkey/verify", dependencies=[PasskeyGuarded])
async def passkey_verify(
    request: Request, db: Db, runtime: CurrentRuntime, session: CurrentSession
) -> Response:
    credential: dict[str, Any] = await read_json(request)
    token = await reauth.confirm_with_passkey(
        db,
        session=session,
        challenge_id=request.session.pop(CHALLENGE_KEY, None),
        credential=credential,
        expect=runtime.expect,
        now=utcnow(),
        client=client_of(request),
    )
    rotate(request, token)
    return JSONResponse({"redirect": local_path(request.query_params.get("next"))})


@router.post("/account/confirm/code", dependencies=[Guarded])
async def send_code(
    request: Request, db: Db, runtime: CurrentRuntime, session: CurrentSession
) -> Response:
    form = await read_form(request)
    next_value = form.get("next")
    request.session[NEXT_KEY] = local_path(next_value if isinstance(next_value, str) else None)
    try:
        request.session[CODE_KEY] = await reauth.send_code(
            db,
            session=session,
            policy=runtime.code_policy,
            mail=runtime.mail,
            throttle=runtime.throttle,
            client=client_of(request),
            now=utcnow(),
        )
    except (ResendTooSoon, Throttled) as exc:
        return render(
            request,
            "account/confirm.html",
            {"next": request.session[NEXT_KEY], "session": session, "notice": exc.text()},
            status_code=429,
        )
    runtime.mail_wake.set()
    return RedirectResponse("/account/confirm/code", status_code=303)


def _code_page(request: Request, session: Any, form: CodeForm, status_code: int = 200) -> Response:
    return render(
        request,
        "code/verify.html",
        {
            "form": form,
            "email": session.user.email,
            "action": "/account/confirm/code/verify",
            "minutes": request.app.state.runtime.settings.code_ttl_minutes,
            "resend": False,
        },
        status_code=status_code,
    )


@router.get("/account/confirm/code")
async def code_page(request: Request, session: CurrentSession) -> Response:
    if not request.session.get(CODE_KEY):
        return RedirectResponse("/account/confirm", status_code=303)
    return _code_page(request, session, CodeForm(request))


@router.post("/account/confirm/code/verify", dependencies=[Guarded])
async def verify_code(
    request: Request, db: Db, runtime: CurrentRuntime, session: CurrentSession
) -> Response:
    form = await CodeForm.from_formdata(request)
    if not await form.validate_on_submit():
        return _code_page(request, session, form, status_code=400)
    try:
        token = await reauth.confirm_with_code(
            db,
            session=session,
            code_id=request.session.get(CODE_KEY),
            code=form.code.data or "",
            policy=runtime.code_policy,
            throttle=runtime.throttle,
            client=client_of(request),
            now=utcnow(),
        )
    except (CodeRejected, Throttled) as exc:
        form.code.errors = [exc.text()]
        return _code_page(
            request, session, form, status_code=429 if isinstance(exc, Throttled) else 400
        )
    target = local_path(request.session.get(NEXT_KEY))
    rotate(request, token)
    return RedirectResponse(target, status_code=303)
