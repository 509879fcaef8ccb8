"""Unit of work: owns one transaction; rolls back unless ``commit()`` was called.

A ``read_only`` unit of work never writes: on SQLite it begins a deferred transaction, which
reads its WAL snapshot without taking (or waiting for) the write lock (see storage.db); on
PostgreSQL it runs without a transaction (``_READING_POSTGRESQL``).

A ``deferred_writes`` unit of work reads like a read-only one and writes at its commit:
writes given to ``write_at_commit`` (the audit event of a read, its notification) run then,
with those of the other consultations committing at the same time, in one transaction of
their own (storage/group_commit.py), and ``commit()`` returns once they are committed —
nothing the reads found leaves before its audit event is durable. A read so holds no write
lock (SQLite's database lock, PostgreSQL's row locks) during its reads, and many reads
share one commit.

Every other unit of work on SQLite writes: it waits for its turn (storage/writers.py) first.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opendmp.storage.db import READ_ONLY
from opendmp.storage.group_commit import Write, group_commit
from opendmp.storage.writers import sqlite_writer_turn

# session.info key: the writes a deferred-writes unit of work runs at its commit.
AT_COMMIT = "opendmp_at_commit"
# A unit of work that does not write in its own transaction (read-only, deferred writes):
# SQLite begins it deferred (storage.db); PostgreSQL runs it without a transaction, each
# statement seeing the database as of its start, as it would in the READ COMMITTED
# transaction it had before, without the BEGIN and COMMIT (or ROLLBACK) round trips.
_READING = {READ_ONLY: True}
_READING_POSTGRESQL = {READ_ONLY: True, "isolation_level": "AUTOCOMMIT"}


async def write_at_commit(session: AsyncSession, write: Write) -> None:
    """Run ``write`` in ``session``'s transaction now, or at the commit of a deferred-writes
    unit of work (in a session of its own: take what it needs from the reads before, as
    plain values)."""
    pending: list[Write] | None = session.info.get(AT_COMMIT)
    if pending is None:
        await write(session)
    else:
        pending.append(write)


class UnitOfWork:
    """``async with UnitOfWork(sessions) as uow: ...; await uow.commit()``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        read_only: bool = False,
        deferred_writes: bool = False,
    ) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._turn: AsyncExitStack | None = None
        self.committed = False
        self.read_only = read_only
        self.deferred_writes = deferred_writes

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session

    @property
    def dialect(self) -> str:
        return self.session.bind.dialect.name if self.session.bind is not None else ""

    def _engine(self, session: AsyncSession) -> AsyncEngine | None:
        bind = session.bind
        return bind if isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite" else None

    async def __aenter__(self) -> UnitOfWork:
        session = self._sessions()
        self._session = session
        self.committed = False
        sqlite = self._engine(session)
        if self.read_only or self.deferred_writes:
            reading = _READING if sqlite is not None else _READING_POSTGRESQL
            await session.connection(execution_options=reading)
            if not self.read_only:
                session.info[AT_COMMIT] = []
        elif sqlite is not None:
            self._turn = AsyncExitStack()
            try:
                await self._turn.enter_async_context(sqlite_writer_turn(sqlite))
            except BaseException:
                await session.close()
                self._session = self._turn = None
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self.committed:
                await session.rollback()
        finally:
            await session.close()
            self._session = None
            if self._turn is not None:
                await self._turn.aclose()
                self._turn = None

    async def commit(self) -> None:
        session = self.session
        await session.commit()
        pending: list[Write] | None = session.info.get(AT_COMMIT)
        if pending:
            writes = list(pending)
            pending.clear()
            bind = session.bind
            assert isinstance(bind, AsyncEngine)
            await group_commit(self._sessions, bind).run(writes)
        self.committed = True

    async def rollback(self) -> None:
        pending: list[Write] | None = self.session.info.get(AT_COMMIT)
        if pending:
            pending.clear()
        await self.session.rollback()
