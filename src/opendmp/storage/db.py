"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from opendmp.storage.private_files import create_private_file

# Execution option of a connection that will only read (storage.uow, read_only=True).
READ_ONLY = "opendmp_read_only"


def make_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, schema: str | None = None
) -> AsyncEngine:
    """Create the async engine with the per-backend settings docs/architecture.md §2 requires.

    ``schema`` (PostgreSQL only) puts every table in that schema through ``search_path``;
    the test suite uses it so that concurrent runs on one database never collide.
    """
    if url.startswith("sqlite"):
        if ":memory:" in url or "mode=memory" in url:
            raise ValueError("an in-memory SQLite database cannot be shared: use a file")
        _create_private_database_file(url)
        engine = create_async_engine(
            url,
            echo=echo,
            # A small pool: opening a SQLite connection and setting its pragmas costs more
            # than a whole indexed query. Writers are serialised by BEGIN IMMEDIATE anyway.
            pool_size=min(pool_size, 8),
            max_overflow=pool_size,
            connect_args={"timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    engine = create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
    )
    _check_alive_at_checkout(engine)
    return engine


def _check_alive_at_checkout(engine: AsyncEngine) -> None:
    """A pooled connection the server has closed (a restart, a failover) is replaced before
    use. Checked on the client's side, without a round trip: SQLAlchemy's ``pool_pre_ping``
    costs three on asyncpg (BEGIN, an empty query, ROLLBACK), about a tenth of a document
    read's CPU (docs/benchmarks.md, "Group commit and the pool's ping"). A connection that
    dies between its checkout and its use fails that request (503) and is discarded."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the database server closed this connection")


def _create_private_database_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use the umask, typically
    0644); SQLite then gives ``-wal`` and ``-shm`` the same mode (storage/private_files.py)."""
    database = make_url(url).database
    if database and Path(database).parent.is_dir():
        create_private_file(Path(database))


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that writes begins IMMEDIATE, taking the write lock up front: a
        # deferred one that read and then tried to write would fail with
        # SQLITE_BUSY_SNAPSHOT when another committed meanwhile, which the busy timeout cannot
        # cure. Within a process, writers take that lock in turn (storage/writers.py).
        # A unit of work that only reads (read-only: e.g. the deposit's preparation,
        # services/documents/deposit.py), or reads and writes only at its commit in a
        # transaction of its own (deferred writes: a consultation and its audit event,
        # storage/uow.py), begins deferred: in WAL mode it reads its snapshot and neither
        # takes nor waits for the write lock.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
