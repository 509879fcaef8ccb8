"""The test database fixture itself (tests/conftest.py ``clean``): between two tests every
table is emptied and the sequences restart, as after a fresh migration."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from opendmp.storage.models import Base
from tests.conftest import clean
from tests.factories import OPERATOR, make_ins, new_record
from tests.record_scope import whole_database


async def _row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: (
                await conn.execute(whole_database(select(func.count()).select_from(table)))
            ).scalar_one()
            for table in Base.metadata.sorted_tables
        }


async def test_cleaning_leaves_only_the_system_chain_and_restarts_the_sequences(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    await records.create_record(ctx, actor=OPERATOR, request=new_record(make_ins(), ctx.now()))
    written = await _row_counts(engine)
    assert written["record"] == 1 and written["audit_event"] > 0

    await clean(engine)

    counts = await _row_counts(engine)
    assert counts.pop("audit_chain") == 1  # the system chain's head, as migration 0001 makes it
    assert set(counts.values()) == {0}, {name: n for name, n in counts.items() if n}
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            restarted = await conn.execute(text("SELECT nextval('audit_event_id_seq')"))
            assert restarted.scalar_one() == 1
