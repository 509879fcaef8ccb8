"""Shared fixtures: a real database (SQLite always, PostgreSQL when configured), migrated
with Alembic, cleaned between tests; a real blob store in a temporary folder; a clock the
tests can move.

Integration tests take the ``ctx`` fixture and run once per database:
``OPENDMP_TEST_DATABASE_URL=postgresql+asyncpg://…`` adds the PostgreSQL run.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.services.context import ServiceContext
from opendmp.services.passwords import configure_password_hasher
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import upgrade
from opendmp.storage.models import Base

PG_URL = os.environ.get("OPENDMP_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """argon2id at production cost takes ~220 ms; every record creation hashes a one-time
    password, so the suite uses tiny parameters (tests of the cost itself restore them)."""
    configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    yield
    configure_password_hasher(None)


class Clock:
    """A controllable UTC clock: ``clock.advance(days=...)``."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


# One PostgreSQL schema per test session: concurrent runs on one database never collide.
PG_SCHEMA = f"opendmp_test_{os.getpid()}"


async def _create_schema(url: str, schema: str, *, drop: bool = False) -> None:
    admin = make_engine(url, pool_size=1)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if not drop:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def engines(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, AsyncEngine]]:
    found: dict[str, AsyncEngine] = {}
    sqlite_file = tmp_path_factory.mktemp("db") / "opendmp.db"
    found["sqlite"] = make_engine(f"sqlite+aiosqlite:///{sqlite_file}")
    if PG_URL:
        await _create_schema(PG_URL, PG_SCHEMA)
        found["postgresql"] = make_engine(PG_URL, pool_size=5, schema=PG_SCHEMA)
    for engine in found.values():
        await upgrade(engine)
    yield found
    for engine in found.values():
        await engine.dispose()
    if PG_URL:
        await _create_schema(PG_URL, PG_SCHEMA, drop=True)


async def clean(engine: AsyncEngine) -> None:
    """Empty every table and restore the system audit chain, as after a fresh migration."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            await conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f'DELETE FROM "{name}"'))
        await conn.execute(
            text("INSERT INTO audit_chain (chain, seq, hash) VALUES ('system', 0, :h)"),
            {"h": "0" * 64},
        )


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, engines: dict[str, AsyncEngine]) -> AsyncEngine:
    chosen = engines[request.param]
    await clean(chosen)
    return chosen


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def blob_root(tmp_path: Path) -> Path:
    root = tmp_path / "blobs"
    root.mkdir()
    return root


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def ctx(
    engine: AsyncEngine, blob_root: Path, master_key: MasterKey, clock: Clock
) -> ServiceContext:
    return ServiceContext(
        sessions=make_sessionmaker(engine),
        blobs=EncryptedBlobs(FilesystemBlobStore(blob_root)),
        master_key=master_key,
        keyring=Keyring(blob_root.parent / "keys"),
        default_ins_oid="1.2.250.1.213.1.4.10",
        clock=clock,
    )
