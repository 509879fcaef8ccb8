"""Reads a PostgreSQL read replica may serve (docs/database.md, "Read replica").

A search's access decision and its audit event stay on the primary, in the request's
transaction. Only the search's own reads (the page, the total, the replaced versions) may
go to the replica, and only when the replica has replayed everything that transaction can
see: the primary's WAL position is read inside it, and the replica is used only if its
replay position has reached it. A document masked, deleted or blocked a moment ago is
therefore never served by a lagging replica: the search falls back to the primary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# The primary's current WAL position (the transaction's snapshot cannot see beyond it).
_PRIMARY_POSITION = text("SELECT pg_current_wal_lsn()::text")
# Whether this server has replayed up to a position (a server not in recovery is the
# primary itself, trivially up to date: a replica URL pointing at the primary works).
_REPLAYED = text(
    "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END >= CAST(CAST(:position AS text) AS pg_lsn)"
)


@asynccontextmanager
async def search_reader(
    primary: AsyncSession, replica: async_sessionmaker[AsyncSession] | None
) -> AsyncIterator[AsyncSession]:
    """The session a search reads its rows with: the replica when one is configured and
    has caught up with ``primary``'s transaction, else ``primary`` itself."""
    bind = primary.get_bind()
    if replica is None or bind.dialect.name != "postgresql":
        yield primary
        return
    position = (await primary.execute(_PRIMARY_POSITION)).scalar_one()
    async with replica() as session, session.begin():
        caught_up = bool((await session.execute(_REPLAYED, {"position": position})).scalar_one())
        if caught_up:
            yield session
            return
    yield primary
