"""Pages and mail in every language: the right language is chosen, Arabic reads right to left,
and no English source string that has a translation is left on a page or in a mail."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from functools import cache
from html.parser import HTMLParser

import httpx
import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from keyfob import i18n, paths
from keyfob.mail.messages import MailRenderer
from keyfob.models import Passkey, User, utcnow
from keyfob.templating import make_environment
from keyfob.web.runtime import Runtime
from tests.conftest import csrf_from
from tests.mailsink import MailSink, html_of, text_of

LANGUAGES = tuple(code for code in i18n.LOCALES if code != i18n.DEFAULT_LOCALE)
JOURNEY = (
    "/register",
    "/login",
    "/code",
    "/account/passkeys?new=1",
    "/account",
    "/account/passkeys",
)
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")
APPLE = bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd")


@cache
def catalog(language: str) -> dict[str, tuple[str, ...]]:
    """msgid -> its translated forms, from the .po file the site compiles at start."""
    with (paths.LOCALE / i18n.folder(language) / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        po = read_po(fp, locale=i18n.folder(language))
    table: dict[str, tuple[str, ...]] = {}
    for message in po:
        if message.id:
            ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
            forms = (message.string,) if isinstance(message.string, str) else message.string
            for msgid in ids:
                table[msgid] = tuple(forms)
    return table


def translate(language: str, msgid: str) -> str:
    return catalog(language)[msgid][0]


@cache
def english_fragments(language: str) -> tuple[str, ...]:
    """The English text a reader of `language` must never see: the literal parts of every
    msgid whose translation differs from it ("Passkey" is German too). Left out: fragments
    too short to tell apart from names, single words cut out between placeholders ("account"
    of "your %(site_name)s account"), and any fragment a translation itself contains."""
    fragments: set[str] = set()
    for msgid, forms in catalog(language).items():
        if msgid in forms:
            continue
        parts = PLACEHOLDER.split(re.sub(r"<[^>]+>", " ", msgid))
        for part in parts:
            part = " ".join(part.split()).strip(" .,:;!?\"'")
            if len(parts) > 1 and " " not in part:
                continue
            if len(part) >= 4 and not any(part in form for form in forms):
                fragments.add(part)
    return tuple(sorted(fragments))


class _VisibleText(HTMLParser):
    ATTRIBUTES = frozenset({"placeholder", "aria-label", "title", "alt"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        values = dict(attrs)
        self.parts.extend(v for k, v in attrs if k in self.ATTRIBUTES and v)
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_left_in(text: str, language: str) -> list[str]:
    text = re.sub(r"https?://\S+", " ", text)  # addresses are not prose
    return [
        fragment
        for fragment in english_fragments(language)
        if re.search(rf"(?<!\w){re.escape(fragment)}(?!\w)", text)
    ]


async def test_german_accept_language_gets_german(client: httpx.AsyncClient) -> None:
    page = await client.get("/register", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
    assert '<html lang="de" dir="ltr">' in page.text
    assert translate("de", "Send code") in visible_text(page.text)
    assert english_left_in(visible_text(page.text), "de") == []


async def test_english_is_the_default(client: httpx.AsyncClient) -> None:
    """Korean, Swedish and traditional Chinese are not offered (simplified is no substitute)."""
    page = await client.get(
        "/register", headers={"Accept-Language": "ko-KR, sv;q=0.5, zh-TW;q=0.3"}
    )
    assert '<html lang="en" dir="ltr">' in page.text
    assert "Send code" in visible_text(page.text)


async def test_lang_cookie_beats_accept_language(client: httpx.AsyncClient) -> None:
    client.cookies.set(i18n.LANG_COOKIE, "fr")
    page = await client.get("/register", headers={"Accept-Language": "de"})
    assert '<html lang="fr" dir="ltr">' in page.text
    assert translate("fr", "Send code") in visible_text(page.text)
    assert translate("de", "Send code") not in page.text


@pytest.mark.parametrize("path", ["/register", "/login"])
async def test_arabic_pages_read_right_to_left(client: httpx.AsyncClient, path: str) -> None:
    client.cookies.set(i18n.LANG_COOKIE, "ar")
    page = await client.get(path)
    assert '<html lang="ar" dir="rtl">' in page.text
    assert english_left_in(visible_text(page.text), "ar") == []


async def test_language_menu_sets_the_cookie_and_goes_back(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/login")
    chosen = await client.post(
        "/language", data={"csrf_token": token, "lang": "es", "next": "/login"}
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/login"
    assert re.search(r"(?i)lang=es;.*httponly", chosen.headers["set-cookie"])
    page = await client.get("/login")
    assert '<html lang="es" dir="ltr">' in page.text
    assert translate("es", "Sign in with a passkey") in visible_text(page.text)


async def test_language_menu_ignores_an_unknown_language(client: httpx.AsyncClient) -> None:
    token = await csrf_from(client, "/login")
    chosen = await client.post("/language", data={"csrf_token": token, "lang": "xx"})
    assert chosen.status_code == 303 and "set-cookie" not in chosen.headers


async def test_language_menu_offers_every_language(client: httpx.AsyncClient) -> None:
    page = await client.get("/register")
    for code in i18n.LOCALES:
        assert f'value="{code}"' in page.text


async def give_passkeys(runtime: Runtime, email: str) -> None:
    """Two passkeys, so the list shows both kinds of every label: a synced one from a known
    provider that was used, and an unknown device-bound one that never was."""
    async with runtime.sessionmaker() as db, db.begin():
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None
        for aaguid, synced, used in ((APPLE, True, utcnow()), (bytes(16), False, None)):
            db.add(
                Passkey(
                    user_id=user.id,
                    credential_id=os.urandom(16),
                    public_key=b"unused",
                    aaguid=str(uuid.UUID(bytes=aaguid)),
                    name="Apple Passwords" if synced else "YubiKey 5",
                    backup_eligible=synced,
                    backed_up=synced,
                    last_used_at=used,
                )
            )


@pytest.mark.parametrize("language", LANGUAGES)
async def test_core_journey_pages_have_no_english_left(
    client: httpx.AsyncClient,
    request_code,
    runtime: Runtime,
    mail_sink: MailSink,
    language: str,
) -> None:
    client.cookies.set(i18n.LANG_COOKIE, language)
    email = f"reader-{language.lower()}@example.org"
    pages: dict[str, str] = {}
    for path in ("/register", "/login"):
        pages[path] = (await client.get(path)).text
    code = await request_code(email)
    pages["/code"] = (await client.get("/code")).text
    token = await csrf_from(client, "/code")
    wrong = await client.post("/code", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 400
    pages["/code (wrong code)"] = wrong.text
    signed_up = await client.post("/code", data={"code": code, "csrf_token": token})
    assert signed_up.status_code == 303, signed_up.text
    for path in ("/account/passkeys?new=1", "/account"):
        pages[path] = (await client.get(path)).text
    await give_passkeys(runtime, email)
    pages["/account/passkeys"] = (await client.get("/account/passkeys")).text

    assert set(JOURNEY) <= set(pages)
    for path, html in pages.items():
        assert f'<html lang="{language}" dir="{i18n.direction(language)}">' in html, path
        assert english_left_in(visible_text(html), language) == [], path

    mail = mail_sink.to(email)[0]  # the code mail; later notices stay in the outbox
    for part in (str(mail["Subject"]), text_of(mail), visible_text(html_of(mail))):
        assert english_left_in(part, language) == [], part


async def test_the_check_is_not_vacuous_in_english(client: httpx.AsyncClient, request_code) -> None:
    """The same journey in English does show the English strings the test looks for."""
    register = visible_text((await client.get("/register")).text)
    await request_code("en@example.org")
    code_page = visible_text((await client.get("/code")).text)
    for language in LANGUAGES:
        assert len(english_left_in(register, language)) >= 5
        assert len(english_left_in(code_page, language)) >= 4


async def test_sign_up_with_german_accept_language_mails_in_german(
    client: httpx.AsyncClient, deliver, mail_sink: MailSink
) -> None:
    client.headers["Accept-Language"] = "de"
    token = await csrf_from(client, "/register")
    sent = await client.post("/register", data={"email": "dora@example.org", "csrf_token": token})
    assert sent.status_code == 303
    await deliver()
    mail = mail_sink.wait_for("dora@example.org")
    subject = translate("de", "Confirm your email address for %(site_name)s")
    assert mail["Subject"] == subject % {"site_name": "Keyfob"}
    plural = catalog("de")["The code works for %(count)s minutes and only once."][1]
    assert plural % {"count": 10} in text_of(mail)
    assert 'lang="de"' in html_of(mail)


def _mail_names() -> list[tuple[str, str | None]]:
    """Every mail under templates/mail, and each kind a mail template switches on."""
    cases: list[tuple[str, str | None]] = []
    for subject in sorted((paths.TEMPLATES / "mail").glob("*_subject.txt")):
        name = subject.name.removesuffix("_subject.txt")
        source = "".join(p.read_text() for p in subject.parent.glob(f"*{name}*"))
        kinds = sorted(set(re.findall(r'kind == "(\w+)"', source)))
        cases.extend((name, kind) for kind in kinds or [None])
    return cases


@pytest.fixture(scope="module")
def renderer() -> MailRenderer:
    return MailRenderer(
        env=make_environment(paths.TEMPLATES),
        catalogs=i18n.Catalogs(paths.LOCALE),
        site_name="Keyfob",
        site_url="https://keyfob.example",
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("name", "kind"), _mail_names())
def test_every_mail_has_no_english_left(
    renderer: MailRenderer, name: str, kind: str | None, language: str
) -> None:
    context = {
        "code": "123456",
        "minutes": 10,
        "kind": kind,
        "when": datetime(2026, 3, 14, 15, 9, tzinfo=UTC),
        "name": "Work laptop",
        "email": "ann@example.org",
        "old_email": "ann@example.org",
        "new_email": "ann@example.net",
        "not_me_url": "https://keyfob.example/account/not-me?token=t",
    }
    english = renderer.render(name, to="ann@example.org", locale="en", **context)
    message = renderer.render(name, to="ann@example.org", locale=language, **context)
    assert message.subject and message.subject != english.subject
    assert message.text != english.text
    for part in (message.subject, message.text, visible_text(message.html)):
        assert english_left_in(part, language) == [], part
    assert f'lang="{language}" dir="{i18n.direction(language)}"' in message.html


def test_fragments_leave_out_strings_that_read_the_same() -> None:
    assert "Passkey" not in english_fragments("de")
    assert "Code" not in english_fragments("de")
    assert "Sign in" in english_fragments("de")
    assert "Last used" in english_fragments("fr")
