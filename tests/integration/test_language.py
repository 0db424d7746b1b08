"""One name per language from the menu to the mail: the BCP 47 tag (`pt-BR`, `zh-Hans`) is
what the menu posts, the cookie holds, `<html lang>` says, the account keeps and a mail carries.
And the pseudo-locale, which only a site on this machine shows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import select

from keyfob import i18n
from keyfob.app import create_app
from keyfob.i18n_pseudo import pseudo_text
from keyfob.models import User
from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.conftest import csrf_from
from tests.integration.test_admin_support import member, staff
from tests.integration.test_translations import translate, visible_text
from tests.mailsink import MailSink, html_of
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]

NEW = ("ja", "zh-Hans", "pt-BR", "pl", "he")
NAMES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "ja": "日本語",
    "zh-Hans": "简体中文",
    "pt-BR": "Português (Brasil)",
    "pl": "Polski",
    "he": "עברית",
}


class _MenuButtons(HTMLParser):
    """The language menu's buttons: (value, lang attribute, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.buttons: list[tuple[str, str, str]] = []
        self._in_menu = self._in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and "language-menu" in (values.get("class") or ""):
            self._in_menu = True
        elif tag == "button" and self._in_menu:
            self._in_button = True
            self.buttons.append((values.get("value") or "", values.get("lang") or "", ""))

    def handle_endtag(self, tag: str) -> None:
        self._in_menu = self._in_menu and tag != "form"
        self._in_button = self._in_button and tag != "button"

    def handle_data(self, data: str) -> None:
        if self._in_button:
            value, lang, text = self.buttons[-1]
            self.buttons[-1] = (value, lang, (text + data).strip())


def menu_of(html: str) -> list[tuple[str, str, str]]:
    parser = _MenuButtons()
    parser.feed(html)
    return parser.buttons


def html_tag(language: str) -> str:
    return f'<html lang="{language}" dir="{i18n.direction(language)}">'


async def choose(client: httpx.AsyncClient, lang: str, page: str = "/login") -> httpx.Response:
    token = await csrf_from(client, page)
    return await client.post("/language", data={"csrf_token": token, "lang": lang, "next": page})


async def test_the_menu_names_each_language_in_itself(client: httpx.AsyncClient) -> None:
    for language in ("en", "he"):
        client.cookies.set(i18n.LANG_COOKIE, language)
        buttons = menu_of((await client.get("/register")).text)
        assert [(value, name) for value, _, name in buttons] == list(NAMES.items())
        assert all(value == lang for value, lang, _ in buttons), buttons


@pytest.mark.parametrize("language", NEW)
async def test_choosing_a_new_language_sets_its_tag(
    client: httpx.AsyncClient, language: str
) -> None:
    chosen = await choose(client, language)
    assert chosen.status_code == 303
    assert re.search(rf"(?i)lang={re.escape(language)};.*httponly", chosen.headers["set-cookie"])
    assert client.cookies[i18n.LANG_COOKIE] == language
    page = await client.get("/login")
    assert html_tag(language) in page.text
    assert translate(language, "Sign in with a passkey") in visible_text(page.text)
    assert re.search(rf'value="{language}"[^>]*aria-current="true"', page.text)


async def test_hebrew_reads_right_to_left(client: httpx.AsyncClient) -> None:
    await choose(client, "he")
    assert '<html lang="he" dir="rtl">' in (await client.get("/register")).text


@pytest.mark.parametrize(
    ("cookie", "shown"),
    [("pt_BR", "pt-BR"), ("zh_Hans", "zh-Hans"), ("zh-hans", "zh-Hans"), ("de", "de")],
)
async def test_a_cookie_in_another_spelling_still_works(
    client: httpx.AsyncClient, cookie: str, shown: str
) -> None:
    client.cookies.set(i18n.LANG_COOKIE, cookie)
    assert html_tag(shown) in (await client.get("/register")).text


@pytest.mark.parametrize(
    ("accept_language", "shown"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh-TW,zh-HK;q=0.9,ja;q=0.5", "ja"),
        ("pt-PT,pt;q=0.9", "pt-BR"),
        ("iw", "he"),
        ("pl-PL,pl;q=0.9,en-US;q=0.8", "pl"),
    ],
)
async def test_what_browsers_send_picks_the_page_language(
    client: httpx.AsyncClient, accept_language: str, shown: str
) -> None:
    page = await client.get("/register", headers={"Accept-Language": accept_language})
    assert html_tag(shown) in page.text


async def test_the_account_keeps_the_tag_and_its_mail_follows(
    client: httpx.AsyncClient,
    sign_up,
    add_passkey,
    deliver,
    mail_sink: MailSink,
    runtime: Runtime,
) -> None:
    """A full session's choice is kept as the tag, and a security notice comes in it."""
    email = "paula@example.org"
    await sign_up(email)
    assert (await add_passkey(SoftAuthenticator())).status_code == 200
    await choose(client, "pt-BR", "/account")
    async with runtime.sessionmaker() as db:
        assert await db.scalar(select(User.locale).where(User.email == email)) == "pt-BR"
    await deliver()
    before = len(mail_sink.to(email))
    client.cookies.set(i18n.LANG_COOKIE, "en")  # the notice follows the account, not the page
    assert (await add_passkey(SoftAuthenticator())).status_code == 200
    await deliver()
    notice = mail_sink.wait_for(email, count=before + 1)
    subject = translate("pt-BR", "A passkey was added to your %(site_name)s account")
    assert notice["Subject"] == subject % {"site_name": "Keyfob"}
    assert 'lang="pt-BR" dir="ltr"' in html_of(notice)


@pytest.mark.parametrize("language", ["zh-Hans", "he"])
async def test_the_back_office_says_its_language_too(
    client: httpx.AsyncClient, staff: SoftAuthenticator, language: str
) -> None:
    client.cookies.set(i18n.LANG_COOKIE, language)
    page = await client.get("/admin/user/list")
    assert page.status_code == 200
    assert html_tag(language) in page.text


# The pseudo-locale.

SEND_CODE = pseudo_text("Send code")


async def test_a_local_site_shows_the_pseudo_locale_when_asked_by_name(
    client: httpx.AsyncClient,
) -> None:
    english = await client.get("/register", headers={"Accept-Language": i18n.PSEUDO_LOCALE})
    assert html_tag("en") in english.text  # never from Accept-Language

    asked = await client.get(f"/register?lang={i18n.PSEUDO_LOCALE}")
    assert html_tag(i18n.PSEUDO_LOCALE) in asked.text
    assert SEND_CODE in visible_text(asked.text)
    assert "Send code" not in visible_text(asked.text)
    assert html_tag("en") in (await client.get("/register")).text  # that page alone

    chosen = await choose(client, i18n.PSEUDO_LOCALE, "/register")
    assert client.cookies[i18n.LANG_COOKIE] == i18n.PSEUDO_LOCALE, chosen.headers
    page = await client.get("/register")
    assert html_tag(i18n.PSEUDO_LOCALE) in page.text
    assert SEND_CODE in visible_text(page.text)
    assert i18n.PSEUDO_LOCALE not in [value for value, _, _ in menu_of(page.text)]


async def test_the_pseudo_locale_is_never_kept_on_an_account(
    client: httpx.AsyncClient, sign_up, add_passkey, runtime: Runtime
) -> None:
    await sign_up("pia@example.org")
    assert (await add_passkey(SoftAuthenticator())).status_code == 200
    await choose(client, "pl", "/account")
    await choose(client, i18n.PSEUDO_LOCALE, "/account")
    assert html_tag(i18n.PSEUDO_LOCALE) in (await client.get("/account")).text
    async with runtime.sessionmaker() as db:
        stored = await db.scalar(select(User.locale).where(User.email == "pia@example.org"))
    assert stored == "pl"


async def test_an_account_made_in_the_pseudo_locale_keeps_no_language(
    client: httpx.AsyncClient, sign_up, runtime: Runtime
) -> None:
    await choose(client, i18n.PSEUDO_LOCALE, "/register")
    await sign_up("pedro@example.org")
    async with runtime.sessionmaker() as db:
        stored = await db.scalar(select(User.locale).where(User.email == "pedro@example.org"))
    assert stored is None


@pytest.fixture
async def public_site(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same site under a name that is not this machine's."""
    public = settings.model_copy(update={"site_url": "https://keyfob.test"})
    assert not public.is_local
    app = create_app(public, send_mail=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=public.site_url) as client:
        yield client
    await app.state.runtime.engine.dispose()


async def test_a_public_site_refuses_the_pseudo_locale(public_site: httpx.AsyncClient) -> None:
    public_site.cookies.set(i18n.LANG_COOKIE, i18n.PSEUDO_LOCALE)
    for path in ("/register", f"/register?lang={i18n.PSEUDO_LOCALE}"):
        page = await public_site.get(path, headers={"Accept-Language": "de"})
        assert html_tag("en") in page.text, path
        assert SEND_CODE not in page.text and "Send code" in visible_text(page.text)

    del public_site.cookies[i18n.LANG_COOKIE]
    token = await csrf_from(public_site, "/register")
    refused = await public_site.post(
        "/language", data={"csrf_token": token, "lang": i18n.PSEUDO_LOCALE}
    )
    assert refused.status_code == 303 and "set-cookie" not in refused.headers
