"""SQLite's one writer at a time, taken in turn (docs/architecture.md §2, storage.db).

SQLite lets one transaction write at a time. Left to SQLite, connections waiting for the
write lock poll it (the busy handler sleeps up to 100 ms between tries), so under load some
writers lose every race and wait seconds while others pass. Every writing unit of work of
this process instead queues here first, on one FIFO lock per engine: they take the write
lock in arrival order and never poll it. Other processes (``serve --workers N``, the CLI)
still meet at SQLite's lock.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

# As long as SQLite's busy timeout (storage.db): a writer that waits longer gives up alike.
WAIT_SECONDS = 30.0

_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _lock(engine: AsyncEngine) -> asyncio.Lock:
    per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(id(engine.sync_engine), asyncio.Lock())


@asynccontextmanager
async def sqlite_writer_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """This process's turn to write to ``engine``'s SQLite database, in arrival order."""
    lock = _lock(engine)
    try:
        await asyncio.wait_for(lock.acquire(), timeout=WAIT_SECONDS)
    except TimeoutError:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")) from None
    try:
        yield
    finally:
        lock.release()
