"""The database part of a backup (docs/operations.md, "Backups"): a consistent copy and
what that copy references, a scratch database to restore it into, and the restore itself.

* PostgreSQL: ``pg_dump --format=custom`` on a snapshot exported by a ``REPEATABLE READ``
  transaction, which reads the blob keys and key epochs the dump references in that same
  snapshot; ``pg_restore`` into a scratch database (created, then dropped) or the
  configured one. The client tools must be at least the server's major version.
* SQLite: the online-backup API (``sqlite3.Connection.backup``), one step under one read
  transaction, the copy switched to a rollback journal so that it is one self-contained
  file.

The connection settings reach ``pg_dump`` and ``pg_restore`` through libpq's ``PG*``
environment variables, never on their command line (a password there is visible to every
user of the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Select, func, inspect, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from opendmp.domain.errors import OpenDMPError
from opendmp.storage import models as m
from opendmp.storage.private_files import create_private_file
from opendmp.storage.scope import global_query

__all__ = [
    "DumpedDatabase",
    "PgTool",
    "SnapshotFacts",
    "backend_of",
    "check_dump_tool",
    "database_is_empty",
    "dump_database",
    "find_pg_tool",
    "restore_postgresql",
    "restore_sqlite",
    "scratch_database",
    "snapshot_facts",
    "sqlite_path",
]

T = TypeVar("T")
POSTGRESQL_DUMP = "database.pgdump"
SQLITE_COPY = "database.sqlite"
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
# Where Debian and Ubuntu install each major version's client tools side by side.
_DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"


class BackupError(OpenDMPError):
    """A backup, a verification or a restore cannot go on (one line, a stable code)."""


@dataclass(frozen=True, slots=True)
class SnapshotFacts:
    """What the copied database references, read in the copy's own snapshot."""

    revision: str | None
    blob_keys: frozenset[str]
    epochs: frozenset[int]  # KEK epochs some data key is wrapped by, and the current one
    master_key_ids: frozenset[str]  # of rows wrapped by the master key itself (no epoch)
    records: int
    documents: int
    audit_events: int


@dataclass(frozen=True, slots=True)
class DumpedDatabase:
    backend: str  # "postgresql" | "sqlite"
    file: str  # its name in the backup folder
    facts: SnapshotFacts
    tool_version: str | None = None  # pg_dump's, for pg_restore's check


@dataclass(frozen=True, slots=True)
class PgTool:
    path: Path
    major: int
    version: str = field(default="")


def backend_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in {"sqlite", "postgresql"}:
        raise BackupError(f"cannot back up a {name} database", code="backup-unsupported-database")
    return name


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupError("the SQLite URL names no file", code="backup-unsupported-database")
    return Path(database)


# --- what a snapshot references -------------------------------------------------------------


async def snapshot_facts(conn: AsyncConnection) -> SnapshotFacts:
    """Read, in ``conn``'s transaction, what the backup must carry for that snapshot."""

    async def scalars(query: Select[Any]) -> list[Any]:
        return list((await conn.execute(query)).scalars())

    with_key = m.Record.wrapped_data_key.is_not(None)
    epochs = await scalars(select(m.Record.kek_epoch).where(with_key).distinct())
    epochs += await scalars(select(m.KeyState.current_epoch))
    masters = await scalars(
        select(m.Record.master_key_id).where(with_key, m.Record.kek_epoch.is_(None)).distinct()
    )

    async def count(model: type[m.Base]) -> int:
        query = global_query(select(func.count()).select_from(model), "backup")
        return int((await conn.execute(query)).scalar_one())

    revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return SnapshotFacts(
        revision=str(revision) if revision is not None else None,
        blob_keys=frozenset(
            str(k) for k in await scalars(global_query(select(m.Document.blob_key), "backup"))
        ),
        epochs=frozenset(int(e) for e in epochs if isinstance(e, int) and e > 0),
        master_key_ids=frozenset(str(k) for k in masters if k),
        records=await count(m.Record),
        documents=await count(m.Document),
        audit_events=await count(m.AuditEvent),
    )


def _plain_engine(url: str | URL) -> AsyncEngine:
    """An engine without OpenDMP's pragmas (a backup copy must stay as it was written)."""
    return create_async_engine(url, pool_size=1, max_overflow=0)


async def _with_connection(url: str | URL, use: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    engine = _plain_engine(url)
    try:
        async with engine.connect() as conn:
            return await use(conn)
    finally:
        await engine.dispose()


# --- PostgreSQL client tools -----------------------------------------------------------------


async def _tool_version(path: Path) -> PgTool | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            str(path),
            "--version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
    except OSError:
        return None
    match = _VERSION_RE.search(out.decode("utf-8", "replace"))
    if proc.returncode != 0 or match is None:
        return None
    return PgTool(path, int(match.group(1)), match.group(0).split()[-1])


async def find_pg_tool(name: str, *, server_major: int, bin_dir: Path | None = None) -> PgTool:
    """The newest ``name`` (pg_dump, pg_restore) found in ``bin_dir`` if given, else in
    Debian's per-version folders and on ``PATH``; refused if absent or older than the
    server (an older client cannot read a newer server's catalogue)."""
    if bin_dir is not None:
        candidates = [bin_dir / name]
    else:
        candidates = [Path(d) / name for d in glob.glob(_DEBIAN_BINARIES)]
        on_path = shutil.which(name)
        if on_path:
            candidates.append(Path(on_path))
    found = [t for t in [await _tool_version(c) for c in candidates if c.is_file()] if t]
    if not found:
        where = str(bin_dir) if bin_dir else f"PATH or {_DEBIAN_BINARIES}"
        raise BackupError(
            f"{name} was not found in {where}: install the PostgreSQL client tools "
            f"(Debian: postgresql-client-{server_major}) or pass --pg-bin",
            code="pg-tool-missing",
        )
    best = max(found, key=lambda t: t.major)
    if best.major < server_major:
        raise BackupError(
            f"{best.path} is version {best.major}, older than the PostgreSQL server "
            f"({server_major}): install postgresql-client-{server_major} or pass --pg-bin",
            code="pg-tool-too-old",
        )
    return best


def libpq_environment(url: str | URL) -> dict[str, str]:
    """The caller's environment plus libpq's ``PG*`` variables for ``url``."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for name, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", str(parsed.port) if parsed.port else None),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value:
            env[name] = value
    return env


async def _run_tool(tool: PgTool, args: list[str], url: str | URL, code: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(tool.path),
        *args,
        env=libpq_environment(url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await proc.communicate()
    if proc.returncode != 0:
        lines = [line for line in errors.decode("utf-8", "replace").splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise BackupError(f"{tool.path.name} failed: {last}", code=code)


async def server_major(conn: AsyncConnection) -> int:
    number = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
    return int(number) // 10000


# --- making the copy ------------------------------------------------------------------------


async def _dump_postgresql(url: str, target: Path, bin_dir: Path | None) -> DumpedDatabase:
    engine = _plain_engine(url)
    try:
        async with engine.connect() as plain:
            conn = await plain.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                tool = await find_pg_tool(
                    "pg_dump", server_major=await server_major(conn), bin_dir=bin_dir
                )
                snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
                create_private_file(target)
                await _run_tool(
                    tool,
                    ["--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
                    url,
                    "pg-dump-failed",
                )
                facts = await snapshot_facts(conn)
    finally:
        await engine.dispose()
    return DumpedDatabase("postgresql", target.name, facts, tool.version)


def _copy_sqlite(source: Path, target: Path) -> None:
    """The online-backup API, in one step: a consistent copy while the server writes."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}", code="database-missing")
    create_private_file(target)
    # Read-write, though it only reads: a WAL database opened read-only fails when its
    # -shm file is absent (no server running).
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_url(path: Path, *, read_only: bool) -> URL:
    query = {"mode": "ro", "uri": "true"} if read_only else {}
    if read_only:
        return make_url(f"sqlite+aiosqlite:///file:{path}").set(query=query)
    return make_url(f"sqlite+aiosqlite:///{path}")


async def _dump_sqlite(url: str, target: Path) -> DumpedDatabase:
    await asyncio.to_thread(_copy_sqlite, sqlite_path(url), target)
    facts = await _with_connection(_sqlite_url(target, read_only=True), snapshot_facts)
    return DumpedDatabase("sqlite", target.name, facts)


async def check_dump_tool(url: str, bin_dir: Path | None) -> None:
    """Refuse early (before the backup folder is touched) when pg_dump will be refused."""
    if backend_of(url) != "postgresql":
        return

    async def check(conn: AsyncConnection) -> None:
        await find_pg_tool("pg_dump", server_major=await server_major(conn), bin_dir=bin_dir)

    await _with_connection(url, check)


async def dump_database(url: str, folder: Path, *, bin_dir: Path | None = None) -> DumpedDatabase:
    """Copy the database at ``url`` into ``folder``; what the copy references."""
    if backend_of(url) == "postgresql":
        return await _dump_postgresql(url, folder / POSTGRESQL_DUMP, bin_dir)
    return await _dump_sqlite(url, folder / SQLITE_COPY)


# --- restoring ------------------------------------------------------------------------------


# Where the database's own schema waits while a restore runs (docs/operations.md).
SET_ASIDE_SCHEMA = "opendmp_before_restore"


async def _set_aside(conn: AsyncConnection) -> None:
    exists = await conn.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": SET_ASIDE_SCHEMA}
    )
    if exists.first() is not None:
        raise BackupError(
            f"schema {SET_ASIDE_SCHEMA} exists: an earlier restore was interrupted; keep it "
            f"(ALTER SCHEMA {SET_ASIDE_SCHEMA} RENAME TO public) or drop it, then restore again",
            code="restore-interrupted-before",
        )
    await conn.execute(text(f"ALTER SCHEMA public RENAME TO {SET_ASIDE_SCHEMA}"))
    await conn.execute(text("CREATE SCHEMA public"))
    await conn.commit()


async def _put_back(conn: AsyncConnection) -> None:
    await conn.execute(text("DROP SCHEMA public CASCADE"))
    await conn.execute(text(f"ALTER SCHEMA {SET_ASIDE_SCHEMA} RENAME TO public"))
    await conn.commit()


async def _drop_set_aside(conn: AsyncConnection) -> None:
    await conn.execute(text(f"DROP SCHEMA {SET_ASIDE_SCHEMA} CASCADE"))
    await conn.commit()


async def restore_postgresql(
    dump: Path, url: str | URL, *, bin_dir: Path | None, dump_major: int | None, clean: bool
) -> None:
    """``pg_restore`` ``dump`` into the database at ``url``, in one transaction; ``clean``
    replaces what the database holds (one that has the schema but no data, or ``--force``).

    Replacing sets the ``public`` schema aside under another name and restores into a new
    one, rather than ``pg_restore --clean``, which cannot drop the keys that partitions
    inherit from their table (docs/database.md). A restore that fails puts the old schema
    back, so the database is as it was; one that succeeds drops it."""

    async def major(conn: AsyncConnection) -> int:
        return await server_major(conn)

    needed = max(await _with_connection(url, major), dump_major or 0)
    tool = await find_pg_tool("pg_restore", server_major=needed, bin_dir=bin_dir)
    # The database name only: host, user and password reach libpq through its environment.
    args = [f"--dbname={make_url(url).database}", "--no-owner", "--no-privileges"]
    args += ["--single-transaction", "--exit-on-error"]
    if not clean:
        await _run_tool(tool, [*args, str(dump)], url, "pg-restore-failed")
        return
    await _with_connection(url, _set_aside)
    try:
        await _run_tool(tool, [*args, str(dump)], url, "pg-restore-failed")
    except BaseException:
        await _with_connection(url, _put_back)
        raise
    await _with_connection(url, _drop_set_aside)


def _restore_sqlite_sync(copy: Path, target: Path) -> None:
    create_private_file(target)
    src = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # replaces every page of the target, under its write lock
        finally:
            dst.close()
    finally:
        src.close()


async def restore_sqlite(copy: Path, target: Path) -> None:
    await asyncio.to_thread(_restore_sqlite_sync, copy, target)


async def database_is_empty(engine: AsyncEngine) -> bool:
    """No record, no audit event (a database fresh from ``opendmp init`` is empty)."""

    async with engine.connect() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table(m.Record.__tablename__)):
            return True  # no schema yet
        for model in (m.Record, m.AuditEvent, m.RecordTombstone):
            query = global_query(select(text("1")).select_from(model).limit(1), "backup")
            if (await conn.execute(query)).first():
                return False
        return True


@contextlib.asynccontextmanager
async def scratch_database(
    backend: str, copy: Path, *, server_url: str, bin_dir: Path | None, dump_major: int | None
) -> AsyncIterator[URL]:
    """The copy restored into a database of its own, dropped (or deleted) on the way out."""
    if backend == "sqlite":
        # A copy of the copy, in a private temporary folder: checking never alters the backup.
        with tempfile.TemporaryDirectory(prefix="opendmp-verify-") as folder:
            scratch_file = Path(folder) / SQLITE_COPY
            await restore_sqlite(copy, scratch_file)
            yield _sqlite_url(scratch_file, read_only=False)
        return
    if backend_of(server_url) != "postgresql":
        raise BackupError(
            "verifying a PostgreSQL backup needs a PostgreSQL server: set "
            "OPENDMP_DATABASE_URL (or --database-url) to one where you may create databases",
            code="verify-needs-postgresql",
        )
    name = f"opendmp_verify_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        scratch = make_url(server_url).set(database=name)
        try:
            await restore_postgresql(
                copy, scratch, bin_dir=bin_dir, dump_major=dump_major, clean=False
            )
            yield scratch
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
