"""Shared fixtures: a real database (SQLite always, PostgreSQL when configured), migrated
with Alembic, cleaned between tests; a real blob store in a temporary folder; a clock the
tests can move.

Integration tests take the ``ctx`` fixture and run once per database:
``OPENDMP_TEST_DATABASE_URL=postgresql+asyncpg://…`` adds the PostgreSQL run. Tests of the
HTTP app take ``runtime``/``app``: the app wired by ``build_runtime`` from development
settings (a module overrides ``app_settings_overrides`` to change them), over the same test
database and clock, so they too run once per database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, build_runtime, create_app
from opendmp.blobs import BlobStore, EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.cda.pdf import make_pdf
from opendmp.config import Settings, load_settings
from opendmp.devtools import demo
from opendmp.services.accounts.passwords import configure_password_hasher
from opendmp.services.core.context import ServiceContext
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import upgrade
from opendmp.storage.models import Base
from tests.auth_support import AUDIENCE, PSC, PSC_ISSUER
from tests.record_scope import StatementCapture, capturing
from tests.s3_support import TEST_CREDENTIALS, new_store_url, open_test_store, start_moto_server

PG_URL = os.environ.get("OPENDMP_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# Tests that must not run at the same time as each other, or whose module-scoped fixture is
# too dear to build on every worker: under pytest-xdist (`make pytest`: --dist loadgroup)
# each group runs on one worker, its tests one after the other (README, "Running the tests").
XDIST_GROUPS = {
    # A PostgreSQL cluster stopped mid-deposit, a tmpfs filled up, an SMTP relay refusing,
    # a lost COMMIT answer, a kill -9 half-way through a key rotation: timing-sensitive.
    "tests/faults/": "faults",
    "tests/services/operations/test_key_rotation_kill.py": "faults",
    "tests/services/operations/test_shredding.py": "faults",
    "tests/storage/test_read_replica.py": "faults",  # a throwaway primary and its replica
    # One Chromium at a time, each with its own live server and SMTP relay.
    "tests/web/test_desk_browser.py": "browser",
    "tests/web/test_patient_browser.py": "browser",
    "tests/web/test_pro_browser.py": "browser",
    "tests/web/test_demo_login.py": "browser",
    "tests/web/test_site_browser.py": "browser",
    # A module-scoped `opendmp demo` / `opendmp init` / migrated databases: built once.
    "tests/api/test_docs_examples.py": "docs-examples",
    "tests/storage/test_home_modes.py": "home-modes",
    "tests/storage/test_document_filter.py": "document-filter",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "blob_backends: the module's tests run on every blob store (fixture blob_store)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked ``blob_backends`` runs each test that uses the blob store (``ctx``
    or ``blob_store``) on the filesystem and on S3 (moto's server on loopback)."""
    if metafunc.definition.get_closest_marker("blob_backends") is None:
        return
    if "blob_store" in metafunc.fixturenames:
        metafunc.parametrize("blob_store", BLOB_BACKENDS, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix()
        for prefix, group in XDIST_GROUPS.items():
            if where.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """argon2id at production cost takes ~220 ms; every record creation hashes a one-time
    password, so the suite uses tiny parameters (tests of the cost itself restore them)."""
    configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    yield
    configure_password_hasher(None)


@pytest.fixture(autouse=True, scope="session")
def _demo_letters_rendered_once() -> Iterator[None]:
    """``seed_demo`` (demo.py) renders eleven letters with ``make_pdf``, which parses two
    TrueType fonts every time (~0.4 s a letter, ~5 s a seeding); its output is byte-for-byte
    the same for the same arguments (cda/pdf.py), so each distinct letter is rendered once
    per test process and the same bytes are reused (the tests of ``make_pdf`` call it
    directly, unchanged)."""
    real = make_pdf

    @functools.cache
    def render(title: str, lines: tuple[str, ...], created: dt.datetime | None) -> bytes:
        return real(title, list(lines), created=created)

    def rendered_once(title: str, lines: list[str], *, created: dt.datetime | None = None) -> bytes:
        return render(title, tuple(lines), created)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "make_pdf", rendered_once)
        yield


@pytest.fixture(scope="session")
def _statement_capture() -> Iterator[StatementCapture]:
    with capturing() as capture:
        yield capture


@pytest.fixture(autouse=True)
def _record_id_rule(_statement_capture: StatementCapture) -> Iterator[None]:
    """Every statement a test issues on a per-record table names its record id, or is one
    of the allowed global queries (tests/record_scope.py, docs/database.md)."""
    _statement_capture.take()
    yield
    offending = _statement_capture.take()
    if offending:
        listed = "\n".join(f"- {sql[:600]}" for sql in dict.fromkeys(offending))
        pytest.fail(f"statements on per-record tables without a record id:\n{listed}")


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


def _emptying_statements(dialect: str) -> list[str]:
    """The statements that empty every table, referencing tables first. On PostgreSQL one
    ``DO`` block deletes the rows and restarts the sequences (as ``TRUNCATE … RESTART
    IDENTITY`` would): TRUNCATE of ~170 relations (the 16 partitions of each per-record
    table, their indexes) rewrites their files and costs ~0.5 s a test; the DELETEs of the
    few rows a test wrote cost milliseconds."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if dialect != "postgresql":
        return [f'DELETE /* global: tests */ FROM "{name}"' for name in tables]
    names = ", ".join(f"'{name}'" for name in tables)
    return [
        f"""DO $$
DECLARE name text;
BEGIN
  FOREACH name IN ARRAY ARRAY[{names}] LOOP
    EXECUTE format('DELETE FROM %I', name);
  END LOOP;
  FOR name IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() LOOP
    PERFORM setval(format('%I', name), 1, false);
  END LOOP;
END $$"""
    ]


async def clean(engine: AsyncEngine) -> None:
    """Empty every table and restore the system audit chain, as after a fresh migration."""
    async with engine.begin() as conn:
        for statement in _emptying_statements(engine.dialect.name):
            await conn.execute(text(statement))
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


BLOB_BACKENDS = ["filesystem", "s3"]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server of this test session (one per xdist worker), on loopback; the fake
    AWS credentials are in the environment meanwhile (tests/s3_support.py)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TEST_CREDENTIALS.items():
            patch.setenv(name, value)
        yield start_moto_server()


@pytest.fixture
def s3_store_url(s3_endpoint: str) -> str:
    """``s3://<fresh bucket>/blobs`` on the session's moto server."""
    return new_store_url(s3_endpoint)


@pytest.fixture
async def blob_store(request: pytest.FixtureRequest, blob_root: Path) -> AsyncIterator[BlobStore]:
    """The blob store under test: the filesystem (``blob_root``) unless a test or module
    asks for ``s3`` (marker ``blob_backends``: both)."""
    backend = getattr(request, "param", "filesystem")
    if backend == "filesystem":
        yield FilesystemBlobStore(blob_root)
        return
    assert backend == "s3", backend
    store = open_test_store(request.getfixturevalue("s3_endpoint"))
    yield store
    await store.close()


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def ctx(
    engine: AsyncEngine, blob_root: Path, blob_store: BlobStore, master_key: MasterKey, clock: Clock
) -> ServiceContext:
    return ServiceContext(
        sessions=make_sessionmaker(engine),
        blobs=EncryptedBlobs(blob_store),
        master_key=master_key,
        keyring=Keyring(blob_root.parent / "keys"),
        default_ins_oid="1.2.250.1.213.1.4.10",
        clock=clock,
    )


def wall_clock() -> dt.datetime:
    """The real time, for tests that mint tokens at ``datetime.now``."""
    return dt.datetime.now(dt.UTC)


def app_settings(home: Path, **overrides: Any) -> Settings:
    """Development settings of a test app in ``home``: the PSC issuer trusted, no worker."""
    jwks = home / "psc-jwks.json"
    jwks.write_text(json.dumps(PSC.public_jwks()))
    return load_settings(
        home=home,
        mode="development",
        oidc_issuers=[{"issuer": PSC_ISSUER, "audience": AUDIENCE, "jwks_file": jwks}],
        run_worker_in_process=False,
        **overrides,
    )


async def runtime_on(
    engine: AsyncEngine,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    blob_root: Path | None = None,
) -> Runtime:
    """The runtime ``build_runtime`` wires from ``settings``, over the test database (and
    over ``blob_root`` instead of the settings' blob folder when given)."""
    built = build_runtime(settings, create_key=True)
    await built.engine.dispose()  # the test database instead (both backends)
    ctx = dataclasses.replace(built.ctx, sessions=make_sessionmaker(engine), clock=clock)
    if blob_root is not None:
        ctx.blobs = EncryptedBlobs(FilesystemBlobStore(blob_root))
    return Runtime(settings, engine, ctx)


@pytest.fixture
def app_settings_overrides() -> dict[str, Any]:
    """Settings of the ``runtime`` fixture beyond ``app_settings``; modules override it."""
    return {}


@pytest.fixture
def _only_the_test_database_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's settings come from the test alone, not from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("OPENDMP_") and name != "OPENDMP_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
async def runtime(
    engine: AsyncEngine,
    clock: Clock,
    tmp_path: Path,
    blob_root: Path,
    app_settings_overrides: dict[str, Any],
    _only_the_test_database_is_configured: None,
) -> Runtime:
    """The app's runtime; its blobs are in ``blob_root`` (the settings' blob folder, unless
    a test overrides that fixture)."""
    settings = app_settings(tmp_path, **app_settings_overrides)
    return await runtime_on(engine, settings, clock, blob_root)


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime.settings, runtime)
