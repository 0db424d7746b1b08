"""The pseudo-locale `en-XA`: every string of messages.pot, accented and 40 % longer.

"[Šîĝñ îñ ŵîţĥ å þåššķéý ·········]" is still readable English, so a developer can click
through the site in it; a string shown plain was never marked for translation, and a label
whose closing "]" is missing was clipped by the layout, which German and Polish would also hit.
Placeholders (`%(name)s`, `%%`, `{name}`), HTML tags and entities are kept as they are, so
every page and mail renders exactly as in a real language. Built in memory at start, for a
site on this machine only (see keyfob.i18n.Catalogs); nothing is written under locale/.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

GROWTH = 1.4
"""Translations run up to 40 % longer than English (German, Polish, Finnish): so do these."""
PADDING = "·"
_ACCENTED = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "åƀçðéƒĝĥîĵķļɱñöþǫŕšţûṽŵẋýžÅƁÇÐÉƑĜĤÎĴĶĻṀÑÖÞǪŔŠŢÛṼŴẊÝŽ",
)
# What must reach the page untouched: printf and str.format placeholders, tags, entities.
_KEEP = re.compile(
    r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
    r"|\{[^{}]*\}"
    r"|<[^>]*>"
    r"|&(?:#\d+|#x[0-9a-fA-F]+|\w+);"
)


def pseudo_text(text: str) -> str:
    """`text` accented, in brackets, padded to 40 % more visible characters than it had."""
    if not text.strip():
        return text
    pieces: list[str] = []
    visible = 0
    start = 0
    for kept in _KEEP.finditer(text):
        prose = text[start : kept.start()]
        pieces += [prose.translate(_ACCENTED), kept.group()]
        visible += len(prose)
        start = kept.end()
    pieces.append(text[start:].translate(_ACCENTED))
    visible += len(text) - start
    # "[" and "]" count towards the growth; the padding brings the rest.
    padding = max(0, math.ceil(visible * GROWTH) - visible - 3)
    tail = f" {PADDING * padding}" if padding else ""
    return f"[{''.join(pieces)}{tail}]"


def pseudo_translations(pot: Path) -> Translations:
    """Translations of every message of `pot` (the template catalog) into the pseudo-locale.
    English plural rules: a form for one, a form for the rest."""
    with pot.open("rb") as fp:
        template = read_po(fp)
    catalog = Catalog(locale="en", project="Keyfob", fuzzy=False)
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, str):
            string: str | tuple[str, ...] = pseudo_text(message.id)
        else:
            string = tuple(pseudo_text(form) for form in message.id)
        catalog.add(message.id, string, context=message.context)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)
