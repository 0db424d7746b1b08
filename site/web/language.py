"""The language menu: a plain form that sets the `lang` cookie and goes back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from keyfob.i18n import LANG_COOKIE, LOCALES, PSEUDO_LOCALE
from keyfob.web.bodies import read_form
from keyfob.web.deps import CurrentSettings, Guarded, OptionalSession, get_runtime

router = APIRouter()
ONE_YEAR = 365 * 24 * 3600


@router.post("/language", dependencies=[Guarded])
async def choose_language(
    request: Request, settings: CurrentSettings, session: OptionalSession
) -> Response:
    """Sets the cookie to the chosen language's BCP 47 tag; a signed-in person's choice is also
    kept on the account, for mail, but only from a full session: a recovery session (the
    mailbox alone) must not choose the language of the security notices the owner will be sent.

    A site on this machine also takes the pseudo-locale, for a developer's whole session; it is
    never kept on an account."""
    form = await read_form(request)
    lang = form.get("lang")
    back = form.get("next")
    target = back if isinstance(back, str) and back.startswith("/") and "//" not in back else "/"
    response = RedirectResponse(target, status_code=303)
    pseudo = lang == PSEUDO_LOCALE and get_runtime(request).catalogs.pseudo
    if isinstance(lang, str) and (lang in LOCALES or pseudo):
        if session is not None and not session.is_recovery and lang in LOCALES:
            session.user.locale = lang
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=ONE_YEAR,
            httponly=True,
            samesite="lax",
            secure=settings.https,
        )
    return response
