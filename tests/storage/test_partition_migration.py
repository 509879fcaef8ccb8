"""Migration 0011 on a database that already holds data: the per-record tables become
hash-partitioned by record id on PostgreSQL, every row kept; the downgrade gives the plain
tables back; on SQLite it changes nothing (docs/database.md)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.services.core.context import ServiceContext
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import alembic_config, current_revision, upgrade
from opendmp.storage.models import Base
from opendmp.storage.scope import PARTITIONED_TABLES, PARTITIONS
from tests.conftest import PG_URL, Clock, _create_schema
from tests.factories import make_professional
from tests.services.document_support import deposit, grant, new_patient_record

SCHEMA = f"opendmp_partition_{os.getpid()}"
# The tables migration 0011 partitioned (later migrations create theirs partitioned).
PARTITIONED_BY_0011 = tuple(t for t in PARTITIONED_TABLES if t != "delegation")
COUNTED = (*PARTITIONED_BY_0011, "record", "patient")


@pytest.fixture
async def old_database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A PostgreSQL schema at migration 0010 (the head before partitioning)."""
    if not PG_URL:
        pytest.skip("PostgreSQL only (OPENDMP_TEST_DATABASE_URL)")
    await _create_schema(PG_URL, SCHEMA)
    engine = make_engine(PG_URL, pool_size=2, schema=SCHEMA)
    await upgrade(engine, "0010")
    yield engine
    await engine.dispose()
    await _create_schema(PG_URL, SCHEMA, drop=True)


# The columns later migrations add to tables 0011 does not touch: today's services, which
# fill the old schema, read them (migration 0013_directory: professional).
LATER_COLUMNS = {
    "professional": (
        "listing_id uuid",
        "listed_at timestamptz",
        "active boolean NOT NULL DEFAULT true",
        "town varchar(128)",
        "postal_code varchar(16)",
        "family_key varchar(128) NOT NULL DEFAULT ''",
        "family_key_2 varchar(128) NOT NULL DEFAULT ''",
        "family_key_3 varchar(128) NOT NULL DEFAULT ''",
        "name_key varchar(255) NOT NULL DEFAULT ''",
        "place_key varchar(512) NOT NULL DEFAULT ''",
    )
}


async def _add_later_columns(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table, columns in LATER_COLUMNS.items():
            added = ", ".join(f"ADD COLUMN {column}" for column in columns)
            await conn.execute(text(f"ALTER TABLE {table} {added}"))


async def _fill(engine: AsyncEngine, root: Path) -> None:
    ctx = ServiceContext(
        sessions=make_sessionmaker(engine),
        blobs=EncryptedBlobs(FilesystemBlobStore(root / "blobs")),
        master_key=MasterKey.generate(),
        keyring=Keyring(root / "keys"),
        default_ins_oid="1.2.250.1.213.1.4.10",
        clock=Clock(),
    )
    for _ in range(3):
        ins = await new_patient_record(ctx)
        await grant(ctx, ins, make_professional())
        await deposit(ctx, ins)
        await deposit(ctx, ins)


async def _contents(engine: AsyncEngine) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for table in COUNTED:
            rows = await conn.execute(
                text(f'SELECT /* global: migration */ t::text FROM "{table}" t ORDER BY 1')
            )
            found[table] = list(rows.scalars())
    return found


async def _partitions(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, count(i.inhrelid) FROM pg_partitioned_table p "
                "JOIN pg_class c ON c.oid = p.partrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = :schema "
                "LEFT JOIN pg_inherits i ON i.inhparent = c.oid GROUP BY c.relname"
            ),
            {"schema": SCHEMA},
        )
        return {name: int(count) for name, count in rows.all()}


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def test_an_existing_database_is_partitioned_with_every_row_and_back(
    old_database: AsyncEngine, tmp_path: Path
) -> None:
    await _add_later_columns(old_database)
    await _fill(old_database, tmp_path)
    before = await _contents(old_database)
    assert all(before[t] for t in ("document", "audit_event", "authorization", "consent"))
    assert await _partitions(old_database) == {}

    # To 0011 itself: later migrations (0013_directory) are not about partitions.
    await upgrade(old_database, "0011")
    assert await current_revision(old_database) == "0011"
    assert await _partitions(old_database) == dict.fromkeys(PARTITIONED_BY_0011, PARTITIONS)
    assert await _contents(old_database) == before
    # The rows are spread over the partitions by record: three records, several partitions.
    async with old_database.connect() as conn:
        used = (
            await conn.execute(
                text("SELECT /* global: migration */ count(DISTINCT tableoid) FROM document")
            )
        ).scalar_one()
    assert 1 <= used <= 3

    await _downgrade(old_database, "0010")
    assert await _partitions(old_database) == {}
    assert await _contents(old_database) == before


async def test_on_sqlite_the_migration_changes_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0010")
        schema = "SELECT sql FROM sqlite_master ORDER BY name"
        async with engine.connect() as conn:
            before = list((await conn.execute(text(schema))).scalars())
        await upgrade(engine, "0011")
        async with engine.connect() as conn:
            after = list((await conn.execute(text(schema))).scalars())
        assert await current_revision(engine) == "0011"
        assert after == before
    finally:
        await engine.dispose()


_SCHEMA_SHAPE = text(
    "SELECT 'constraint ' || cl.relname || ' ' || co.conname || ' ' "
    "|| pg_get_constraintdef(co.oid) "
    "FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid "
    "JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = :schema "
    "WHERE co.conparentid = 0 "
    "UNION SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i "
    "JOIN pg_class cl ON cl.oid = i.indrelid AND cl.relispartition = false "
    "JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = :schema "
    "UNION SELECT 'partition ' || cl.relname || ' ' || pg_get_expr(cl.relpartbound, cl.oid) "
    "FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = :schema "
    "WHERE cl.relispartition AND cl.relkind IN ('r', 'p')"
)


async def _shape(engine: AsyncEngine, schema: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(_SCHEMA_SHAPE, {"schema": schema})
        return {row.replace(f"{schema}.", "") for row in rows.scalars()}


async def test_create_all_gives_the_schema_the_migrations_give(old_database: AsyncEngine) -> None:
    await upgrade(old_database)
    assert PG_URL is not None
    other = f"{SCHEMA}_metadata"
    await _create_schema(PG_URL, other)
    engine = make_engine(PG_URL, pool_size=1, schema=other)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        migrated = {s for s in await _shape(old_database, SCHEMA) if "alembic_version" not in s}
        assert "partition document_p15 FOR VALUES WITH (modulus 16, remainder 15)" in migrated
        assert any("pk_document PRIMARY KEY (id, record_id)" in s for s in migrated)
        assert await _shape(engine, other) == migrated
    finally:
        await engine.dispose()
        await _create_schema(PG_URL, other, drop=True)
