"""A read-only unit of work (storage/uow.py) never waits for a writer: on SQLite it begins a
deferred transaction that reads its WAL snapshot while another transaction holds the write
lock (the deposit's look-ahead relies on it: docs/security.md, "Bounded work per request")."""

from __future__ import annotations

from sqlalchemy import func, select, text

from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m

TOUCH = text("UPDATE audit_chain SET seq = seq WHERE chain = 'system'")  # a write, no change


async def test_a_read_only_unit_of_work_reads_while_a_writer_holds_the_lock(
    ctx: ServiceContext,
) -> None:
    async with ctx.uow() as writer:
        # A writer's transaction (BEGIN IMMEDIATE on SQLite), with an uncommitted change.
        await writer.session.execute(TOUCH)
        async with ctx.uow(read_only=True) as reader:
            count = select(func.count()).select_from(m.AuditChain)
            assert (await reader.session.execute(count)).scalar_one() == 1
        await writer.commit()


async def test_a_read_only_unit_of_work_on_sqlite_takes_no_write_lock(
    ctx: ServiceContext,
) -> None:
    async with ctx.uow(read_only=True) as reader:
        await reader.session.execute(select(func.count()).select_from(m.AuditChain))
        # While the reader is open, a writer begins and commits at once.
        async with ctx.uow() as writer:
            await writer.session.execute(TOUCH)
            await writer.commit()
