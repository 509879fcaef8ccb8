"""Fault: the process running ``opendmp keys rotate`` is killed (SIGKILL) half-way through
re-wrapping the data keys (docs/security.md, "Crypto-shredding").

Then every record must still decrypt with what is on disk, nothing is half-written (every
key file is whole, every row's KEK exists), ``keys rotate`` run again finishes the job, and
the audit chains verify. On both databases (PostgreSQL: a database of its own, since the
command runs in another process).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from opendmp.app import Runtime, build_runtime
from opendmp.blobs import MasterKey
from opendmp.config import load_settings
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.operations.health import check_master_key, prepare_keys
from opendmp.services.records import lifecycle as records
from opendmp.storage.migrate import upgrade
from tests.conftest import BACKENDS, PG_URL
from tests.factories import OPERATOR, make_ins, make_professional, new_record, patient_actor
from tests.factories import submission as make_submission

RECORDS = 40
SRC = Path(__file__).resolve().parents[3] / "src"


@dataclass
class Home:
    path: Path
    env: dict[str, str]

    def settings_overrides(self) -> dict[str, object]:
        overrides: dict[str, object] = {"home": self.path, "mode": "development"}
        if "OPENDMP_DATABASE_URL" in self.env:
            overrides["database_url"] = self.env["OPENDMP_DATABASE_URL"]
        return overrides

    def runtime(self) -> Runtime:
        return build_runtime(load_settings(**self.settings_overrides()), create_key=True)

    def command(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", "from opendmp.cli import main; main()", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, *args: str) -> str:
        process = self.command(*args)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (out, err)
        return out.decode()


def _pg_admin_url() -> str:
    assert PG_URL is not None
    return PG_URL.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(params=BACKENDS)
async def home(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Home]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update(
        OPENDMP_HOME=str(tmp_path / "home"),
        OPENDMP_KEY_ROTATION_BATCH="1",  # one commit per record: a long window to land in
        PYTHONPATH=f"{SRC}{os.pathsep}{env.get('PYTHONPATH', '')}",
    )
    database = None
    if request.param == "postgresql":
        database = f"opendmp_kill_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(_pg_admin_url())
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        assert PG_URL is not None
        env["OPENDMP_DATABASE_URL"] = PG_URL.rsplit("/", 1)[0] + f"/{database}"
    yield Home(tmp_path / "home", env)
    if database is not None:
        admin = await asyncpg.connect(_pg_admin_url())
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def populate(home: Home) -> dict[str, tuple[Ins, uuid.UUID, bytes]]:
    rt = home.runtime()
    try:
        await upgrade(rt.engine)
        await prepare_keys(rt.ctx)
        stored = {}
        for i in range(RECORDS):
            ins, content = make_ins(), f"document of record {i}".encode()
            await records.create_record(
                rt.ctx, actor=OPERATOR, request=new_record(ins, rt.ctx.now())
            )
            doc = await documents.deposit_document(
                rt.ctx,
                actor=make_professional(),
                ins=ins,
                submission=make_submission(rt.ctx.now(), content),
            )
            stored[str(ins)] = (ins, doc.id, content)
        return stored
    finally:
        await rt.close()


async def epochs_of_rows(home: Home) -> dict[int | None, int]:
    """Rows by epoch, read without ever waiting for a lock: a stopped writer may hold the
    SQLite write lock (OpenDMP's own sessions begin with BEGIN IMMEDIATE)."""
    query = "SELECT kek_epoch, count(*) FROM record GROUP BY kek_epoch"
    url = home.env.get("OPENDMP_DATABASE_URL")
    if url is None:
        with sqlite3.connect(f"file:{home.path / 'opendmp.db'}?mode=ro", uri=True) as db:
            return dict(db.execute(query).fetchall())
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return {row[0]: row[1] for row in await connection.fetch(query)}
    finally:
        await connection.close()


async def kill_mid_rotation(home: Home) -> dict[int | None, int]:
    """Run ``keys rotate`` and SIGKILL it once some rows, not all, are re-wrapped.

    Once the rows are seen moving, the process is stopped (SIGSTOP) and, if the rotation is
    still half-way, killed: the kill lands between two commits of the re-wrapping. Returns
    the rows by epoch at the kill; retries if a rotation ran to its end between two looks.
    """
    for _attempt in range(5):
        before = await epochs_of_rows(home)
        process = home.command("keys", "rotate")
        try:
            while process.poll() is None:
                time.sleep(0.003)
                if await epochs_of_rows(home) == before:
                    continue
                process.send_signal(signal.SIGSTOP)
                now = await epochs_of_rows(home)
                if len(now) > 1:
                    process.kill()
                    process.wait(timeout=30)
                    return now
                process.send_signal(signal.SIGCONT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    pytest.fail("the rotation always finished before it could be caught half-way")


async def read_everything(rt: Runtime, stored: dict[str, tuple[Ins, uuid.UUID, bytes]]) -> None:
    for ins, doc_id, content in stored.values():
        _, read = await documents.read_document(
            rt.ctx, actor=patient_actor(ins), ins=ins, document_id=doc_id
        )
        assert read == content


def assert_key_files_whole(key_dir: Path) -> set[str]:
    """Every key file parses; returns the master key ids the keyring's files name."""
    for name in ("master.key", "master.key.previous"):
        if (key_dir / name).exists():
            MasterKey.from_base64((key_dir / name).read_text())
    named = set()
    for path in (key_dir / "keyring").glob("kek-*.json"):
        document = json.loads(path.read_text())
        named.add(document["master_key_id"])
    return named


async def test_a_key_rotation_killed_half_way_loses_nothing_and_can_be_run_again(
    home: Home,
) -> None:
    stored = await populate(home)
    key_dir = home.path / "keys"
    at_kill = await kill_mid_rotation(home)
    assert sum(at_kill.values()) == RECORDS
    assert len(at_kill) == 2, at_kill  # some rows on the old epoch, some on the new one

    # Restarted as the server would be: the start-up check passes and everything reads,
    # before anything finishes the rotation.
    restarted = home.runtime()
    try:
        assert restarted.ctx.previous_master_key is not None
        await check_master_key(restarted.ctx)
        named = assert_key_files_whole(key_dir)
        assert not list((key_dir / "keyring").glob(".*"))  # no temp file left behind
        assert named <= {restarted.ctx.master_key.key_id, restarted.ctx.previous_master_key.key_id}
        for epoch in at_kill:
            assert epoch is not None and restarted.ctx.keyring.path(epoch).exists()
        await read_everything(restarted, stored)
    finally:
        await restarted.close()

    output = home.run("keys", "rotate")

    assert "resumed an interrupted rotation" in output
    assert not (key_dir / "master.key.previous").exists()
    finished = home.runtime()
    try:
        rows = await epochs_of_rows(home)
        [epoch] = rows
        assert rows == {epoch: RECORDS}
        assert finished.ctx.keyring.epochs() == [epoch]
        assert assert_key_files_whole(key_dir) == {finished.ctx.master_key.key_id}
        await check_master_key(finished.ctx)
        await read_everything(finished, stored)
    finally:
        await finished.close()
    assert "audit trail intact" in home.run("audit", "verify")
