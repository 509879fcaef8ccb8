"""``opendmp backup create | verify | restore`` driven as an operator would, on SQLite and
PostgreSQL (a database of its own per installation: tests/services/operations/backup_support.py),
with the real ``pg_dump`` and ``pg_restore``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from opendmp.app import build_runtime
from opendmp.blobs import MasterKey
from opendmp.cli import app
from opendmp.config import load_settings
from opendmp.devtools.demo import PATIENTS, seed_demo
from tests.cli.test_cli import assert_one_line_error
from tests.services.operations.backup_support import (
    BACKENDS,
    PG_URL,
    create_database,
    drop_database,
)


@pytest.fixture(autouse=True)
def _only_the_home_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


class Home:
    """One installation: ``OPENDMP_HOME`` and a database of its own."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        self.url = url
        self.runner = CliRunner()

    @property
    def env(self) -> dict[str, str]:
        return {"OPENDMP_HOME": str(self.folder), "OPENDMP_DATABASE_URL": self.url}

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(app, list(args), env={**self.env, **(env or {})})

    def ok(self, *args: str, env: dict[str, str] | None = None) -> Result:
        result = self(*args, env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def create_record(self, ins: str) -> None:
        self.ok(
            "record", "create", "--ins", ins, "--birth-name", "FICTIF", "--given", "Alex",
            "--birth-date", "1980-01-15", "--sex", "F", "--email", "a@example.org",
        )  # fmt: skip

    def seed_demo(self) -> None:
        async def seed() -> None:
            rt = build_runtime(load_settings(home=self.folder, database_url=self.url))
            try:
                await seed_demo(rt.ctx)
            finally:
                await rt.close()

        asyncio.run(seed())


@pytest.fixture
def homes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Home]]:
    """Two installations on the backend ``request.param`` (the second empty)."""
    made: list[Home] = []
    try:
        for name in ("site", "elsewhere"):
            folder = tmp_path / name
            folder.mkdir(mode=0o700)
            made.append(Home(folder, asyncio.run(create_database(request.param, folder))))
        yield made
    finally:
        for home in made:
            asyncio.run(drop_database(home.url))


@pytest.mark.parametrize("homes", BACKENDS, indirect=True)
def test_the_demo_data_backs_up_verifies_and_restores_elsewhere(
    homes: list[Home], tmp_path: Path
) -> None:
    site, elsewhere = homes
    site.ok("init")
    site.seed_demo()
    backup = tmp_path / "backup"

    created = site.ok("backup", "create", "--to", str(backup))
    verified = site.ok("backup", "verify", str(backup))

    assert "3 records, 11 documents" in created.stdout
    assert "11 blobs" in created.stdout
    assert "11 documents (11 decrypted and matched)" in verified.stdout
    assert verified.stdout.startswith("backup verified: ")
    # Another installation holding the same master key (copied, never in the backup).
    (elsewhere.folder / "keys").mkdir(mode=0o700)
    shutil.copy(site.folder / "keys" / "master.key", elsewhere.folder / "keys" / "master.key")
    restored = elsewhere.ok("backup", "restore", str(backup))
    assert restored.stdout.startswith("restored 11 documents, 11 blobs, key epochs 1")
    assert "audit trail intact" in elsewhere.ok("audit", "verify").stdout
    shown = elsewhere.ok("record", "show", "--ins", PATIENTS[0].ins)
    assert PATIENTS[0].birth_name in shown.stdout
    # Restoring over data is refused, in one line, unless --force.
    assert_one_line_error(elsewhere("backup", "restore", str(backup)), "database-not-empty")
    elsewhere.ok("backup", "restore", str(backup), "--force")


@pytest.mark.parametrize("homes", BACKENDS, indirect=True)
def test_verify_exits_2_on_a_master_key_mismatch_and_checks_hashes_without_a_key(
    homes: list[Home], tmp_path: Path
) -> None:
    site, _ = homes
    site.ok("init")
    site.create_record(PATIENTS[0].ins)
    backup = tmp_path / "backup"
    site.ok("backup", "create", "--to", str(backup))
    other = {"OPENDMP_MASTER_KEY": MasterKey.generate().to_base64()}

    refused = site("backup", "verify", str(backup), env=other)
    hashes_only = site("backup", "verify", str(backup), "--without-master-key", env=other)

    assert refused.exit_code == 2
    lines = refused.stderr.splitlines()
    assert lines[0].startswith("FAIL master key mismatch: this backup needs master key ")
    assert lines[-1].startswith("backup NOT verified, 1 failure(s): ")
    assert hashes_only.exit_code == 0, hashes_only.stderr
    assert "(hashes only)" in hashes_only.stdout


def test_a_folder_in_use_and_an_unfinished_backup_are_refused_in_one_line(
    tmp_path: Path,
) -> None:
    site = Home(tmp_path / "site", f"sqlite+aiosqlite:///{tmp_path / 'site' / 'opendmp.db'}")
    site.ok("init")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "manifest.txt").write_text("not ours")

    assert_one_line_error(site("backup", "create", "--to", str(taken)), "backup-dir-not-empty")
    assert_one_line_error(site("backup", "verify", str(taken)), "backup-incomplete")
    assert_one_line_error(site("backup", "restore", str(taken)), "backup-incomplete")


@pytest.mark.skipif(PG_URL is None, reason="needs OPENDMP_TEST_DATABASE_URL (PostgreSQL)")
@pytest.mark.parametrize("homes", ["postgresql"], indirect=True)
def test_a_missing_or_older_pg_dump_is_refused_before_the_folder_is_touched(
    homes: list[Home], tmp_path: Path
) -> None:
    site, _ = homes
    site.ok("init")
    empty = tmp_path / "no-tools"
    empty.mkdir()
    old = tmp_path / "old-tools"
    old.mkdir()
    (old / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    (old / "pg_dump").chmod(0o700)
    backup = tmp_path / "backup"

    missing = site("backup", "create", "--to", str(backup), "--pg-bin", str(empty))
    older = site("backup", "create", "--to", str(backup), "--pg-bin", str(old))

    assert_one_line_error(missing, "pg-tool-missing")
    assert_one_line_error(older, "pg-tool-too-old")
    assert "version 9, older than the PostgreSQL server" in older.stderr
    assert not backup.exists()


def test_restore_refuses_before_writing_anything(tmp_path: Path) -> None:
    site = Home(tmp_path / "site", f"sqlite+aiosqlite:///{tmp_path / 'site' / 'opendmp.db'}")
    site.ok("init")
    site.create_record(PATIENTS[1].ins)
    backup = tmp_path / "backup"
    site.ok("backup", "create", "--to", str(backup))
    target = tmp_path / "elsewhere"
    elsewhere = Home(target, f"sqlite+aiosqlite:///{target / 'opendmp.db'}")
    (target / "keys").mkdir(parents=True, mode=0o700)
    other = {"OPENDMP_MASTER_KEY": MasterKey.generate().to_base64()}

    wrong_key = elsewhere("backup", "restore", str(backup), env=other)
    shutil.copy(site.folder / "keys" / "master.key", target / "keys" / "master.key")
    manifest = json.loads((backup / "manifest.json").read_text())
    (backup / "manifest.json").write_text(
        json.dumps(manifest | {"database": manifest["database"] | {"revision": "9999_future"}})
    )
    future = elsewhere("backup", "restore", str(backup))
    (backup / "manifest.json").write_text(json.dumps(manifest))
    (backup / manifest["keyring"][0]["file"]).write_text("{}")
    damaged = elsewhere("backup", "restore", str(backup))

    assert_one_line_error(wrong_key, "master-key-mismatch")
    assert_one_line_error(future, "backup-schema-unknown")
    assert_one_line_error(damaged, "backup-damaged")
    assert "was altered" in damaged.stderr and "nothing was restored" in damaged.stderr
    # Nothing restored: no key file, no blob, the database file empty (made at start-up).
    assert not (target / "keys" / "keyring").exists()
    assert not any((target / "blobs").iterdir())
    assert (target / "opendmp.db").stat().st_size == 0
