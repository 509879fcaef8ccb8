"""Searches on a read replica (storage/replica.py, docs/database.md "Read replica"): a real
streaming replica, built by the test from a throwaway primary (Debian's PostgreSQL
binaries), never the machine's shared server.

The search's rows come from the replica when it has replayed what the primary's transaction
sees; the access decision and the audit event stay on the primary; a replica that lags
(replay paused) is not used, so a document deposited a moment ago is found all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import upgrade
from tests.conftest import Clock
from tests.factories import patient_actor
from tests.faults.postgres_cluster import postgres_bin, throwaway_cluster
from tests.services.document_support import deposit, new_patient_record

BIN = postgres_bin()
pytestmark = pytest.mark.skipif(BIN is None, reason="needs Debian's PostgreSQL binaries")


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[str, str]]:
    assert BIN is not None
    with (
        throwaway_cluster(BIN) as primary,
        throwaway_cluster(BIN, replica_of=primary) as replica,
    ):
        yield primary.url, replica.url


@pytest.fixture
async def engines(clusters: tuple[str, str]) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    primary, replica = make_engine(clusters[0], pool_size=2), make_engine(clusters[1], pool_size=2)
    await upgrade(primary)
    yield primary, replica
    await primary.dispose()
    await replica.dispose()


async def _caught_up(primary: AsyncEngine, replica: AsyncEngine) -> None:
    async with primary.connect() as conn:
        position = (await conn.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar_one()
    for _ in range(200):
        async with replica.connect() as conn:
            done = (
                await conn.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:p AS text) AS pg_lsn)"),
                    {"p": position},
                )
            ).scalar_one()
        if done:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica did not catch up")


async def _replay(replica: AsyncEngine, *, paused: bool) -> None:
    function = "pg_wal_replay_pause" if paused else "pg_wal_replay_resume"
    async with replica.connect() as conn:
        await conn.execute(text(f"SELECT {function}()"))


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _reads_documents(seen: list[str]) -> bool:
    return any("FROM document" in s and s.lstrip().startswith("SELECT") for s in seen)


def _writes_audit(seen: list[str]) -> bool:
    return any("INSERT INTO audit_event" in s for s in seen)


async def test_searches_read_on_a_caught_up_replica_and_fall_back_when_it_lags(
    engines: tuple[AsyncEngine, AsyncEngine], tmp_path: Path
) -> None:
    primary, replica = engines
    ctx = ServiceContext(
        sessions=make_sessionmaker(primary),
        blobs=EncryptedBlobs(FilesystemBlobStore(tmp_path)),
        master_key=MasterKey.generate(),
        keyring=Keyring(tmp_path / "keys"),
        default_ins_oid="1.2.250.1.213.1.4.10",
        clock=Clock(),
        replica=make_sessionmaker(replica),
    )
    ins = await new_patient_record(ctx)
    first = await deposit(ctx, ins)
    await _caught_up(primary, replica)

    async def search() -> set[Any]:
        page = await documents.search_documents(
            ctx, actor=patient_actor(ins), ins=ins, query=DocumentQuery()
        )
        return {item.id for item in page.items}

    with statements(primary) as on_primary, statements(replica) as on_replica:
        assert await search() == {first.id}
    assert _reads_documents(on_replica) and not _reads_documents(on_primary)
    assert _writes_audit(on_primary) and not _writes_audit(on_replica)

    await _replay(replica, paused=True)
    try:
        second = await deposit(ctx, ins)  # not on the replica yet
        with statements(primary) as on_primary, statements(replica) as on_replica:
            assert await search() == {first.id, second.id}
        assert _reads_documents(on_primary) and not _reads_documents(on_replica)
        assert _writes_audit(on_primary)
    finally:
        await _replay(replica, paused=False)

    await _caught_up(primary, replica)
    with statements(replica) as on_replica:
        assert await search() == {first.id, second.id}
    assert _reads_documents(on_replica)
