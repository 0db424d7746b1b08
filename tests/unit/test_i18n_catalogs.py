"""The translators' workflow: extract is stable, update keeps translators' work, check names
file and line for everything a translator must fix."""

from __future__ import annotations

import functools
import gettext
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from keyfob import cli, i18n, i18n_catalogs, paths
from keyfob.i18n_catalogs import Project

SOURCE = '''"""A module with strings."""
from keyfob.i18n import gettext as _
from keyfob.i18n import lazy_gettext as _l
from keyfob.i18n import ngettext

TITLE = _l("Welcome")


def greet(email: str) -> str:
    return _("Hello %(email)s", email=email)


def wait(seconds: int) -> str:
    return ngettext("Wait %(num)d second", "Wait %(num)d seconds", seconds)
'''
PAGE = """<h1>{{ _("Sign in") }}</h1>
<p>{% trans %}
  Spread over
  two lines
{% endtrans %}</p>
"""
GERMAN = {
    "Welcome": "Willkommen",
    "Hello %(email)s": "Hallo %(email)s",
    "Wait %(num)d second": ("Warte %(num)d Sekunde", "Warte %(num)d Sekunden"),
    "Sign in": "Anmelden",
    "Spread over two lines": "Auf zwei Zeilen verteilt",
    "Language": "Sprache",
    "Your code for %(site_name)s": "Dein Code für %(site_name)s",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A small copy of the project's layout, read with the project's own babel.cfg."""
    (tmp_path / "locale").mkdir()
    shutil.copy(paths.BABEL_CFG, tmp_path / "locale" / "babel.cfg")
    files = {
        "site/strings.py": SOURCE,
        "templates/page.html": PAGE,
        "templates/_partials/menu.html": '{{ _("Language") }}\n',
        "templates/mail/code_subject.txt": (
            "{% trans %}Your code for {{ site_name }}{% endtrans %}\n"
        ),
        ".venv/lib/ignored.py": '_("Never extracted")\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return Project(root=tmp_path, languages=("de",))


def translate(path: Path, table: dict[str, str | tuple[str, ...]]) -> None:
    with path.open("rb") as fp:
        catalog = read_po(fp, locale="de")
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key in table:
            message.string = table[key]
    with path.open("wb") as fp:
        write_po(fp, catalog, width=76)


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def merged(project: Project, language: str) -> Path:
    """`language`'s catalog, freshly extracted and merged, untranslated."""
    one = Project(root=project.root, languages=(language,))
    i18n_catalogs.write_template(one)
    i18n_catalogs.update(one)
    return one.po(language)


def with_plural_rule(text: str, nplurals: int, rule: str) -> str:
    """A catalog's text as an older Babel would have written its Plural-Forms header."""
    start, end = text.index('"Plural-Forms:'), text.index('"MIME-Version')
    return text[:start] + f'"Plural-Forms: nplurals={nplurals}; plural={rule};\\n"\n' + text[end:]


def ready(project: Project) -> Path:
    """Extracted, merged and fully translated into German: check has nothing to say."""
    i18n_catalogs.write_template(project)
    i18n_catalogs.update(project)
    translate(project.po("de"), GERMAN)
    return project.po("de")


def test_extract_finds_python_templates_partials_and_mail(project: Project) -> None:
    catalog = i18n_catalogs.extract(project)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert ids == set(GERMAN)
    plural = catalog.get("Wait %(num)d second")
    assert plural is not None and plural.id[1] == "Wait %(num)d seconds"
    assert catalog.get("Language").locations == [("templates/_partials/menu.html", 1)]


def test_extract_twice_writes_nothing_the_second_time(project: Project) -> None:
    assert i18n_catalogs.write_template(project) is True
    first = project.pot.read_bytes()
    assert i18n_catalogs.write_template(project) is False
    assert project.pot.read_bytes() == first


def test_update_twice_writes_nothing_the_second_time(project: Project) -> None:
    i18n_catalogs.write_template(project)
    assert i18n_catalogs.update(project) == {"de": True}
    first = project.po("de").read_bytes()
    assert i18n_catalogs.update(project) == {"de": False}
    assert project.po("de").read_bytes() == first


def test_update_keeps_translations_and_translator_comments(project: Project) -> None:
    po = ready(project)
    text = po.read_text().replace(
        'msgid "Welcome"', '# Greeting on the home page.\nmsgid "Welcome"'
    )
    po.write_text(text)
    source = project.root / "site" / "strings.py"
    source.write_text(source.read_text() + '\nBYE = _l("Goodbye")\n')
    i18n_catalogs.write_template(project)
    i18n_catalogs.update(project)
    with po.open("rb") as fp:
        catalog = read_po(fp, locale="de")
    assert catalog["Welcome"].user_comments == ["Greeting on the home page."]
    assert catalog["Welcome"].string == "Willkommen"
    assert catalog["Goodbye"].string == ""


def test_check_passes_on_complete_current_catalogs(project: Project) -> None:
    ready(project)
    assert i18n_catalogs.check(project) == []


def test_check_names_file_and_line_of_every_problem(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    po = ready(project)
    text = po.read_text()
    text = text.replace('msgid "Sign in"', '#, fuzzy\nmsgid "Sign in"')
    text = text.replace('msgstr "Willkommen"', 'msgstr ""')
    text = text.replace('msgstr "Hallo %(email)s"', 'msgstr "Hallo %(mail)s"')
    text += '\n#~ msgid "Old"\n#~ msgstr "Alt"\n'
    po.write_text(text)
    source = project.root / "site" / "strings.py"
    source.write_text(source.read_text() + 'LATE = _l("Added after extract")\n')

    monkeypatch.setattr(i18n_catalogs, "Project", functools.partial(Project, project.root, ("de",)))
    with pytest.raises(SystemExit) as exited:
        cli.main(["i18n", "check"])
    assert exited.value.code == 1
    out = capsys.readouterr().out

    expected = [
        (source, line_of(source, "Added after extract"), "messages.pot is out of date"),
        (po, line_of(po, 'msgid "Sign in"'), "fuzzy: 'Sign in'"),
        (po, line_of(po, 'msgid "Welcome"'), "untranslated: 'Welcome'"),
        (po, line_of(po, 'msgid "Hello %(email)s"'), "placeholder mismatch"),
        (po, line_of(po, '#~ msgid "Old"'), "obsolete: 'Old'"),
    ]
    for path, line, problem in expected:
        assert f"{path}:{line}: {problem}" in out, out
    assert "%(email)s missing" in out and "%(mail)s unknown" in out


def test_check_reports_a_string_gone_from_the_code(project: Project) -> None:
    ready(project)
    page = project.root / "templates" / "page.html"
    page.write_text(page.read_text().replace('{{ _("Sign in") }}', "Sign in"))
    problems = [str(p) for p in i18n_catalogs.check(project)]
    line = line_of(project.pot, 'msgid "Sign in"')
    assert problems == [
        f"{project.pot}:{line}: messages.pot is out of date: run `keyfob i18n extract`: "
        "'Sign in' is gone"
    ]


def test_check_reports_a_lone_percent_sign_in_a_template_string(project: Project) -> None:
    po = ready(project)
    translate(po, {"Sign in": "Zu 100% anmelden"})
    problems = i18n_catalogs.check(project)
    assert [(p.line, "lone %" in p.text) for p in problems] == [
        (line_of(po, 'msgid "Sign in"'), True)
    ]


def test_check_reports_wrong_plural_counts(project: Project) -> None:
    po = ready(project)
    text = po.read_text().replace(
        'msgstr[1] "Warte %(num)d Sekunden"',
        'msgstr[1] "Warte %(num)d Sekunden"\nmsgstr[2] "Warte %(num)d Sekunden!"',
    )
    po.write_text(text)
    problems = [str(p) for p in i18n_catalogs.check(project)]
    line = line_of(po, 'msgid "Wait %(num)d second"')
    assert f"{po}:{line}: 3 plural forms, the language has 2" in problems


def test_check_reports_an_arabic_catalog_with_two_plural_forms(project: Project) -> None:
    arabic = Project(root=project.root, languages=("ar",))
    po = merged(project, "ar")
    po.write_text(with_plural_rule(po.read_text(), 2, "(n != 1)"))
    problems = [str(p) for p in i18n_catalogs.check(arabic)]
    header = line_of(po, 'msgid ""')
    assert f"{po}:{header}: Plural-Forms has nplurals=2, needs 6" in problems


def test_a_newer_babel_version_alone_is_not_a_change(project: Project) -> None:
    i18n_catalogs.write_template(project)
    i18n_catalogs.update(project)
    for path in (project.pot, project.po("de")):
        text = path.read_text()
        path.write_text(
            re.sub(r'"Generated-By: Babel [^"]*"', '"Generated-By: Babel 1.0\\n"', text)
        )
    before = project.pot.read_bytes(), project.po("de").read_bytes()
    assert i18n_catalogs.write_template(project) is False
    assert i18n_catalogs.update(project) == {"de": False}
    assert (project.pot.read_bytes(), project.po("de").read_bytes()) == before


def test_update_follows_new_plural_rules_and_flags_the_new_form(project: Project) -> None:
    """French gained CLDR's "many" category (1 000 000 de secondes): a catalog written for
    two forms gets three, its old forms where their numbers now land, the new one marked."""
    french = Project(root=project.root, languages=("fr",))
    po = merged(project, "fr")
    text = with_plural_rule(po.read_text(), 2, "(n > 1)").replace(
        'msgstr[0] ""\nmsgstr[1] ""\nmsgstr[2] ""',
        'msgstr[0] "Attendez %(num)d seconde"\nmsgstr[1] "Attendez %(num)d secondes"',
    )
    po.write_text(text)
    assert any(
        "Plural-Forms has nplurals=2, needs 3" in str(p) for p in i18n_catalogs.check(french)
    )

    i18n_catalogs.update(french)

    with po.open("rb") as fp:
        catalog = read_po(fp, locale="fr")
    wait = catalog["Wait %(num)d second"]
    assert catalog.num_plurals == 3
    assert wait.string == (
        "Attendez %(num)d seconde",
        "Attendez %(num)d secondes",
        "Attendez %(num)d secondes",
    )
    assert wait.fuzzy
    problems = [str(p) for p in i18n_catalogs.check(french)]
    assert (
        f"{po}:{wait.lineno}: fuzzy: 'Wait %(num)d second' (check the translation, remove the flag)"
        in problems
    )
    assert not [p for p in problems if "plural forms" in p or "Plural-Forms" in p]


def test_update_moves_forms_when_a_rule_reorders_them(project: Project) -> None:
    """Arabic's CLDR rule swapped the places of 11..99 and 100..102: each form moves with its
    numbers, and nothing needs a translator since no category is new."""
    arabic = Project(root=project.root, languages=("ar",))
    po = merged(project, "ar")
    old_rule = (
        "(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
        "n%100>=0 && n%100<=2 ? 4 : 5)"
    )
    text = with_plural_rule(po.read_text(), 6, old_rule)
    forms = "\n".join(f'msgstr[{i}] "form {i} %(num)d"' for i in range(6))
    po.write_text(text.replace("\n".join(f'msgstr[{i}] ""' for i in range(6)), forms))

    i18n_catalogs.update(arabic)

    with po.open("rb") as fp:
        catalog = read_po(fp, locale="ar")
    wait = catalog["Wait %(num)d second"]
    assert wait.string[:4] == tuple(f"form {i} %(num)d" for i in range(4))
    assert catalog.plural_forms == get_plural("ar").plural_forms
    assert ngettext_with(catalog, 50) == "form 5 %(num)d"
    assert ngettext_with(catalog, 101) == "form 4 %(num)d"
    assert not wait.fuzzy


def ngettext_with(catalog: Catalog, n: int) -> str:
    message = catalog["Wait %(num)d second"]
    return message.string[gettext.c2py(catalog.plural_expr)(n)]


@pytest.mark.parametrize("language", ["ja", "pl", "ar"])
def test_update_creates_a_catalog_with_the_languages_plural_forms(
    project: Project, language: str
) -> None:
    """Japanese has one plural form and Polish three: the template's two must not be kept."""
    other = Project(root=project.root, languages=(language,))
    i18n_catalogs.write_template(other)
    assert i18n_catalogs.update(other) == {language: True}
    with other.po(language).open("rb") as fp:
        catalog = read_po(fp, locale=language)
    assert catalog.plural_forms == get_plural(language).plural_forms
    assert catalog["Wait %(num)d second"].string == ("",) * catalog.num_plurals


def test_check_reports_missing_template_and_catalog(project: Project) -> None:
    problems = [str(p) for p in i18n_catalogs.check(project)]
    assert f"{project.pot}:1: missing: run `keyfob i18n extract`" in problems
    assert f"{project.po('de')}:1: missing: run `keyfob i18n update`" in problems


def test_the_projects_own_catalogs_are_complete_and_current() -> None:
    """What CI runs: every string in the code is translated into every language."""
    problems = i18n_catalogs.check(Project())
    assert not problems, "\n".join(map(str, problems))


def test_the_four_commands_run_in_order(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(i18n_catalogs, "Project", functools.partial(Project, project.root, ("de",)))

    def run(*argv: str) -> int:
        with pytest.raises(SystemExit) as exited:
            cli.main(["i18n", *argv])
        return int(exited.value.code or 0)

    assert run("extract") == 0 and project.pot.exists()
    assert run("update") == 0 and project.po("de").exists()
    assert run("check") == 1
    translate(project.po("de"), GERMAN)
    assert run("check") == 0
    assert run("compile") == 0 and project.po("de").with_suffix(".mo").exists()
    assert run("extract") == 0 and run("update") == 0
    out = capsys.readouterr().out
    assert out.count("(unchanged)") == 1 and out.count(": unchanged") == 1


def test_stats_counts_translated_fuzzy_and_missing_messages(project: Project) -> None:
    po = ready(project)
    text = po.read_text()
    text = text.replace('msgid "Sign in"', '#, fuzzy\nmsgid "Sign in"')
    text = text.replace('msgstr "Willkommen"', 'msgstr ""')
    po.write_text(text)
    both = Project(root=project.root, languages=("de", "pl"))  # no Polish catalog yet

    german, polish = i18n_catalogs.completeness(both)

    total = len(GERMAN)
    assert (german.language, german.total) == ("de", total)
    assert (german.translated, german.fuzzy, german.missing) == (total - 2, 1, 1)
    assert german.percent == int(1000 * (total - 2) / total) / 10
    assert (polish.translated, polish.fuzzy, polish.missing, polish.percent) == (0, 0, total, 0)


def test_stats_prints_each_language_and_never_fails_on_progress(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    i18n_catalogs.write_template(project)
    i18n_catalogs.update(project)
    translate(project.po("de"), {"Welcome": "Willkommen", "Sign in": "Anmelden"})
    monkeypatch.setattr(i18n_catalogs, "Project", functools.partial(Project, project.root, ("de",)))
    with pytest.raises(SystemExit) as exited:
        cli.main(["i18n", "stats"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    total = len(GERMAN)
    row = re.search(r"^de\s+(\d+)/(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)%$", out, re.MULTILINE)
    assert row is not None, out
    assert row.groups() == ("2", str(total), "0", str(total - 2), f"{int(200 / total * 10) / 10}")


def test_stats_of_the_projects_own_catalogs_are_complete() -> None:
    rows = i18n_catalogs.completeness(Project())
    assert [row.language for row in rows] == [i18n.folder(tag) for tag in i18n.LOCALES[1:]]
    assert all(row.percent == 100.0 and row.missing == 0 for row in rows), rows


def test_the_projects_catalogs_carry_babels_plural_forms() -> None:
    """The header gettext reads is exactly CLDR's rule as Babel gives it (Polish: three forms,
    CLDR's fourth, "other", is for fractions, which gettext's whole n never reaches)."""
    for language in Project().languages:
        with Project().po(language).open("rb") as fp:
            catalog = read_po(fp, locale=language)
        assert catalog.plural_forms == get_plural(language).plural_forms, language
    assert get_plural("pl").num_plurals == 3
