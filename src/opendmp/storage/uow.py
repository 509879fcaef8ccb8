"""Unit of work: owns one transaction; rolls back unless ``commit()`` was called.

A ``read_only`` unit of work never writes: on SQLite it begins a deferred transaction, which
reads its WAL snapshot without taking (or waiting for) the write lock (see storage.db).

A ``deferred_writes`` unit of work reads like a read-only one and writes at its commit:
writes given to ``write_at_commit`` (the audit event of a read, its notification) run then,
on SQLite in a short ``BEGIN IMMEDIATE`` transaction of their own, and ``commit()`` returns
once they are committed — nothing the reads found leaves before its audit event is durable.
A read so holds SQLite's write lock for its few inserts, not for the whole request. On
PostgreSQL, where readers and writers do not exclude each other, ``write_at_commit`` writes
at once in the unit's own transaction.

Every other unit of work on SQLite writes: it waits for its turn (storage/writers.py) first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opendmp.storage.db import READ_ONLY
from opendmp.storage.writers import sqlite_writer_turn

Write = Callable[[AsyncSession], Awaitable[None]]
# session.info key: the writes a deferred-writes unit of work runs at its commit.
AT_COMMIT = "opendmp_at_commit"


async def write_at_commit(session: AsyncSession, write: Write) -> None:
    """Run ``write`` in ``session``'s transaction now, or at the commit of a deferred-writes
    unit of work on SQLite (with a session of its own: take what it needs from the reads
    before, as plain values)."""
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
        if self.read_only or (self.deferred_writes and sqlite is not None):
            await session.connection(execution_options={READ_ONLY: True})
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
            await self._write(session, list(pending))
            pending.clear()
        self.committed = True

    async def _write(self, session: AsyncSession, writes: list[Write]) -> None:
        engine = self._engine(session)
        assert engine is not None  # only SQLite defers its writes
        async with sqlite_writer_turn(engine), self._sessions() as writer:
            for write in writes:
                await write(writer)
            await writer.commit()

    async def rollback(self) -> None:
        pending: list[Write] | None = self.session.info.get(AT_COMMIT)
        if pending:
            pending.clear()
        await self.session.rollback()
