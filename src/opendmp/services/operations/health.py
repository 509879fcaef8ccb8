"""Readiness and start-up checks."""

from __future__ import annotations

from sqlalchemy import select, text

from opendmp.domain.errors import KeyFailure
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.keys import ensure_epochs, master_keys
from opendmp.storage import models as m


async def check_ready(ctx: ServiceContext) -> dict[str, str]:
    """Probe the database and the blob store; returns a status per component."""
    status: dict[str, str] = {}
    try:
        async with ctx.sessions() as session:
            await session.execute(text("SELECT 1"))
        status["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        status["database"] = f"error: {type(exc).__name__}"
    try:
        await ctx.blobs.store.check()
        status["blobs"] = "ok"
    except Exception as exc:
        status["blobs"] = f"error: {type(exc).__name__}"
    return status


async def check_master_key(ctx: ServiceContext) -> None:
    """Refuse to start with a master key that did not wrap the records' data keys."""
    async with ctx.sessions() as session:
        ids = (
            (
                await session.execute(
                    select(m.Record.master_key_id)
                    .where(m.Record.wrapped_data_key.is_not(None))
                    .distinct()
                    .limit(5)
                )
            )
            .scalars()
            .all()
        )
    known = {k.key_id for k in master_keys(ctx)}
    foreign = [i for i in ids if i not in known]
    if foreign:
        raise KeyFailure(
            f"the master key {ctx.master_key.key_id} is not the one that wrapped the records' "
            f"data keys ({', '.join(str(i) for i in foreign)}): wrong key file or "
            "OPENDMP_MASTER_KEY?",
            code="master-key-mismatch",
        )


async def prepare_keys(ctx: ServiceContext) -> None:
    """Start-up: the master key must be the right one, then the KEK epochs must be in place
    (epoch 1 opened, rows from before epochs moved to it, every needed KEK present)."""
    await check_master_key(ctx)
    await ensure_epochs(ctx)
