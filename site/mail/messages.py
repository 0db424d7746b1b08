"""Builds a mail's subject, text and HTML from `templates/mail/<name>_*` in one language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment

from keyfob import i18n


@dataclass(frozen=True)
class Message:
    to: str
    kind: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class MailRenderer:
    """Everything a flow needs to write a mail, handed in rather than imported."""

    env: Environment
    catalogs: i18n.Catalogs
    site_name: str
    site_url: str

    def render(self, template: str, /, *, to: str, locale: str, **context: Any) -> Message:
        values = {"site_name": self.site_name, "site_url": self.site_url, **context}
        with i18n.activate(locale, self.catalogs):
            subject = self.env.get_template(f"mail/{template}_subject.txt").render(values)
            text = self.env.get_template(f"mail/{template}.txt").render(values)
            html = self.env.get_template(f"mail/{template}.html").render(
                values, lang=locale, dir=i18n.direction(locale)
            )
        return Message(
            to=to, kind=template, subject=" ".join(subject.split()), text=text, html=html
        )
