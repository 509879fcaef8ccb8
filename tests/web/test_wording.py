"""The portals' wording catalogues (web/locale/*/LC_MESSAGES/*.po) and their checker."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from opendmp.domain.actors import AccessMode
from opendmp.domain.records import RecordStatus
from opendmp.services.access.listing import AccessState
from opendmp.services.documents.pro_deposit import VISIBILITIES
from opendmp.web import i18n
from opendmp.web.i18n import catalogues
from opendmp.web.i18n.check import placeholders, problems

WEB = Path(i18n.__file__).resolve().parent.parent
LOCALE = WEB / "locale"
ROOT = WEB.parent.parent.parent
# A wording key as code and templates write it: dotted and quoted with a known first segment,
# or a single word quoted right after ``t(``.
_LITERAL = re.compile(
    r"""["']([a-z][a-z_]*(?:\.[A-Za-z0-9_-]+)+)["']|[^\w.`]t\(\s*["']([a-z_]+)["']"""
)
_NOT_KEYS = (".html", ".css", ".po", ".py", ".pdf", ".json", ".zip", ".csv")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The checker's command line, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "opendmp.web.i18n", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_shipped_catalogues_pass_the_checker() -> None:
    assert problems() == []
    run = _run("check", str(LOCALE))
    assert run.returncode == 0, run.stdout
    assert run.stdout == ""


def test_the_checker_names_each_problem_on_its_own_line(tmp_path: Path) -> None:
    shutil.copytree(LOCALE, tmp_path, dirs_exist_ok=True)
    fr, en = tmp_path / "fr" / "LC_MESSAGES", tmp_path / "en" / "LC_MESSAGES"
    _edit(en / "pro.po", 'msgid "pp.yes"\nmsgstr "yes"\n', "")  # missing in English
    _edit(fr / "pro.po", 'msgid "pp.no"\nmsgstr "non"', 'msgid "pp.no"\nmsgstr ""')  # empty
    _edit(en / "common.po", "Signed in: {name}", "Signed in: {who}")  # placeholders differ
    _edit(en / "common.po", "Sign in: {name}", "Sign in: {name")  # does not parse
    _edit(fr / "common.po", 'msgid "skip"', '#, fuzzy\nmsgid "skip"')  # fuzzy
    (fr / "extra.po").write_text('msgid "pp.extra"\nmsgstr "en plus"\n', encoding="utf-8")
    (en / "broken.po").write_text('msgid "a"\nmsgstr "b"\nnonsense\n', encoding="utf-8")

    lines = problems(tmp_path)

    assert len(lines) == 7, lines
    expected = [
        r"^en/LC_MESSAGES/broken\.po: unreadable: ",
        r'^en/LC_MESSAGES/common\.po:\d+: "nav\.signed_in_as" placeholders differ: '
        r"fr \{name\} \(fr/LC_MESSAGES/common\.po:\d+\), en \{who\}$",
        r'^en/LC_MESSAGES/common\.po:\d+: "signin\.as" has a malformed placeholder \(',
        r'^fr/LC_MESSAGES/common\.po:\d+: "skip" is marked fuzzy \(gettext would not use it\)$',
        r'^fr/LC_MESSAGES/extra\.po:1: "pp\.extra" is missing from en/LC_MESSAGES/extra\.po$',
        r'^fr/LC_MESSAGES/pro\.po:\d+: "pp\.yes" is missing from en/LC_MESSAGES/pro\.po$',
        r'^fr/LC_MESSAGES/pro\.po:\d+: "pp\.no" has an empty msgstr$',
    ]
    for pattern, line in zip(expected, lines, strict=True):
        assert re.match(pattern, line), (pattern, line)

    run = _run("check", str(tmp_path))
    assert run.returncode == 1
    assert run.stdout.splitlines() == lines
    assert "problem(s)" in run.stderr


def test_a_key_in_two_domains_is_refused(tmp_path: Path) -> None:
    for lang, text in (("fr", "oui"), ("en", "yes")):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        for domain in ("one", "two"):
            (folder / f"{domain}.po").write_text(f'msgid "x.yes"\nmsgstr "{text}"\n', "utf-8")
    assert problems(tmp_path) == [
        'en/LC_MESSAGES/two.po:1: "x.yes" is already defined in en/LC_MESSAGES/one.po:1',
        'fr/LC_MESSAGES/two.po:1: "x.yes" is already defined in fr/LC_MESSAGES/one.po:1',
    ]


def test_an_empty_directory_and_a_bad_command_line_are_refused(tmp_path: Path) -> None:
    assert problems(tmp_path) == [
        f"{tmp_path}: no catalogue (expected <lang>/LC_MESSAGES/<domain>.po)"
    ]
    assert _run("check", str(tmp_path)).returncode == 1
    usage = _run("verify")
    assert usage.returncode == 2
    assert "usage:" in usage.stderr


def test_placeholders_are_read_in_both_styles() -> None:
    assert placeholders("{name} le {date:%d} %(count)d %%") == {"{name}", "{date:%d}", "%(count)d"}
    assert placeholders("no field") == set()
    with pytest.raises(ValueError):
        placeholders("{name")


def test_the_lookup_leaves_out_empty_and_fuzzy_messages(tmp_path: Path) -> None:
    for lang, body in (
        ("fr", 'msgid "a.b"\nmsgstr "Bonjour {name}"\n\n#, fuzzy\nmsgid "a.c"\nmsgstr "vieux"\n'),
        ("en", 'msgid "a.b"\nmsgstr ""\n\nmsgid "a.c"\nmsgstr "old"\n'),
    ):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "x.po").write_text(body, encoding="utf-8")
    assert catalogues.wording(catalogues.read(tmp_path)) == {
        "a.b": {"fr": "Bonjour {name}"},
        "a.c": {"en": "old"},
    }


def test_the_lookup_keeps_its_behaviour() -> None:
    assert i18n.t("desk.created", "en", name="X") == "X's DMP was created."
    assert i18n.t("desk.created", "fr", name="X") == "Le DMP de X a été créé."
    assert i18n.t("desk.created", "de", name="X") == "Le DMP de X a été créé."
    assert i18n.t("no.such.key", "en") == "no.such.key"
    assert i18n.has("patient.menu.home") and not i18n.has("patient.menu")


def _literal_keys() -> set[str]:
    prefixes = {key.split(".")[0] for key in i18n.catalogue()}
    sources = [*WEB.joinpath("templates").rglob("*.html"), *WEB.rglob("*.py")]
    found = {
        (match.group(1) or match.group(2), str(path.relative_to(WEB)))
        for path in sources
        for match in _LITERAL.finditer(path.read_text(encoding="utf-8"))
    }
    return {
        f"{key} ({where})"
        for key, where in found
        if key.split(".")[0] in prefixes and not key.endswith(_NOT_KEYS)
    }


def _composed_keys() -> list[str]:
    """The keys templates compose from a value (``t("pp.state." ~ state)``)."""
    keys = [f"pp.state.{state.value}" for state in AccessState]
    keys += [f"pp.record.{status.value}" for status in RecordStatus]
    keys += [f"pp.visibility.{value}" for value in VISIBILITIES]
    keys += [f"pp.banner.title.{mode.value}" for mode in AccessMode if mode != AccessMode.NORMAL]
    keys += ["sex.F", "sex.M"]
    return keys


def test_every_key_the_code_and_templates_use_is_in_both_languages() -> None:
    wording = i18n.catalogue()
    used = _literal_keys()
    assert len(used) > 300  # the scan does find the keys
    missing = [
        entry
        for entry in sorted(used) + _composed_keys()
        if not all(wording.get(entry.split(" ")[0], {}).get(lang) for lang in i18n.LANGUAGES)
    ]
    assert missing == []


def test_the_catalogues_are_installed_with_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["opendmp"]
    for po in LOCALE.rglob("*.po"):
        shipped = PurePosixPath("web", po.relative_to(WEB).as_posix())
        assert any(_matches(shipped, pattern) for pattern in patterns), shipped


def _matches(path: PurePosixPath, pattern: str) -> bool:
    """A setuptools package-data glob: relative to the package, ``*`` within one folder."""
    return len(PurePosixPath(pattern).parts) == len(path.parts) and path.match(pattern)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
