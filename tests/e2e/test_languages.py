"""Every language of the contract in a real Chromium (issues 6 and 18).

For each of the first five locales the language is chosen with the footer's language menu
(which sets the `lang` cookie and comes back to the page). A sign-up then goes through in it,
driven by form fields rather than English labels: /register, the mailed code (its subject
translated), /code, the page asking for a passkey. Separately, /account/passkeys with a passkey
listed, after choosing the language on that page. Then all ten languages in one browser
context, switching the cookie: /register and /login signed out, /account signed in. Every page
must say which language it is in (`<html lang>` with the BCP 47 tag, and `dir="rtl"` for
Arabic and Hebrew), show none of a few English labels, and not overflow sideways.

Full-page screenshots: tests/artifacts/screenshots/lang-<code>-<page>.png.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from keyfob import i18n
from keyfob.web.rendering import LANGUAGE_NAMES
from tests.e2e.conftest import SCREENSHOTS

if TYPE_CHECKING:
    from tests.e2e.conftest import Tab

pytestmark = pytest.mark.e2e

LANGUAGES = ["en", "de", "fr", "es", "ar"]
RTL = {"ar", "he"}
# English labels that a translated page must not show; the first is on the page in English.
ENGLISH = {
    "register": ["Send code", "Create an account", "Already have an account?"],
    "login": ["Sign in with a passkey", "Lost your passkey?", "Email me a code", "New here?"],
    "account": ["Your account", "Signed-in devices", "Change email address", "Delete account"],
    "code": ["Check your email", "Verify"],
    "passkeys": ["Add a passkey", "Your passkeys", "Rename", "Back to your account"],
}
ENGLISH_SUBJECT = "Confirm your email address for Keyfob"


def save(tab: Tab, lang: str, page_name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=SCREENSHOTS / f"lang-{lang}-{page_name}.png", full_page=True)


def shown_text(tab: Tab) -> str:
    """What the page shows: its text, and the words on buttons and in fields."""
    text: str = tab.page.evaluate(
        """() => [
            document.body.innerText,
            ...[...document.querySelectorAll("input[type=submit], input[type=button]")]
                .map((e) => e.value),
            ...[...document.querySelectorAll("[placeholder]")].map((e) => e.placeholder),
            ...[...document.querySelectorAll("[aria-label]")]
                .map((e) => e.getAttribute("aria-label")),
            document.title,
        ].join("\\n")"""
    )
    return text


def expect_language(tab: Tab, lang: str, page_name: str) -> None:
    """The document says it is in `lang`, in the right direction, with no English labels."""
    page = tab.page
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", "rtl" if lang in RTL else "ltr")
    assert page.evaluate("() => getComputedStyle(document.body).direction") == (
        "rtl" if lang in RTL else "ltr"
    )
    expect(page.locator(f'.language-menu button[value="{lang}"]')).to_have_attribute(
        "aria-current", "true"
    )
    text = shown_text(tab)
    english = [label for label in ENGLISH[page_name] if label in text]
    if lang == "en":
        assert ENGLISH[page_name][0] in english, text
    else:
        assert english == [], f"English on the {lang} {page_name} page: {english}"


def no_horizontal_overflow(tab: Tab) -> None:
    """Nothing sticks out sideways (a scrollbar along the bottom, text cut off at the edge)."""
    width = tab.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], f"page is {width[0]}px wide in a {width[1]}px window"


def choose_language(tab: Tab, lang: str, path: str) -> None:
    """Presses the language's button in the footer's menu on `path`; the site sets the `lang`
    cookie and sends the browser back to `path`."""
    page = tab.page
    with page.expect_navigation():
        page.locator(f'.language-menu button[value="{lang}"]').click()
    tab.arrive(path)
    cookies = {c["name"]: c["value"] for c in tab.context.cookies()}
    assert cookies.get("lang") == lang, cookies


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sign_up_in_each_language(tab: Tab, fresh_email: str, lang: str) -> None:
    """/register, the mail, /code and the page asking for a passkey, all in `lang`."""
    page = tab.page
    tab.goto("/register")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the browser asks for en-US
    choose_language(tab, lang, "/register")
    expect_language(tab, lang, "register")
    no_horizontal_overflow(tab)
    form = page.locator('form[action="/register"]')
    email = form.locator('input[name="email"]')
    expect(email).to_be_visible()
    expect(page.locator(f'label[for="{email.get_attribute("id")}"]')).not_to_have_text("")
    email.fill(fresh_email)
    save(tab, lang, "register")

    with page.expect_navigation() as navigation:
        form.locator('[type="submit"]').click()
    tab.arrive("/code")
    mail = tab.site.mail.wait_for(fresh_email, timeout=10.0)
    subject = str(mail["Subject"])
    if lang == "en":
        assert subject == ENGLISH_SUBJECT, subject
    else:
        assert subject != ENGLISH_SUBJECT, f"the {lang} sign-up mail is in English: {subject}"
    code_page = navigation.value
    assert code_page is not None
    assert code_page.status == 200, f"/code in {lang}: HTTP {code_page.status}"
    expect_language(tab, lang, "code")
    no_horizontal_overflow(tab)
    save(tab, lang, "code")
    code_form = page.locator('form[action="/code"]')
    code_form.locator('input[name="code"]').fill(tab.site.code_for(fresh_email, count=1))
    with page.expect_navigation():
        code_form.locator('[type="submit"]').click()
    tab.arrive("/account/passkeys?new=1")
    expect_language(tab, lang, "passkeys")
    assert tab.console_errors == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_passkeys_page_in_each_language(tab: Tab, fresh_email: str, lang: str) -> None:
    """/account/passkeys with a passkey listed (name, provider, dates, Rename, Delete), after
    choosing `lang` in the menu of that page; and adding a passkey works in `lang`."""
    page = tab.page
    tab.sign_up(fresh_email)
    choose_language(tab, lang, "/account/passkeys")
    add = page.locator("[data-passkey-register-button]")
    expect(add).to_be_visible()
    with page.expect_navigation():
        add.click()
    tab.arrive("/account/passkeys")
    expect(page.locator("li.passkey")).to_have_count(1)
    expect(page.locator("[data-passkey-error]")).to_be_hidden()
    expect_language(tab, lang, "passkeys")
    no_horizontal_overflow(tab)
    save(tab, lang, "passkeys")
    assert tab.console_errors == []


def show_in(tab: Tab, lang: str, path: str, page_name: str) -> None:
    """`path` with the `lang` cookie set to `lang`, as the menu would have left it."""
    tab.context.add_cookies([{"name": "lang", "value": lang, "url": tab.site.url}])
    tab.goto(path)
    tab.arrive(path)
    expect_language(tab, lang, page_name)
    no_horizontal_overflow(tab)
    save(tab, lang, page_name)


def test_register_login_and_account_in_all_ten_languages(tab: Tab, fresh_email: str) -> None:
    """One browser, the cookie switched from language to language: signed out, then in."""
    assert len(i18n.LOCALES) == 10
    for lang in i18n.LOCALES:
        show_in(tab, lang, "/register", "register")
        show_in(tab, lang, "/login", "login")
    menu = tab.page.locator(".language-menu button")
    expect(menu).to_have_count(len(i18n.LOCALES))
    for lang in i18n.LOCALES:
        button = tab.page.locator(f'.language-menu button[value="{lang}"]')
        expect(button).to_have_attribute("lang", lang)
        expect(button).to_have_text(LANGUAGE_NAMES[lang])

    tab.context.add_cookies([{"name": "lang", "value": "en", "url": tab.site.url}])
    tab.sign_up(fresh_email)
    for lang in i18n.LOCALES:
        show_in(tab, lang, "/account", "account")
        expect(tab.page.locator("strong[data-email]")).to_have_text(fresh_email)
    assert tab.console_errors == []
