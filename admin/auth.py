"""StaffOnly: the back office signs nobody in; it reads the site's own signed-in session.

Guaranteed for every back-office page and action: the browser holds a live site session (else
it is sent to /login), its account is staff (else 403), and that session's sign-in or latest
re-authentication used a passkey: a session opened or last confirmed by an emailed code is
refused (403) with a way to confirm with a passkey, whatever KEYFOB_CODE_SIGN_IN_IS_RECOVERY
says, since a stolen mailbox alone must not reach the back office. Actions that grant staff,
disable accounts, remove factors or end sessions also need that passkey within the last
KEYFOB_REAUTH_MINUTES: staff are sent to confirm it and come back to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqladmin.authentication import AuthenticationBackend
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyfob.admin import csrf
from keyfob.admin.cookie import AdminCookie, site_session
from keyfob.auth import audit, sessions
from keyfob.i18n import gettext
from keyfob.models import User, utcnow
from keyfob.web.client import resolve_client_ip
from keyfob.web.deps import SESSION_KEY
from keyfob.web.runtime import Runtime

STATE_KEY = "keyfob_staff"


@dataclass(frozen=True)
class Staff:
    """Who is acting in this request; written into every audit event as `by`."""

    user_id: int
    email: str
    sign_in_id: int
    binding: str
    authenticated_at: datetime
    by_passkey: bool


@dataclass(frozen=True)
class SignIn:
    staff: Staff
    is_staff: bool


class Refused(HTTPException):
    """A 403 page; `link` offers the way forward when there is one."""

    def __init__(self, message: str, *, link: tuple[str, str] | None = None) -> None:
        super().__init__(403, message)
        self.link = link


class ConfirmFirst(HTTPException):
    """A sensitive action without a recent passkey: the browser is sent to confirm one."""

    def __init__(self, location: str) -> None:
        super().__init__(303, headers={"Location": location})
        self.location = location


def require_recent_passkey(request: Request, *, within: timedelta, back: str) -> None:
    """Raises ConfirmFirst unless this sign-in was confirmed with a passkey within `within`;
    after confirming, the browser returns to `back` (a back-office page) to act again."""
    staff = current_staff(request)
    if not staff.by_passkey or utcnow() - staff.authenticated_at > within:
        raise ConfirmFirst("/account/confirm?" + urlencode({"next": back}))


def current_staff(request: Request) -> Staff:
    staff = getattr(request.state, STATE_KEY, None)
    if not isinstance(staff, Staff):
        raise Refused(gettext("The back office is for staff only."))
    return staff


def client_ip(request: Request, runtime: Runtime) -> str:
    peer = request.client.host if request.client else ""
    return resolve_client_ip(peer, request.headers.get("x-forwarded-for"), runtime.proxies)


class StaffOnly(AuthenticationBackend):
    def __init__(self, runtime: Runtime, cookie: AdminCookie) -> None:
        super().__init__(secret_key=cookie.secret)
        self.middlewares = cookie.middleware()
        self.runtime = runtime

    async def authenticate(self, request: Request) -> Response | bool:
        found = await self._sign_in(request)
        if found is None:
            return RedirectResponse(_login_url(request), status_code=303)
        if not found.is_staff:
            raise Refused(gettext("The back office is for staff only."))
        if not found.staff.by_passkey:
            raise Refused(
                gettext(
                    "You signed in with an emailed code. To open the back office, confirm "
                    "with one of your passkeys."
                ),
                link=("/account/confirm?next=/admin/", gettext("Confirm with a passkey")),
            )
        csrf.bind(request.session, sign_in=found.staff.binding, method=request.method)
        setattr(request.state, STATE_KEY, found.staff)
        return True

    async def get_user_id(self, request: Request) -> int:
        return current_staff(request).user_id

    async def login(self, request: Request) -> Response | bool:
        return RedirectResponse("/login", status_code=303)

    async def logout(self, request: Request) -> Response | bool:
        """Signs this browser out of the site too: the back office has no session of its own."""
        found = await self._sign_in(request)
        if found is not None:
            csrf.bind(request.session, sign_in=found.staff.binding, method=request.method)
            async with self.runtime.sessionmaker() as db, db.begin():
                await sessions.revoke_session(db, session_id=found.staff.sign_in_id)
                audit.record(
                    db,
                    "sign_out",
                    now=utcnow(),
                    user=await db.get(User, found.staff.user_id),
                    ip=client_ip(request, self.runtime),
                    user_agent=request.headers.get("user-agent", "")[:400],
                )
        site_session(request).clear()
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def _sign_in(self, request: Request) -> SignIn | None:
        token = site_session(request).get(SESSION_KEY)
        if not isinstance(token, str):
            return None
        settings = self.runtime.settings
        async with self.runtime.sessionmaker() as db, db.begin():
            row = await sessions.find_session(
                db,
                token=token,
                now=utcnow(),
                idle=settings.session_idle,
                lifetime=settings.session_lifetime,
            )
            if row is None:
                site_session(request).pop(SESSION_KEY, None)
                return None
            staff = Staff(
                user_id=row.user_id,
                email=row.user.email,
                sign_in_id=row.id,
                # Row ids can be reused after a sign-out; the token's digest cannot.
                binding=row.token_hash[:32],
                authenticated_at=row.authenticated_at,
                by_passkey=row.authenticated_by == "passkey" and not row.is_recovery,
            )
            return SignIn(staff=staff, is_staff=row.user.is_staff)


def _login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": here})
