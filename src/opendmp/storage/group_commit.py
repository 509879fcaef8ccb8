"""Group commit: the deferred writes of concurrent consultations committed together
(docs/architecture.md §2, "Group commit"; docs/benchmarks.md).

A consultation's writes (its audit event, its access notification) wait for the commit of
its unit of work (storage/uow.py, deferred writes). Rather than a transaction each, the
writes of every consultation of this process that commits meanwhile run in one
transaction: one commit, one flush of the write-ahead log, for all of them. Nobody waits
on purpose: the first to arrive commits at once with what is queued, and those arriving
while it commits go together in the next transaction. Each consultation waits until the
transaction holding its writes has committed: nothing it read leaves before its audit
event is durable. When a transaction fails, the writes of each of its consultations run
again alone, so that one failure (a record destroyed meanwhile, a deadlock) fails only its
own request.

On SQLite the transaction takes this process's writer turn (storage/writers.py) like any
writer; on PostgreSQL it is an ordinary transaction on a connection of the pool.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opendmp.storage.writers import sqlite_writer_turn

Write = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class InsertRows:
    """A write inserting ``rows`` with ``statement``: the consecutive ones of a transaction
    with the same statement are sent as one (an audit event each, in a single round trip)."""

    statement: Executable
    rows: list[dict[str, Any]]

    async def __call__(self, session: AsyncSession) -> None:
        await (await session.connection()).execute(self.statement, self.rows)


def merged(writes: list[Write]) -> list[Write]:
    """``writes`` in order, consecutive ``InsertRows`` of one statement joined."""
    joined: list[Write] = []
    for write in writes:
        last = joined[-1] if joined else None
        if (
            isinstance(write, InsertRows)
            and isinstance(last, InsertRows)
            and last.statement is write.statement
        ):
            joined[-1] = InsertRows(write.statement, [*last.rows, *write.rows])
        else:
            joined.append(write)
    return joined


# At most this many consultations in one transaction: a bounded transaction time, and a
# bounded set of requests to replay alone if it fails.
MAX_BATCH = 128


@dataclass(slots=True)
class _Waiting:
    writes: list[Write]
    done: asyncio.Future[None]


@dataclass(slots=True)
class GroupCommit:
    """The group committer of one engine in one event loop (``group_commit``)."""

    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    queue: list[_Waiting] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None

    async def run(self, writes: list[Write]) -> None:
        """Run ``writes`` in a transaction shared with other consultations; return once it
        has committed (raise what made them fail, run alone)."""
        waiting = _Waiting(writes, asyncio.get_running_loop().create_future())
        self.queue.append(waiting)
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.create_task(self._drain())
        await waiting.done

    async def _drain(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
            try:
                await self._commit([write for waiting in batch for write in waiting.writes])
            except Exception:
                for waiting in batch:
                    await self._alone(waiting)
                continue
            for waiting in batch:
                _settle(waiting.done, None)

    async def _alone(self, waiting: _Waiting) -> None:
        try:
            await self._commit(waiting.writes)
        except Exception as error:
            _settle(waiting.done, error)
        else:
            _settle(waiting.done, None)

    async def _commit(self, writes: list[Write]) -> None:
        async with self._turn(), self.sessions() as session:
            for write in merged(writes):
                await write(session)
            await session.commit()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self.engine.dialect.name == "sqlite":
            async with sqlite_writer_turn(self.engine):
                yield
        else:
            yield


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its request was cancelled: its writes are committed all the same
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


_COMMITTERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, GroupCommit]] = (
    weakref.WeakKeyDictionary()
)


def group_commit(sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine) -> GroupCommit:
    """The group committer of ``engine`` in the running event loop."""
    per_loop = _COMMITTERS.setdefault(asyncio.get_running_loop(), {})
    committer = per_loop.get(id(engine.sync_engine))
    if committer is None:
        committer = per_loop[id(engine.sync_engine)] = GroupCommit(sessions, engine)
    return committer
