"""/account: the overview, signing out, changing the email, deleting the account, and the
"this wasn't me" link from a security notice."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import TemplateNotFound

from keyfob.auth import account, notices, recovery
from keyfob.errors import CodeRejected, InvalidEmail, ResendTooSoon, Throttled
from keyfob.models import utcnow
from keyfob.web.bodies import read_form
from keyfob.web.deps import (
    CurrentRuntime,
    CurrentSession,
    Db,
    Guarded,
    OptionalSession,
    RecentFullSession,
    client_of,
)
from keyfob.web.forms import CodeForm, NewEmailForm
from keyfob.web.rendering import render
from keyfob.web.signin import end_session

router = APIRouter()
CHANGE_KEY = "email_change_code"
HOME_TEMPLATE = "home.html"


@router.get("/")
async def home(request: Request, session: OptionalSession) -> Response:
    """A site built on Keyfob shows its own `home.html`; Keyfob alone has none, and sends
    people on to their account or to sign in."""
    try:
        return render(request, HOME_TEMPLATE)
    except TemplateNotFound:
        return RedirectResponse("/account" if session else "/login", status_code=303)


@router.get("/account")
async def account_page(request: Request, db: Db, session: CurrentSession) -> Response:
    state = await recovery.status(db, user_id=session.user_id)
    return render(request, "account/index.html", {"session": session, "recovery": state})


@router.post("/logout", dependencies=[Guarded])
async def logout(request: Request, db: Db, session: OptionalSession) -> Response:
    if session is not None:
        await end_session(request, db, session)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/account/email")
async def email_page(request: Request, session: RecentFullSession) -> Response:
    return render(request, "account/email.html", {"form": NewEmailForm(request)})


@router.post("/account/email", dependencies=[Guarded])
async def start_email_change(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentFullSession
) -> Response:
    form = await NewEmailForm.from_formdata(request)
    if await form.validate_on_submit():
        try:
            request.session[CHANGE_KEY] = await account.start_email_change(
                db,
                user=session.user,
                new_email=form.email.data or "",
                policy=runtime.code_policy,
                mail=runtime.mail,
                throttle=runtime.throttle,
                client=client_of(request),
                now=utcnow(),
            )
        except (InvalidEmail, ResendTooSoon, Throttled) as exc:
            form.email.errors = [exc.text()]
        else:
            runtime.mail_wake.set()
            return RedirectResponse("/account/email/code", status_code=303)
    return render(request, "account/email.html", {"form": form}, status_code=400)


async def _email_code_page(
    request: Request, db: Db, session: RecentFullSession, form: CodeForm, status_code: int = 200
) -> Response:
    email = await account.pending_change(
        db, user=session.user, code_id=request.session.get(CHANGE_KEY), now=utcnow()
    )
    if email is None:
        return RedirectResponse("/account/email", status_code=303)
    return render(
        request,
        "code/verify.html",
        {
            "form": form,
            "email": email,
            "action": "/account/email/code",
            "resend": False,
            "minutes": request.app.state.runtime.settings.code_ttl_minutes,
        },
        status_code=status_code,
    )


@router.get("/account/email/code")
async def email_code_page(request: Request, db: Db, session: RecentFullSession) -> Response:
    return await _email_code_page(request, db, session, CodeForm(request))


@router.post("/account/email/code", dependencies=[Guarded])
async def finish_email_change(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentFullSession
) -> Response:
    form = await CodeForm.from_formdata(request)
    if not await form.validate_on_submit():
        return await _email_code_page(request, db, session, form, status_code=400)
    try:
        await account.finish_email_change(
            db,
            user=session.user,
            code_id=request.session.get(CHANGE_KEY),
            code=form.code.data or "",
            policy=runtime.code_policy,
            notifier=runtime.notifier,
            throttle=runtime.throttle,
            client=client_of(request),
            now=utcnow(),
        )
    except (CodeRejected, Throttled) as exc:
        form.code.errors = [exc.text()]
        return await _email_code_page(
            request, db, session, form, status_code=429 if isinstance(exc, Throttled) else 400
        )
    request.session.pop(CHANGE_KEY, None)
    runtime.mail_wake.set()
    return RedirectResponse("/account/sessions?offer=1", status_code=303)


@router.get("/account/delete")
async def delete_page(request: Request, session: RecentFullSession) -> Response:
    return render(request, "account/delete.html", {})


@router.post("/account/delete", dependencies=[Guarded])
async def delete_account(
    request: Request, db: Db, runtime: CurrentRuntime, session: RecentFullSession
) -> Response:
    await account.delete_account(
        db, user=session.user, notifier=runtime.notifier, client=client_of(request), now=utcnow()
    )
    request.session.clear()
    runtime.mail_wake.set()
    return render(request, "account/deleted.html", {})


@router.get("/account/not-me")
async def not_me_page(request: Request, runtime: CurrentRuntime) -> Response:
    token = request.query_params.get("token", "")
    valid = runtime.notifier.read_not_me_token(token) is not None
    # The token travels in the form from here on; the page itself is not cached.
    return render(
        request,
        "account/not_me.html",
        {"token": token, "valid": valid, "done": False},
        status_code=200 if valid else 400,
    )


@router.post("/account/not-me", dependencies=[Guarded])
async def not_me(request: Request, db: Db, runtime: CurrentRuntime) -> Response:
    """Signs out every session of the account the link names; the link proves the mailbox."""
    form = await read_form(request)
    token = form.get("token")
    used = await notices.use_not_me_link(
        db,
        runtime.notifier,
        token if isinstance(token, str) else "",
        now=utcnow(),
        client=client_of(request),
    )
    if not used:
        return render(
            request,
            "account/not_me.html",
            {"token": "", "valid": False, "done": False},
            status_code=400,
        )
    request.session.clear()
    return render(request, "account/not_me.html", {"token": "", "valid": True, "done": True})
