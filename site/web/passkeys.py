"""/account/passkeys: the list, rename, delete, and the JSON endpoints of adding one."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from keyfob.auth import passkeys, sessions
from keyfob.auth.providers import provider_for
from keyfob.errors import InvalidName, NotFound
from keyfob.models import utcnow
from keyfob.web.bodies import read_json
from keyfob.web.deps import (
    CurrentRuntime,
    CurrentSession,
    Db,
    FullSession,
    Guarded,
    PasskeyGuarded,
    RecentFullSession,
    RecentSession,
    client_of,
)
from keyfob.web.forms import RenameForm
from keyfob.web.rendering import render
from keyfob.web.signin import rotate

router = APIRouter()
CHALLENGE_KEY = "register_challenge"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _page(
    request: Request,
    db: Db,
    session: Any,
    *,
    status_code: int = 200,
    errors: dict[int, str] | None = None,
) -> Response:
    rows = await passkeys.list_passkeys(db, user_id=session.user_id)
    return render(
        request,
        "account/passkeys.html",
        {
            "passkeys": [
                (p, provider_for(p.aaguid), RenameForm(request, prefix=f"p{p.id}", name=p.name))
                for p in rows
            ],
            "errors": errors or {},
            "welcome": request.query_params.get("new") == "1",
            "removed": request.query_params.get("removed") == "1",
            "only_on_one_device": len(rows) == 1 and not rows[0].backed_up,
            "signal": {
                "rp_id": request.app.state.runtime.settings.rp_id,
                "user_id": b64url(session.user.webauthn_handle),
                "name": session.user.email,
                "credentials": ",".join(b64url(p.credential_id) for p in rows),
            },
        },
        status_code=status_code,
    )


@router.get("/account/passkeys")
async def passkeys_page(request: Request, db: Db, session: CurrentSession) -> Response:
    return await _page(request, db, session)


@router.post("/account/passkeys/options", dependencies=[PasskeyGuarded])
async def add_options(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentSession
) -> Response:
    ceremony = await passkeys.begin_registration(
        db,
        user=session.user,
        rp_id=runtime.settings.rp_id,
        rp_name=runtime.settings.site_name,
        now=utcnow(),
        ttl=runtime.settings.challenge_ttl,
    )
    request.session[CHALLENGE_KEY] = ceremony.challenge_id
    return Response(ceremony.options_json, media_type="application/json")


@router.post("/account/passkeys/verify", dependencies=[PasskeyGuarded])
async def add_verify(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentSession
) -> Response:
    credential: dict[str, Any] = await read_json(request)
    now = utcnow()
    passkey = await passkeys.finish_registration(
        db,
        user=session.user,
        challenge_id=request.session.pop(CHALLENGE_KEY, None),
        credential=credential,
        expect=runtime.expect,
        now=now,
        notifier=runtime.notifier,
        client=client_of(request),
    )
    target = "/account/passkeys"
    if session.is_recovery:
        rotate(request, await sessions.upgrade_session(db, session, now=now, passkey_id=passkey.id))
        if len(await sessions.list_sessions(db, user_id=session.user_id)) > 1:
            target = "/account/sessions?offer=1"
    return JSONResponse({"redirect": target, "name": passkey.name})


@router.post("/account/passkeys/{passkey_id}/rename", dependencies=[Guarded])
async def rename(request: Request, passkey_id: int, db: Db, session: FullSession) -> Response:
    form = await RenameForm.from_formdata(request, prefix=f"p{passkey_id}")
    if await form.validate_on_submit():
        try:
            await passkeys.rename_passkey(
                db, user_id=session.user_id, passkey_id=passkey_id, name=form.name.data or ""
            )
        except InvalidName as exc:
            return await _page(
                request, db, session, status_code=400, errors={passkey_id: exc.text()}
            )
        return RedirectResponse("/account/passkeys", status_code=303)
    message = next(iter(form.name.errors), "") if form.name.errors else ""
    return await _page(request, db, session, status_code=400, errors={passkey_id: str(message)})


@router.get("/account/passkeys/{passkey_id}/delete")
async def confirm_delete(
    request: Request, passkey_id: int, db: Db, session: RecentFullSession
) -> Response:
    rows = await passkeys.list_passkeys(db, user_id=session.user_id)
    passkey = next((p for p in rows if p.id == passkey_id), None)
    if passkey is None:
        raise NotFound
    return render(
        request, "account/passkey_delete.html", {"passkey": passkey, "last": len(rows) == 1}
    )


@router.post("/account/passkeys/{passkey_id}/delete", dependencies=[Guarded])
async def delete(
    request: Request, passkey_id: int, db: Db, runtime: CurrentRuntime, session: RecentFullSession
) -> Response:
    await passkeys.delete_passkey(
        db,
        user=session.user,
        passkey_id=passkey_id,
        notifier=runtime.notifier,
        client=client_of(request),
        now=utcnow(),
        current_session_id=session.id,
    )
    return RedirectResponse("/account/passkeys?removed=1", status_code=303)
