"""The ``opendmp`` command, driven as an operator would, on an SQLite home in a temp folder.

Each command calls ``asyncio.run`` itself, so these tests are plain functions.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from opendmp.blobs import MasterKey
from opendmp.cli import app
from tests.factories import make_ins

INS = make_ins(801)
OTHER_INS = make_ins(802)
BAD_KEY_INS = f"{INS.oid}|{INS.value[:13]}{(int(INS.value[13:]) + 1) % 100:02d}"


@pytest.fixture(autouse=True)
def _only_the_home_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads OPENDMP_*: a database URL or master key from the environment running
    # the tests (CI) must not redirect it away from the temporary home.
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(
            app, list(args), env={"OPENDMP_HOME": str(self.home), **(env or {})}
        )

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def create(self, ins: str = str(INS)) -> Result:
        return self(
            "record",
            "create",
            "--ins",
            ins,
            "--birth-name",
            "FICTIF",
            "--given",
            "Alex Sam",
            "--birth-date",
            "1980-01-15",
            "--sex",
            "F",
            "--email",
            "a@example.org",
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def home(cli: Cli) -> Cli:
    cli.ok("init")
    return cli


def assert_one_line_error(result: Result, code: str) -> None:
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"({code})" in lines[0]
    assert lines[0].startswith("error:")


# --- refusals -----------------------------------------------------------------------------


def test_an_ins_with_a_bad_key_is_refused_in_one_line(home: Cli) -> None:
    result = home.create(BAD_KEY_INS)
    assert_one_line_error(result, "invalid-ins")


def test_a_second_record_for_the_same_ins_is_refused(home: Cli) -> None:
    assert home.create().exit_code == 0
    assert_one_line_error(home.create(), "record-exists")


def test_a_birth_date_that_is_not_iso_is_refused(home: Cli) -> None:
    result = home(
        "record",
        "create",
        "--ins",
        str(INS),
        "--birth-name",
        "FICTIF",
        "--given",
        "Alex",
        "--birth-date",
        "15/01/1980",
        "--sex",
        "F",
        "--email",
        "a@example.org",
    )
    assert_one_line_error(result, "invalid-date")


def test_closing_a_closed_record_is_refused(home: Cli) -> None:
    home.create()
    home.ok("record", "close", "--ins", str(INS))
    assert_one_line_error(home("record", "close", "--ins", str(INS)), "record-already-closed")


def test_reactivating_an_active_record_is_refused(home: Cli) -> None:
    home.create()
    assert_one_line_error(home("record", "reactivate", "--ins", str(INS)), "record-not-closed")


def test_showing_an_unknown_record_is_refused(home: Cli) -> None:
    assert_one_line_error(home("record", "show", "--ins", str(OTHER_INS)), "record-not-found")


def test_a_command_on_a_home_without_a_master_key_is_refused(cli: Cli) -> None:
    result = cli("record", "show", "--ins", str(INS))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    # One logical line; rich wraps it at 80 columns (see the xfail below).
    assert "(master-key-missing)" in " ".join(result.stderr.split())


def test_a_command_on_a_database_that_is_not_migrated_is_refused(cli: Cli) -> None:
    key = MasterKey.generate().to_base64()
    result = cli("record", "show", "--ins", str(INS), env={"OPENDMP_MASTER_KEY": key})
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "(database-not-migrated)" in " ".join(result.stderr.split())


def test_the_database_not_migrated_error_is_one_line(cli: Cli) -> None:
    key = MasterKey.generate().to_base64()
    result = cli("record", "show", "--ins", str(INS), env={"OPENDMP_MASTER_KEY": key})
    assert_one_line_error(result, "database-not-migrated")


def test_a_modified_audit_event_makes_verification_fail_and_names_the_chain(home: Cli) -> None:
    created = home.create()
    record_id = re.search(r"created record ([0-9a-f-]{36})", created.stdout)
    assert record_id is not None
    home.ok("audit", "verify")

    with sqlite3.connect(home.home / "opendmp.db") as db:
        db.execute("UPDATE audit_event SET actor_id='x' WHERE seq=1 AND chain != 'system'")
    db.close()

    result = home("audit", "verify")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert f"BROKEN chain {record_id.group(1)}" in " ".join(result.stderr.split())
    assert "event 1 was altered" in " ".join(result.stderr.split())


# --- successes ------------------------------------------------------------------------------


def test_init_creates_the_master_key_readable_only_by_its_owner_and_the_database(
    cli: Cli,
) -> None:
    result = cli.ok("init")
    key_file = cli.home / "keys" / "master.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (cli.home / "opendmp.db").is_file()
    assert (cli.home / "blobs").is_dir()
    assert MasterKey.from_base64(key_file.read_text()).key_id in result.stdout


def test_init_twice_keeps_the_same_master_key(cli: Cli) -> None:
    cli.ok("init")
    first = (cli.home / "keys" / "master.key").read_text()
    cli.ok("init")
    assert (cli.home / "keys" / "master.key").read_text() == first


def test_a_record_goes_through_its_lifecycle(home: Cli) -> None:
    created = home.create()
    assert created.exit_code == 0, created.stderr
    assert "created record" in created.stdout and "(active)" in created.stdout

    shown = home.ok("record", "show", "--ins", str(INS))
    assert "active" in shown.stdout and "FICTIF" in shown.stdout

    closed = home.ok("record", "close", "--ins", str(INS))
    assert "closed" in closed.stdout and "destroyed after" in closed.stdout
    assert "closed" in home.ok("record", "show", "--ins", str(INS)).stdout

    home.ok("record", "reactivate", "--ins", str(INS))
    assert "active" in home.ok("record", "show", "--ins", str(INS)).stdout


def test_a_bare_ins_value_uses_the_test_oid_outside_production(home: Cli) -> None:
    home.create()
    assert "FICTIF" in home.ok("record", "show", "--ins", INS.value).stdout


def test_an_intact_audit_trail_verifies(home: Cli) -> None:
    home.create()
    home.ok("record", "show", "--ins", str(INS))
    result = home.ok("audit", "verify")
    assert "audit trail intact" in result.stdout
    assert home.ok("audit", "verify", "--ins", str(INS)).exit_code == 0


def test_rotating_the_master_key_keeps_records_readable(home: Cli) -> None:
    home.create()
    key_dir = home.home / "keys"
    before = (key_dir / "master.key").read_text()

    result = home.ok("keys", "rotate")
    assert "re-wrapped 1 data key(s)" in result.stdout

    # A finished rotation leaves no copy of the replaced key behind (docs/security.md).
    assert not (key_dir / "master.key.previous").exists()
    assert (key_dir / "master.key").read_text() != before
    new_id = MasterKey.from_base64((key_dir / "master.key").read_text()).key_id
    assert new_id in result.stdout
    [kek_file] = (key_dir / "keyring").iterdir()
    assert json.loads(kek_file.read_text())["master_key_id"] == new_id
    assert before.strip() not in "".join(p.read_text() for p in key_dir.rglob("*") if p.is_file())
    assert "FICTIF" in home.ok("record", "show", "--ins", str(INS)).stdout
    home.ok("audit", "verify")


def test_retention_with_nothing_due_destroys_nothing(home: Cli) -> None:
    home.create()
    home.ok("record", "close", "--ins", str(INS))
    result = home.ok("retention", "run")
    assert "destroyed 0 record(s), 0 blob(s)" in result.stdout
    assert "closed" in home.ok("record", "show", "--ins", str(INS)).stdout


def test_a_representative_is_added_with_a_one_time_login(home: Cli) -> None:
    home.ok("record", "create", *_minor_args())
    added = home.ok(
        "record",
        "add-representative",
        "--ins",
        str(OTHER_INS),
        "--relation",
        "mth",
        "--family",
        "Fictif",
        "--given",
        "Maud",
        "--email",
        "maud@example.org",
    )
    found = re.search(r"login (\S+), one-time password (\S+)", " ".join(added.stdout.split()))
    assert found, added.stdout
    assert "MTH FICTIF Maud" in added.stdout
    with sqlite3.connect(home.home / "opendmp.db") as db:
        linked = db.execute(
            "SELECT count(*) FROM representative r JOIN account a ON a.id = r.account_id"
            " WHERE a.login = ?",
            (found.group(1),),
        ).fetchone()
    assert linked == (1,)
    refused = home(
        "record", "add-representative", "--ins", str(OTHER_INS), "--relation", "XXX",
        "--family", "A", "--given", "B",
    )  # fmt: skip
    assert_one_line_error(refused, "invalid-representative")


def _minor_args() -> list[str]:
    return [
        "--ins",
        str(OTHER_INS),
        "--birth-name",
        "FICTIF",
        "--given",
        "Noé",
        "--birth-date",
        "2015-06-01",
        "--sex",
        "M",
        "--email",
        "noe@example.org",
    ]
