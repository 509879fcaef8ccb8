"""A database of its own for each backup test: ``pg_dump`` copies a whole PostgreSQL
database, so the backup tests cannot use the shared test schema (tests/conftest.py); on
PostgreSQL they create a database on the test server and drop it at the end, on SQLite a
file in the test's folder."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

PG_URL = os.environ.get("OPENDMP_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


async def create_database(backend: str, folder: Path) -> str:
    """The URL of a new, empty database (no schema) for ``backend``."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'opendmp.db'}"
    assert PG_URL is not None
    name = f"opendmp_backup_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    assert PG_URL is not None
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            name = make_url(url).database
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def scratch_databases() -> set[str]:
    """The scratch databases ``backup verify`` left on the test server (none, it must drop
    them); empty without PostgreSQL."""
    if PG_URL is None:
        return set()
    admin = create_async_engine(PG_URL)
    try:
        async with admin.connect() as conn:
            rows = await conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'opendmp_verify_%'")
            )
            return {str(r[0]) for r in rows}
    finally:
        await admin.dispose()


async def scratch_left_since(before: set[str], *, wait: float = 120.0) -> set[str]:
    """The scratch databases created since ``before`` that are still there once the
    verifications other test sessions may be running on the same server had time to end:
    another session's is dropped when its verification ends, a leaked one stays."""
    deadline = asyncio.get_running_loop().time() + wait
    while (left := await scratch_databases() - before) and (
        asyncio.get_running_loop().time() < deadline
    ):
        await asyncio.sleep(0.5)
    return left


def rewrite_manifest_hash(folder: Path, key: str) -> None:
    """Make the manifest agree with a blob file changed on purpose (so that only the
    decryption can notice the change)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / "blobs" / key).read_bytes()
    for entry in manifest["blobs"]:
        if entry["key"] == key:
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            entry["size"] = len(data)
    (folder / "manifest.json").write_text(json.dumps(manifest))
