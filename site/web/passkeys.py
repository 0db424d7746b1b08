"""/account/passkeys: the list, and the JSON endpoints of adding one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from keyfob.auth import audit, passkeys, sessions
from keyfob.auth.providers import provider_for
from keyfob.models import Passkey, utcnow
from keyfob.web.deps import CurrentRuntime, CurrentSession, Db, PasskeyGuarded, client_of
from keyfob.web.jsonbody import read_json
from keyfob.web.rendering import render

router = APIRouter()
CHALLENGE_KEY = "register_challenge"


@router.get("/account/passkeys")
async def passkeys_page(request: Request, db: Db, session: CurrentSession) -> Response:
    rows = list(
        await db.scalars(
            select(Passkey).where(Passkey.user_id == session.user_id).order_by(Passkey.created_at)
        )
    )
    listed = [(p, provider_for(p.aaguid)) for p in rows]
    return render(
        request,
        "account/passkeys.html",
        {"passkeys": listed, "welcome": request.query_params.get("new") == "1"},
    )


@router.post("/account/passkeys/options", dependencies=[PasskeyGuarded])
async def add_options(
    request: Request, db: Db, runtime: CurrentRuntime, session: CurrentSession
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
    request: Request, db: Db, runtime: CurrentRuntime, session: CurrentSession
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
    )
    client = client_of(request)
    audit.record(
        db,
        "passkey_added",
        now=now,
        user=session.user,
        ip=client.ip,
        user_agent=client.user_agent,
        passkey_id=passkey.id,
        aaguid=passkey.aaguid,
    )
    if session.is_recovery:
        await sessions.upgrade_session(db, session, now=now)
    return JSONResponse({"redirect": "/account/passkeys", "name": passkey.name})
