"""``opendmp directory import`` as an operator runs it: one line for a missing or garbled
file, then the summary of an import with its bad lines listed by number and reason."""

from __future__ import annotations

from pathlib import Path

from opendmp.devtools.rpps_extract import DEMO_ACTIVITIES, extract_lines
from tests.cli.test_cli import Cli, _only_the_home_is_configured, assert_one_line_error

__all__ = ["_only_the_home_is_configured"]  # the autouse fixture, used here too


def test_a_missing_or_garbled_file_is_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    missing = cli("directory", "import", "--file", str(tmp_path / "absent.txt"))
    assert_one_line_error(missing, "rpps-file-unreadable")
    garbled = tmp_path / "garbled.txt"
    garbled.write_bytes(b"PK\x03\x04\x14\x00 a zip, not unzipped \xff\xfe")
    assert_one_line_error(cli("directory", "import", "--file", str(garbled)), "rpps-not-an-extract")


def test_an_import_prints_its_bad_lines_and_its_counts(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    lines = list(extract_lines(DEMO_ACTIVITIES))
    path = tmp_path / "extract.txt"
    path.write_text("\n".join([*lines[:3], "broken|line", *lines[3:]]) + "\n", encoding="utf-8")
    printed = cli.ok("directory", "import", "--file", str(path), "--partial").stdout
    assert "line 4: 2 fields, the header has 56" in printed
    assert (
        "48 lines: 46 professionals (46 new, 0 changed, 0 unchanged, 0 listed again),"
        " 0 marked inactive, 1 bad lines skipped"
    ) in printed
    again = cli.ok("directory", "import", "--file", str(path)).stdout
    assert "(0 new, 0 changed, 46 unchanged, 0 listed again), 0 marked inactive" in again
