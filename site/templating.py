"""The one Jinja2 environment, shared by pages and mail, translated through keyfob.i18n."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from babel.dates import format_datetime
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    select_autoescape,
)

from keyfob import i18n


def make_environment(templates: Path | Sequence[Path]) -> Environment:
    """`templates`: folders searched in order, Keyfob's own last. Keyfob's templates are also
    reachable as "keyfob/<name>", so an owner's override can extend the page it replaces."""
    folders = [templates] if isinstance(templates, Path) else list(templates)
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(folders),
                PrefixLoader({"keyfob": FileSystemLoader(folders[-1])}),
            ]
        ),
        autoescape=select_autoescape(["html", "xml"], default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.translate, i18n.translate_plural, newstyle=True
    )
    env.policies["ext.i18n.trimmed"] = True
    env.filters["datetime"] = _format_datetime
    return env


def _format_datetime(value: datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=format, locale=i18n.babel_locale(i18n.current_locale()))
