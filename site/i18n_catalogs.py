"""The translators' workflow over locale/ with Babel's API: extract, update, compile, check, stats.

Every step is repeatable: running it again on unchanged code and catalogs writes nothing, so a
diff in locale/ always means a string or a translation changed. `check` is what CI runs; it
names the file and line of every problem so a translator can go straight to it.
"""

from __future__ import annotations

import argparse
import contextlib
import gettext
import io
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import PoFileError, read_po, write_po
from babel.util import pathmatch
from pydantic_settings import BaseSettings, SettingsConfigDict

from keyfob import __version__, i18n, paths

POT_HEADER = (
    "# Keyfob's user-interface strings, extracted by `keyfob i18n extract`.\n"
    "# Do not edit: change the code, then extract again (see TRANSLATING.md)."
)
PO_HEADER = (
    "# {language} translation of Keyfob's user interface.\n"
    "# Edit the msgstr lines, then run `keyfob i18n check` (see TRANSLATING.md)."
)
WIDTH = 76
_DIRECTIVE = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<type>[diouxXeEfFgGcrsa%])"
)
_TEMPLATE_SUFFIXES = (".html", ".txt")


@dataclass(frozen=True)
class Project:
    """Where the code, locale/ and its babel.cfg are, and which languages are translated.

    `sources` maps each top folder named by babel.cfg's patterns to where its files really
    are, so an installed package (keyfob/, keyfob/admin/, keyfob/templates/) is read as if it
    were the checkout it came from. Unset: where this layout keeps them for Keyfob's own root,
    else the folders of those names under `root`."""

    root: Path = paths.ROOT
    languages: tuple[str, ...] = tuple(
        i18n.folder(tag) for tag in i18n.LOCALES if tag != i18n.DEFAULT_LOCALE
    )
    """Catalog folders under locale/, in gettext's form (`pt_BR` for the site's `pt-BR`)."""
    sources: Mapping[str, Path] | None = None
    locale: Path | None = None
    """Where messages.pot, babel.cfg and the catalogs are; unset: `root`/locale."""

    @property
    def locale_dir(self) -> Path:
        return self.locale if self.locale is not None else self.root / "locale"

    @property
    def pot(self) -> Path:
        return self.locale_dir / "messages.pot"

    @property
    def babel_cfg(self) -> Path:
        return self.locale_dir / "babel.cfg"

    def po(self, language: str) -> Path:
        return self.locale_dir / language / "LC_MESSAGES" / "messages.po"

    @classmethod
    def of_site_package(cls, folder: Path) -> Project:
        """A site owner's package (keyfob.extend): its locale/ beside its code, babel.cfg's
        patterns starting with the package's folder name ("notes/**.py"), and the languages
        it has a catalog folder for."""
        locale = folder / "locale"
        languages = tuple(sorted(p.parent.name for p in locale.glob("*/LC_MESSAGES") if p.is_dir()))
        return cls(
            root=folder.parent,
            languages=languages,
            sources={folder.name: folder},
            locale=locale,
        )

    def source(self, top: str) -> Path:
        if self.sources is not None:
            return self.sources[top]
        if self.root == paths.ROOT and top in paths.SOURCES:
            return paths.SOURCES[top]
        return self.root / top


@dataclass(frozen=True, order=True)
class Problem:
    path: Path
    line: int
    text: str = field(compare=False)

    def __str__(self) -> str:
        return f"{_show(self.path)}:{self.line}: {self.text}"


def extract(project: Project) -> Catalog:
    """The messages the code uses now, read with babel.cfg, without touching any file."""
    with project.babel_cfg.open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp, str(fp.name))  # type: ignore[no-untyped-call]
    catalog = Catalog(project="Keyfob", version=__version__, header_comment=POT_HEADER)
    for real, logical in _source_files(project, method_map):
        for pattern, method in method_map:
            if pathmatch(pattern, logical):
                options = options_map[pattern]
                for lineno, message, comments, context in extract_from_file(
                    method,
                    str(real),
                    keywords={**DEFAULT_KEYWORDS, **options.get("keywords", {})},
                    comment_tags=tuple(options.get("add_comments", ())),
                    options=options,
                ):
                    catalog.add(
                        message, None, [(logical, lineno)], auto_comments=comments, context=context
                    )
                break
    for entry in catalog:
        entry.locations = sorted(set(entry.locations))
    return catalog


def _source_files(
    project: Project, method_map: list[tuple[str, str]]
) -> Iterator[tuple[Path, str]]:
    """Each file under the folders babel.cfg names, with its path as babel.cfg sees it. A
    folder that is itself another top (keyfob/admin inside keyfob/) is read only as that top;
    hidden folders and __pycache__ are skipped. Babel's own walk would also skip "_" folders,
    which would lose templates/_partials."""
    tops = sorted({pattern.split("/", 1)[0] for pattern, _ in method_map})
    folders = {project.source(top).resolve(): top for top in tops}
    for top in tops:
        start = project.source(top).resolve()
        for folder, subfolders, files in os.walk(start):
            subfolders[:] = sorted(
                name
                for name in subfolders
                if not name.startswith(".")
                and name != "__pycache__"
                and (Path(folder) / name).resolve() not in folders
            )
            for name in sorted(files):
                real = Path(folder) / name
                yield real, Path(top, real.relative_to(start)).as_posix()


def write_template(project: Project) -> bool:
    """Writes locale/messages.pot; its creation date only moves when its messages do."""
    catalog = extract(project)
    if project.pot.exists():
        catalog.creation_date = _read(project.pot).creation_date
        if _without_generator(_render(catalog)) == _without_generator(project.pot.read_bytes()):
            return False
    catalog.creation_date = datetime.now(UTC)
    return _write(project.pot, _render(catalog))


def update(project: Project, *, drop_obsolete: bool = False) -> dict[str, bool]:
    """Merges the template into each language's catalog, creating missing ones. New or changed
    strings come out empty or fuzzy for a translator; translator comments are kept."""
    if not project.pot.exists():
        raise ValueError(f"{_show(project.pot)} is missing: run `keyfob i18n extract` first")
    template = _read(project.pot)
    changed: dict[str, bool] = {}
    for language in project.languages:
        path = project.po(language)
        if path.exists():
            catalog = _read(path, language)
            catalog.update(template, update_header_comment=False, update_creation_date=True)
            _follow_plural_rules(catalog, language)
        else:
            catalog = _read(project.pot)  # read as the template: its empty plurals have two forms
            catalog.locale = Locale.parse(language)
            catalog.header_comment = PO_HEADER.format(language=catalog.locale.english_name)
            catalog.language_team = f"{catalog.locale.english_name} <LL@li.org>"
            catalog.revision_date = datetime.now(UTC)
            catalog.fuzzy = False
        if drop_obsolete:
            catalog.obsolete.clear()
        changed[language] = _write(path, _render(catalog))
    return changed


def _follow_plural_rules(catalog: Catalog, language: str) -> None:
    """Brings the Plural-Forms header to the plural rules of the installed CLDR data (Babel's),
    moving each plural entry's forms to their new places: a form goes where the same numbers now
    land. A new category (a count that grew) starts from the nearest old form and is marked fuzzy
    for a translator, since its grammar may differ ("1 000 000 de secondes")."""
    nplurals, expression = get_plural(language)
    old_count, old_expression = catalog.num_plurals, catalog.plural_expr
    if (old_count, old_expression) == (nplurals, expression):
        return
    catalog._num_plurals, catalog._plural_expr = nplurals, expression
    moves = _plural_moves(old_expression, expression, nplurals)
    for message in _messages(catalog):
        forms = _texts(message.string)
        if message.pluralizable and len(forms) == old_count:
            message.string = tuple(forms[index] for index in moves)
            if nplurals != old_count:
                message.flags.add("fuzzy")


def _plural_moves(old: str, new: str, nplurals: int) -> list[int]:
    """For each form of the new rule, the old form most of its numbers used."""
    old_rule, new_rule = gettext.c2py(old), gettext.c2py(new)
    samples = [*range(1001), *(k * 1_000_000 for k in range(1, 4))]
    votes: list[Counter[int]] = [Counter() for _ in range(nplurals)]
    for n in samples:
        votes[new_rule(n)][old_rule(n)] += 1
    return [count.most_common(1)[0][0] if count else 0 for count in votes]


def compile_catalogs(project: Project) -> dict[str, bool]:
    """Writes messages.mo next to each messages.po for tools that want them (the site itself
    compiles the .po files in memory at start, see keyfob.i18n.Catalogs)."""
    changed: dict[str, bool] = {}
    for language in project.languages:
        if not project.po(language).exists():
            raise ValueError(f"{_show(project.po(language))} is missing: run `keyfob i18n update`")
        buffer = io.BytesIO()
        write_mo(buffer, _read(project.po(language), language), use_fuzzy=False)
        changed[language] = _write(project.po(language).with_suffix(".mo"), buffer.getvalue())
    return changed


def check(project: Project) -> list[Problem]:
    """Everything that would show English, wrong text or an error to someone, file and line."""
    code = extract(project)
    if project.pot.exists():
        template = _read(project.pot)
        problems = list(_compare_template(project, template, code))
    else:
        template = code
        problems = [Problem(project.pot, 1, "missing: run `keyfob i18n extract`")]
    for language in project.languages:
        problems.extend(_check_catalog(project.po(language), language, template))
    return sorted(problems)


def _compare_template(project: Project, template: Catalog, code: Catalog) -> Iterator[Problem]:
    fix = "messages.pot is out of date: run `keyfob i18n extract`"
    in_template, in_code = _keys(template), _keys(code)
    for message in _messages(code):
        if _key(message) not in in_template:
            where, line = message.locations[0]
            yield Problem(project.root / where, line or 1, f"{fix}: new {_quote(message)}")
    for message in _messages(template):
        if _key(message) not in in_code:
            yield Problem(project.pot, message.lineno or 1, f"{fix}: {_quote(message)} is gone")


def _check_catalog(path: Path, language: str, template: Catalog) -> Iterator[Problem]:
    if not path.exists():
        yield Problem(path, 1, "missing: run `keyfob i18n update`")
        return
    nplurals = get_plural(language).num_plurals
    yield from _count_plural_forms(path, nplurals)
    catalog, warnings = _read_leniently(path, language)
    yield from warnings
    text = path.read_text(encoding="utf-8").splitlines()
    header_line = next((n for n, line in enumerate(text, 1) if line == 'msgid ""'), 1)
    if catalog.num_plurals != nplurals:
        yield Problem(
            path, header_line, f"Plural-Forms has nplurals={catalog.num_plurals}, needs {nplurals}"
        )
    if catalog.fuzzy:
        yield Problem(path, header_line, "the header is marked fuzzy: remove '#, fuzzy'")
    expected = _keys(template)
    for message in _messages(catalog):
        line, what = message.lineno or 1, _quote(message)
        if _key(message) not in expected:
            yield Problem(path, line, f"not in messages.pot: {what} (run `keyfob i18n update`)")
        if message.fuzzy:
            yield Problem(path, line, f"fuzzy: {what} (check the translation, remove the flag)")
        if not all(_texts(message.string)):
            yield Problem(path, line, f"untranslated: {what}")
        elif problem := _format_problem(message):
            yield Problem(path, line, f"{problem}: {what}")
    translated = _keys(catalog)
    for message in _messages(template):
        if _key(message) not in translated:
            yield Problem(path, 1, f"missing entry {_quote(message)} (run `keyfob i18n update`)")
    for message in catalog.obsolete.values():
        yield Problem(
            path,
            message.lineno or 1,
            f"obsolete: {_quote(message)} (delete it, or `keyfob i18n update --drop-obsolete`)",
        )


@dataclass(frozen=True)
class Completeness:
    """How far one language's catalog is, counted in messages of messages.pot."""

    language: str
    total: int
    translated: int
    fuzzy: int

    @property
    def missing(self) -> int:
        """Untranslated, or not in the catalog at all."""
        return self.total - self.translated - self.fuzzy

    @property
    def percent(self) -> float:
        """Rounded down, so that 100 % means done."""
        return math.floor(1000 * self.translated / self.total) / 10 if self.total else 100.0


def completeness(project: Project) -> list[Completeness]:
    """Each language's progress against messages.pot, for translators (`check` is the gate:
    it also reads placeholders, obsolete entries and headers)."""
    if not project.pot.exists():
        raise ValueError(f"{_show(project.pot)} is missing: run `keyfob i18n extract` first")
    expected = _keys(_read(project.pot))
    found = []
    for language in project.languages:
        translated = fuzzy = 0
        if project.po(language).exists():
            catalog, _ = _read_leniently(project.po(language), language)
            for message in _messages(catalog):
                if _key(message) not in expected:
                    continue
                if message.fuzzy:
                    fuzzy += 1
                elif all(_texts(message.string)):
                    translated += 1
        found.append(Completeness(language, len(expected), translated, fuzzy))
    return found


def _read_leniently(path: Path, language: str) -> tuple[Catalog, list[Problem]]:
    """Reads on past what Babel finds invalid, turning its printed warnings into problems."""
    printed = io.StringIO()
    with path.open("rb") as fp, contextlib.redirect_stdout(printed):
        catalog = read_po(fp, locale=language)
    problems, reason = [], ""
    for line in printed.getvalue().splitlines():
        if found := re.match(r"WARNING: Problem on line (\d+):", line):
            # Extra plural forms are reported by _count_plural_forms with their count.
            if "more translations than num_plurals" not in reason:
                problems.append(Problem(path, int(found[1]), f"cannot be read: {reason}"))
        else:
            reason = line.removeprefix("WARNING: ")
    return catalog, problems


def _count_plural_forms(path: Path, nplurals: int) -> Iterator[Problem]:
    """Babel pads or drops plural forms when reading, so count them in the text itself."""
    start, forms = 0, 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate([*lines, "msgid"], start=1):
        if line.startswith("msgid "):
            if forms and forms != nplurals:
                yield Problem(path, start, f"{forms} plural forms, the language has {nplurals}")
            start, forms = number, 0
        elif line.startswith("msgstr["):
            forms += 1


def _format_problem(message: Message) -> str | None:
    """Placeholders must survive translation: the same %(name)s set, and no lone % (Jinja's
    newstyle gettext formats every template string, so a lone % breaks the page)."""
    ids = [_placeholders(text) for text in _texts(message.id)]
    wanted: set[str] = set().union(*(names for names, _ in ids))
    lone = max(count for _, count in ids)
    formatted = bool(wanted) or any(
        Path(where).suffix in _TEMPLATE_SUFFIXES for where, _ in message.locations
    )
    for form in _texts(message.string):
        names, count = _placeholders(form)
        if message.pluralizable:
            # A plural form may leave out the count ("one day" for n == 1, Arabic dual).
            missing, extra = wanted - names - {"num"}, names - wanted - {"num"}
        else:
            missing, extra = wanted - names, names - wanted
        if missing or extra:
            detail = ", ".join(
                [f"%({n})s missing" for n in sorted(missing)]
                + [f"%({n})s unknown" for n in sorted(extra)]
            )
            return f"placeholder mismatch ({detail})"
        if formatted and count != lone:
            return "placeholder mismatch (a lone % or %s; write %% for a percent sign)"
    errors = message.check()  # Babel's checkers: %(num)d against %(num)s, plural forms
    return f"placeholder mismatch ({errors[0]})" if errors else None


def _placeholders(text: str) -> tuple[set[str], int]:
    """The %(name)s placeholders, and how many % are neither named nor %%."""
    names, unnamed = set(), 0
    for found in _DIRECTIVE.finditer(text):
        if found["name"] is not None:
            names.add(found["name"])
        elif found["type"] != "%":
            unnamed += 1
    return names, unnamed + _DIRECTIVE.sub("", text).count("%")


def _texts(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """A message's id or string as its forms: one, or one per plural form."""
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (message for message in catalog if message.id)


def _key(message: Message) -> tuple[object, str | None]:
    return message.id, message.context


def _keys(catalog: Catalog) -> set[tuple[object, str | None]]:
    return {_key(message) for message in _messages(catalog)}


def _quote(message: Message) -> str:
    text = _texts(message.id)[0]
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _read(path: Path, language: str | None = None) -> Catalog:
    """For extract, update and compile, which stop at a file they cannot read (check reads on)."""
    with path.open("rb") as fp:
        try:
            return read_po(fp, locale=language, abort_invalid=True)
        except PoFileError as exc:
            raise ValueError(
                f"{_show(path)}:{exc.lineno + 1}: {exc.args[0]} (see `keyfob i18n check`)"
            ) from exc


def _render(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WIDTH, include_previous=True, sort_output=False)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> bool:
    """Writes only a real change: the Babel version in the Generated-By header is not one."""
    if path.exists() and _without_generator(path.read_bytes()) == _without_generator(data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _without_generator(data: bytes) -> bytes:
    return re.sub(rb'^"Generated-By: [^"]*"\n', b"", data, count=1, flags=re.MULTILINE)


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# The `keyfob i18n …` commands.


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("i18n", help="translators' workflow over locale/")
    i18n_commands = parser.add_subparsers(title="i18n commands")

    def command(name: str, help: str, run: Callable[[argparse.Namespace], int]) -> Any:
        sub = i18n_commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    command("extract", "collect the strings of the code into locale/messages.pot", _extract)
    command(
        "update",
        "merge messages.pot into each language's messages.po, creating missing ones",
        _update,
    ).add_argument(
        "--drop-obsolete", action="store_true", help="delete entries no longer in the code"
    )
    command("compile", "write messages.mo next to each messages.po", _compile)
    command("check", "fail, naming file and line, on anything a translator must fix", _check)
    command("stats", "print how complete each language's catalog is", _stats)


class _SitePackage(BaseSettings):
    """Only KEYFOB_SITE_PACKAGE, from the environment or .env: the full settings would make a
    secret key and var/, which translators' commands have no use for."""

    model_config = SettingsConfigDict(env_prefix="KEYFOB_", env_file=".env", extra="ignore")
    site_package: str = ""


def projects() -> list[Project]:
    """Keyfob's catalogs and, with KEYFOB_SITE_PACKAGE set, the site owner's."""
    found = [Project()]
    package = _SitePackage().site_package
    if package:
        from keyfob.extensions import package_folder

        found.append(Project.of_site_package(package_folder(package)))
    return found


def _extract(args: argparse.Namespace) -> int:
    for project in projects():
        written = write_template(project)
        count = sum(1 for _ in _messages(_read(project.pot)))
        state = "written" if written else "unchanged"
        print(f"{_show(project.pot)}: {count} messages ({state})")
    return 0


def _update(args: argparse.Namespace) -> int:
    for project in projects():
        for language, written in update(project, drop_obsolete=args.drop_obsolete).items():
            print(f"{_show(project.po(language))}: {'written' if written else 'unchanged'}")
    return 0


def _compile(args: argparse.Namespace) -> int:
    for project in projects():
        for language, written in compile_catalogs(project).items():
            mo = project.po(language).with_suffix(".mo")
            print(f"{_show(mo)}: {'written' if written else 'unchanged'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    failed = 0
    for project in projects():
        problems = check(project)
        for problem in problems:
            print(problem)
        if problems:
            failed += len(problems)
            continue
        where = _show(project.locale_dir)
        languages = ", ".join(project.languages)
        print(f"keyfob i18n check: {where}: {languages} complete, messages.pot current")
    if failed:
        print(f"keyfob i18n check: {failed} problem(s)", file=sys.stderr)
        return 1
    return 0


def _stats(args: argparse.Namespace) -> int:
    """A table per catalog folder; it reports progress and never fails on it."""
    for project in projects():
        rows = completeness(project)
        total = rows[0].total if rows else 0
        print(f"{_show(project.pot)}: {total} messages to translate")
        print(f"{'language':<10} {'translated':>12} {'fuzzy':>6} {'missing':>8} {'complete':>9}")
        for row in rows:
            done = f"{row.translated}/{row.total}"
            print(
                f"{row.language:<10} {done:>12} {row.fuzzy:>6} {row.missing:>8} "
                f"{row.percent:>8.1f}%"
            )
    return 0
