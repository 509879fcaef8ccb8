"""``opendmp record announce --file`` driven as an operator would, on an SQLite home in a
temp folder (docs/operations.md, "Opt-out opening"): bad rows reported with their line
numbers and the rest imported, letters written, a re-run sending nothing again, the
command refused in consent mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import Cli
from tests.cli.test_cli import _only_the_home_is_configured as _only_the_home  # noqa: F401
from tests.factories import make_ins

OPT_OUT = {"OPENDMP_CREATION_MODE": "opt-out"}
GOOD_EMAIL, GOOD_LETTER = make_ins(811), make_ins(812)
BAD_KEY = f"{make_ins(813).value[:13]}{(int(make_ins(813).value[13:]) + 1) % 100:02d}"


def csv_file(folder: Path) -> Path:
    rows = [
        "ins,birth_name,given_names,birth_date,sex,email,postal_address",
        f"{GOOD_EMAIL.value},Fictif,Alex Sam,1980-01-15,F,alex.fictif@example.org,",
        f'{GOOD_LETTER},Exemple,Camille,1975-06-01,M,,"2 rue de l\'Essai|69001 LYON"',
        f"{BAD_KEY},Fictif,Alex,1980-01-15,F,a@example.org,",
        "",
        f"{make_ins(814).value},Fictif,Alex,,F,a@example.org,",
        f"{make_ins(815).value},Fictif,Alex,1980-01-15,F,,",
    ]
    path = folder / "beneficiaires.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    return cli


def test_announcing_is_refused_in_consent_mode(home: Cli, tmp_path: Path) -> None:
    result = home("record", "announce", "--file", str(csv_file(tmp_path)))
    assert result.exit_code == 1
    assert "opt-out-disabled" in result.stderr


def test_a_file_without_the_columns_is_refused_whole(home: Cli, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("nir;nom\n1;2\n", encoding="utf-8")
    result = home("record", "announce", "--file", str(path), env=OPT_OUT)
    assert result.exit_code == 1
    assert "invalid-announce-file" in result.stderr


def test_bad_rows_are_reported_by_line_and_the_rest_announced_once(
    home: Cli, tmp_path: Path
) -> None:
    path, letters = csv_file(tmp_path), tmp_path / "letters"
    first = home("record", "announce", "--file", str(path), "--letters", str(letters), env=OPT_OUT)
    assert first.exit_code == 2, (first.stdout, first.stderr)
    refused = [line for line in first.stderr.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in refused] == ["line 4", "line 6", "line 7"]
    assert "birth_date is empty" in refused[1]
    assert "an email or a postal_address" in refused[2]
    assert "announced 1 by e-mail, 1 by letter" in first.stdout
    [letter] = letters.glob("dmp-notice-*.pdf")
    assert letter.read_bytes().startswith(b"%PDF")
    assert letter.stat().st_mode & 0o077 == 0, "letters are private files"

    # The plural names the same command (the wording).
    again = home("records", "announce", "--file", str(path), "--letters", str(letters), env=OPT_OUT)
    assert again.exit_code == 2
    assert "announced 0 by e-mail, 0 by letter" in again.stdout
    assert "2 already announced" in again.stdout
    assert len(list(letters.glob("*.pdf"))) == 1
