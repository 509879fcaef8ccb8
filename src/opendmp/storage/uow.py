"""Unit of work: owns one transaction; rolls back unless ``commit()`` was called.

A ``read_only`` unit of work never writes: on SQLite it begins a deferred transaction, which
reads its WAL snapshot without taking (or waiting for) the write lock (see storage.db).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendmp.storage.db import READ_ONLY


class UnitOfWork:
    """``async with UnitOfWork(sessions) as uow: ...; await uow.commit()``."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, read_only: bool = False
    ) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self.committed = False
        self.read_only = read_only

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session

    @property
    def dialect(self) -> str:
        return self.session.bind.dialect.name if self.session.bind is not None else ""

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self.committed = False
        if self.read_only:
            await self._session.connection(execution_options={READ_ONLY: True})
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

    async def commit(self) -> None:
        await self.session.commit()
        self.committed = True

    async def rollback(self) -> None:
        await self.session.rollback()
