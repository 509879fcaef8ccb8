"""Fixed-window rate limits stored in the database, so every app node shares the counters.

One row per key: ``(key, window_start, count)``. A hit is a single atomic upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``, PostgreSQL and SQLite ≥ 3.35): concurrent
hits on one key are counted exactly, whichever node takes them. A fixed window lets a burst
of ``2 × limit`` straddle a boundary; that is accepted for sign-in throttling, where the
account lockout bounds guessing anyway.

Hits commit in their own short transaction: a refused request rolls its own work back,
but its attempt must still count.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import case, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.errors import RateLimited
from opendmp.services.core.context import ServiceContext
from opendmp.storage.models import RateLimit

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def window_start(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """Windows are aligned on the epoch, so every node computes the same boundaries."""
    span = int(window.total_seconds())
    seconds = int((now - _EPOCH).total_seconds())
    return _EPOCH + dt.timedelta(seconds=seconds - seconds % span)


async def hit_in(
    session: AsyncSession, key: str, *, limit: int, window: dt.timedelta, now: dt.datetime
) -> tuple[bool, int]:
    """Count one hit on ``key`` in the caller's transaction: ``(allowed, retry_after_s)``."""
    start = window_start(now, window)
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(RateLimit).values(key=key[:191], window_start=start, count=1)
    # A row from an earlier window restarts at 1; a row from a *later* window (a node whose
    # clock is ahead) keeps counting in that window rather than moving it back.
    same_or_later = RateLimit.window_start >= stmt.excluded.window_start
    stmt = stmt.on_conflict_do_update(
        index_elements=[RateLimit.key],
        set_={
            "count": case((same_or_later, RateLimit.count + 1), else_=1),
            "window_start": case(
                (same_or_later, RateLimit.window_start), else_=stmt.excluded.window_start
            ),
        },
    ).returning(RateLimit.count, RateLimit.window_start)
    row = (await session.execute(stmt)).one()
    count, current_start = int(row[0]), row[1]
    if current_start.tzinfo is None:  # RETURNING bypasses nothing, but be explicit
        current_start = current_start.replace(tzinfo=dt.UTC)
    if count <= limit:
        return True, 0
    remaining = (current_start + window - now).total_seconds()
    return False, max(1, math.ceil(remaining))


async def hit(
    ctx: ServiceContext,
    key: str,
    *,
    limit: int,
    window: dt.timedelta,
    now: dt.datetime | None = None,
) -> tuple[bool, int]:
    """Count one hit on ``key`` and commit at once: ``(allowed, retry_after_seconds)``."""
    async with ctx.uow() as uow:
        result = await hit_in(uow.session, key, limit=limit, window=window, now=now or ctx.now())
        await uow.commit()
    return result


async def enforce(
    ctx: ServiceContext,
    key: str,
    *,
    limit: int,
    window: dt.timedelta,
    now: dt.datetime | None = None,
) -> None:
    """:func:`hit`, raising :class:`RateLimited` (HTTP 429, ``retry_after``) past the limit."""
    allowed, retry_after = await hit(ctx, key, limit=limit, window=window, now=now)
    if not allowed:
        raise RateLimited(
            f"too many attempts: try again in {retry_after} s", retry_after=retry_after
        )


async def enforce_address_and_login(
    ctx: ServiceContext,
    scope: str,
    *,
    client_address: str | None,
    login: str,
    login_limit: int,
    login_window: dt.timedelta,
) -> None:
    """The two counters of a sign-in-like attempt: ``<scope>:addr:<address>`` (the
    per-address limit, per minute) and ``<scope>:login:<login>``; either raises 429."""
    if client_address:
        await enforce(
            ctx,
            f"{scope}:addr:{client_address}",
            limit=ctx.auth.login_rate_per_address,
            window=dt.timedelta(minutes=1),
        )
    await enforce(ctx, f"{scope}:login:{login}", limit=login_limit, window=login_window)


async def purge_rate_limits(ctx: ServiceContext, *, older_than: dt.datetime) -> int:
    """Drop counters whose window started before ``older_than`` (maintenance)."""
    async with ctx.uow() as uow:
        result: Any = await uow.session.execute(
            delete(RateLimit).where(RateLimit.window_start < older_than)
        )
        await uow.commit()
    return int(result.rowcount or 0)
