"""The code page shared by sign-up and recovery: ask for a code, then type it in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import recovery, signup
from keyfob.errors import CodeRejected, InvalidEmail, ResendTooSoon, Throttled
from keyfob.i18n import current_locale, gettext
from keyfob.models import Passkey, User, utcnow
from keyfob.web.deps import CurrentRuntime, Db, Guarded, client_of, get_settings
from keyfob.web.errors import local_path
from keyfob.web.forms import CodeForm, EmailForm, SecondFactorForm
from keyfob.web.rendering import render
from keyfob.web.runtime import Runtime
from keyfob.web.signin import AFTER_SIGN_IN, start_session

router = APIRouter()
CODE_KEY = "code_id"
SECOND_FACTOR_KEY = "second_factor"


async def send_code(
    request: Request, db: AsyncSession, runtime: Runtime, form: EmailForm, *, template: str
) -> Response:
    """Handles the Email form of /register and /login alike, so their answers cannot differ."""
    if await form.validate_on_submit():
        try:
            code_id = await signup.request_code(
                db,
                email=form.email.data or "",
                locale=current_locale(),
                throttle=runtime.throttle,
                policy=runtime.code_policy,
                mail=runtime.mail,
                client=client_of(request),
                now=utcnow(),
            )
        except InvalidEmail as exc:
            form.email.errors = [exc.text()]
        except (ResendTooSoon, Throttled) as exc:
            form.email.errors = [exc.text()]
            return render(request, template, {"form": form}, status_code=429)
        else:
            request.session[CODE_KEY] = code_id
            runtime.mail_wake.set()
            return RedirectResponse("/code", status_code=303)
    return render(request, template, {"form": form}, status_code=400)


async def _code_page(
    request: Request,
    db: AsyncSession,
    form: CodeForm,
    *,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    email = await signup.pending_email(db, code_id=request.session.get(CODE_KEY), now=utcnow())
    if email is None:
        return RedirectResponse("/login", status_code=303)
    return render(
        request,
        "code/verify.html",
        {
            "form": form,
            "email": email,
            "notice": notice,
            "minutes": get_settings(request).code_ttl_minutes,
        },
        status_code=status_code,
    )


@router.get("/code")
async def code_page(request: Request, db: Db) -> Response:
    return await _code_page(request, db, CodeForm(request))


@router.post("/code", dependencies=[Guarded])
async def submit_code(request: Request, db: Db, runtime: CurrentRuntime) -> Response:
    form = await CodeForm.from_formdata(request)
    if not await form.validate_on_submit():
        return await _code_page(request, db, form, status_code=400)
    try:
        redeemed = await signup.redeem_code(
            db,
            code_id=request.session.get(CODE_KEY),
            code=form.code.data or "",
            policy=runtime.code_policy,
            client=client_of(request),
            now=utcnow(),
            locale=current_locale(),
            throttle=runtime.throttle,
            notifier=runtime.notifier,
        )
    except CodeRejected as exc:
        form.code.errors = [exc.text()]
        return await _code_page(request, db, form, status_code=400)
    except Throttled as exc:
        form.code.errors = [exc.text()]
        return await _code_page(request, db, form, status_code=429)
    if redeemed.needs_second_factor:
        request.session[SECOND_FACTOR_KEY] = await recovery.start_second_factor(
            db, user=redeemed.user, policy=runtime.code_policy, now=utcnow()
        )
        return RedirectResponse("/login/second-factor", status_code=303)
    return await _signed_in_by_code(request, db, runtime, redeemed.user)


async def _signed_in_by_code(
    request: Request, db: AsyncSession, runtime: Runtime, user: User
) -> Response:
    target = request.session.pop(AFTER_SIGN_IN, None) or "/account"
    await start_session(
        request, db, user=user, method="code", recovery=runtime.settings.code_sign_in_is_recovery
    )
    request.session.pop(SECOND_FACTOR_KEY, None)
    passkeys = await db.scalar(
        select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id)
    )
    if not passkeys:
        return RedirectResponse("/account/passkeys?new=1", status_code=303)
    return RedirectResponse(local_path(target), status_code=303)


def _second_factor_page(
    request: Request, form: SecondFactorForm, status_code: int = 200
) -> Response:
    return render(request, "code/second_factor.html", {"form": form}, status_code=status_code)


@router.get("/login/second-factor")
async def second_factor_page(request: Request) -> Response:
    if not request.session.get(SECOND_FACTOR_KEY):
        return RedirectResponse("/login", status_code=303)
    return _second_factor_page(request, SecondFactorForm(request))


@router.post("/login/second-factor", dependencies=[Guarded])
async def second_factor(request: Request, db: Db, runtime: CurrentRuntime) -> Response:
    form = await SecondFactorForm.from_formdata(request)
    if not await form.validate_on_submit():
        return _second_factor_page(request, form, status_code=400)
    try:
        user = await recovery.finish_second_factor(
            db,
            pending_id=request.session.get(SECOND_FACTOR_KEY),
            code=form.code.data or "",
            keys=runtime.recovery_keys,
            policy=runtime.code_policy,
            throttle=runtime.throttle,
            client=client_of(request),
            now=utcnow(),
        )
    except (CodeRejected, Throttled) as exc:
        form.code.errors = [exc.text()]
        return _second_factor_page(
            request, form, status_code=429 if isinstance(exc, Throttled) else 400
        )
    return await _signed_in_by_code(request, db, runtime, user)


@router.post("/code/resend", dependencies=[Guarded])
async def resend_code(request: Request, db: Db, runtime: CurrentRuntime) -> Response:
    email = await signup.pending_email(db, code_id=request.session.get(CODE_KEY), now=utcnow())
    if email is None:
        return RedirectResponse("/login", status_code=303)
    try:
        request.session[CODE_KEY] = await signup.request_code(
            db,
            email=email,
            locale=current_locale(),
            throttle=runtime.throttle,
            policy=runtime.code_policy,
            mail=runtime.mail,
            client=client_of(request),
            now=utcnow(),
        )
    except (ResendTooSoon, Throttled) as exc:
        return await _code_page(request, db, CodeForm(request), status_code=429, notice=exc.text())
    runtime.mail_wake.set()
    return await _code_page(
        request,
        db,
        CodeForm(request),
        notice=gettext("We sent a new code. The old one no longer works."),
    )
