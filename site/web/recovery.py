"""/account/recovery: an authenticator app and recovery codes, the second recovery factor."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from keyfob.auth import recovery
from keyfob.errors import CodeRejected
from keyfob.i18n import gettext
from keyfob.models import utcnow
from keyfob.web.deps import (
    CurrentRuntime,
    Db,
    FullSession,
    Guarded,
    RecentPasskeySession,
    client_of,
)
from keyfob.web.forms import SecondFactorForm
from keyfob.web.rendering import render

router = APIRouter()


@router.get("/account/recovery")
async def recovery_page(request: Request, db: Db, session: FullSession) -> Response:
    state = await recovery.status(db, user_id=session.user_id)
    return render(
        request,
        "account/recovery.html",
        {
            "state": state,
            "enabled": request.query_params.get("app") == "on",
        },
    )


async def _app_page(
    request: Request,
    db: Db,
    runtime: CurrentRuntime,
    session: FullSession,
    form: SecondFactorForm,
    status_code: int = 200,
) -> Response:
    keys = runtime.recovery_keys
    secret = await recovery.pending_secret(db, user=session.user, keys=keys)
    if secret is None:
        secret = await recovery.begin_app(db, user=session.user, keys=keys)
    uri = recovery.provisioning_uri(secret, account=session.user.email, issuer=keys.issuer)
    import segno  # only this page draws QR codes: not loaded by every worker at start

    qr = segno.make(uri, error="m").svg_inline(scale=5, title=gettext("QR code for your app"))
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request,
        "account/recovery_app.html",
        {"qr": qr, "secret": grouped, "form": form},
        status_code=status_code,
    )


@router.get("/account/recovery/app")
async def app_page(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentPasskeySession
) -> Response:
    state = await recovery.status(db, user_id=session.user_id)
    if state.app:
        return RedirectResponse("/account/recovery", status_code=303)
    return await _app_page(request, db, runtime, session, SecondFactorForm(request))


@router.post("/account/recovery/app", dependencies=[Guarded])
async def confirm_app(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentPasskeySession
) -> Response:
    form = await SecondFactorForm.from_formdata(request)
    if await form.validate_on_submit():
        try:
            await recovery.confirm_app(
                db,
                user=session.user,
                code=form.code.data or "",
                keys=runtime.recovery_keys,
                notifier=runtime.notifier,
                client=client_of(request),
                now=utcnow(),
            )
        except CodeRejected as exc:
            form.code.errors = [exc.text()]
        else:
            runtime.mail_wake.set()
            return RedirectResponse("/account/recovery?app=on", status_code=303)
    return await _app_page(request, db, runtime, session, form, status_code=400)


@router.post("/account/recovery/app/remove", dependencies=[Guarded])
async def remove_app(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentPasskeySession
) -> Response:
    await recovery.remove_app(
        db, user=session.user, notifier=runtime.notifier, client=client_of(request), now=utcnow()
    )
    runtime.mail_wake.set()
    return RedirectResponse("/account/recovery", status_code=303)


@router.post("/account/recovery/codes", dependencies=[Guarded])
async def new_codes(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentPasskeySession
) -> Response:
    """The codes are shown in this answer only; the database keeps their digests."""
    codes = await recovery.replace_codes(
        db,
        user=session.user,
        keys=runtime.recovery_keys,
        notifier=runtime.notifier,
        client=client_of(request),
        now=utcnow(),
    )
    runtime.mail_wake.set()
    text = "\n".join([f"{runtime.settings.site_name} — {session.user.email}", "", *codes, ""])
    return render(
        request,
        "account/recovery_codes.html",
        {
            "codes": codes,
            "download": "data:text/plain;charset=utf-8," + quote(text),
        },
    )
