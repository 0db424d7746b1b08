"""Mail rendering: both parts, the code alone on its line, the reader's language and escaping."""

from __future__ import annotations

import re

import pytest

from keyfob import i18n, paths
from keyfob.mail.messages import MailRenderer
from keyfob.templating import make_environment


@pytest.fixture
def renderer() -> MailRenderer:
    env = make_environment(paths.TEMPLATES)
    return MailRenderer(
        env=env,
        catalogs=i18n.Catalogs(paths.LOCALE),
        site_name="Keyfob",
        site_url="https://keyfob.example",
    )


@pytest.mark.parametrize("template", ["code_sign_up", "code_sign_in"])
def test_code_mail_has_both_parts_with_the_code(renderer: MailRenderer, template: str) -> None:
    message = renderer.render(
        template, to="ann@example.org", locale="en", code="012345", minutes=10
    )
    assert re.search(r"^012345$", message.text, re.MULTILINE)
    assert "012345" in message.html
    assert "012345" not in message.subject, (
        "a subject shows on lock screens and stays in the outbox"
    )
    assert "\n" not in message.subject
    assert "https://keyfob.example" in message.text and "https://keyfob.example" in message.html
    assert "10 minutes" in message.text
    assert message.html.lstrip().startswith("<!doctype html>")


def test_sign_up_and_sign_in_mails_differ_in_wording(renderer: MailRenderer) -> None:
    up = renderer.render("code_sign_up", to="a@example.org", locale="en", code="1", minutes=10)
    back = renderer.render("code_sign_in", to="a@example.org", locale="en", code="1", minutes=10)
    assert "create your account" in up.text
    assert "get back into your account" in back.text


def test_html_part_escapes_what_it_is_given(renderer: MailRenderer) -> None:
    message = renderer.render(
        "code_sign_up", to="a@example.org", locale="en", code="<b>x</b>", minutes=10
    )
    assert "<b>x</b>" not in message.html
    assert "&lt;b&gt;x&lt;/b&gt;" in message.html


def test_arabic_mail_is_right_to_left(renderer: MailRenderer) -> None:
    message = renderer.render(
        "code_sign_up", to="a@example.org", locale="ar", code="123456", minutes=10
    )
    assert 'dir="rtl"' in message.html and 'lang="ar"' in message.html
