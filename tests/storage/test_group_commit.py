"""Group commit (storage/group_commit.py): the deferred writes of concurrent consultations
share one transaction, each consultation returns only once its writes are committed, and a
failing write fails only its own consultation.

On both databases: the consultations are real deferred-writes units of work writing real
audit events (audit/writer.py), and what is counted is what reaches the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from opendmp.audit.writer import append
from opendmp.services.core.context import ServiceContext
from opendmp.storage.group_commit import InsertRows, Write, group_commit, merged
from opendmp.storage.models import AuditEvent, Patient
from opendmp.storage.uow import AT_COMMIT, write_at_commit
from tests.audit.test_sequencer import new_record_id, read_event

CONSULTATIONS = 20


@contextmanager
def audit_inserts(engine: AsyncEngine) -> Iterator[list[int]]:
    """The rows of each INSERT of audit events sent to the database."""
    sent: list[int] = []

    def on_execute(_c: Any, _cur: Any, statement: str, params: Any, _x: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT"):
            sent.append(len(params) if many else 1)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


async def events_marked(ctx: ServiceContext, record_id: uuid.UUID) -> set[int]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.details).where(AuditEvent.record_id == record_id)
        )
    return {int(d.split('"n":')[1].split("}")[0]) for d in rows.scalars() if d and '"n":' in d}


async def consult(ctx: ServiceContext, record_id: uuid.UUID, n: int, extra: Any = None) -> None:
    """A consultation: reads nothing here, writes its audit event (and ``extra``) at commit,
    and checks its event is visible to anyone once its commit returns."""
    async with ctx.uow(deferred_writes=True) as uow:
        await append(uow.session, read_event(record_id, ctx, n=n))
        if extra is not None:
            await write_at_commit(uow.session, extra)
        await uow.commit()
    assert n in await events_marked(ctx, record_id)


async def test_concurrent_consultations_share_a_transaction_and_wait_for_it(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, record_id = await new_record_id(ctx)
    with audit_inserts(engine) as sent:
        await asyncio.gather(*(consult(ctx, record_id, n) for n in range(CONSULTATIONS)))
    assert await events_marked(ctx, record_id) == set(range(CONSULTATIONS))
    assert sum(sent) == CONSULTATIONS  # every event once
    assert len(sent) < CONSULTATIONS  # several events in one statement, one transaction
    assert max(sent) > 1


async def _duplicate_patient(session: AsyncSession) -> None:
    # A write the database refuses (the same primary key twice).
    same = uuid.uuid4()
    row = {"id": same, "ins_value": "1" * 13 + "00", "ins_oid": "1.2.250.1.213.1.4.10"}
    await session.execute(insert(Patient), [row, row])


async def test_a_failing_write_fails_only_its_own_consultation(
    ctx: ServiceContext,
) -> None:
    _, record_id = await new_record_id(ctx)
    results = await asyncio.gather(
        *(
            consult(ctx, record_id, n, extra=_duplicate_patient if n == 7 else None)
            for n in range(CONSULTATIONS)
        ),
        return_exceptions=True,
    )
    failed = [n for n, result in enumerate(results) if isinstance(result, BaseException)]
    assert failed == [7]
    assert isinstance(results[7], IntegrityError)
    # The others are committed; the failed consultation's event went with its transaction.
    assert await events_marked(ctx, record_id) == set(range(CONSULTATIONS)) - {7}
    async with ctx.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Patient))).scalar() == 1


async def test_a_cancelled_consultation_still_has_its_writes_committed(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, record_id = await new_record_id(ctx)
    async with ctx.uow(deferred_writes=True) as uow:
        await append(uow.session, read_event(record_id, ctx, n=2))
        writes = list(uow.session.info[AT_COMMIT])
    committer = group_commit(ctx.sessions, engine)
    waiting = asyncio.create_task(committer.run(writes))
    await asyncio.sleep(0)  # queued, the transaction under way
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert committer.drainer is not None
    await committer.drainer
    assert await events_marked(ctx, record_id) == {2}


async def _other(session: AsyncSession) -> None:
    return None


def test_consecutive_inserts_of_one_statement_are_joined_in_order() -> None:
    first, second = insert(AuditEvent), insert(Patient)
    writes: list[Write] = [
        InsertRows(first, [{"n": 1}]),
        InsertRows(first, [{"n": 2}, {"n": 3}]),
        _other,
        InsertRows(first, [{"n": 4}]),
        InsertRows(second, [{"n": 5}]),
        InsertRows(second, [{"n": 6}]),
    ]
    joined = merged(writes)
    assert [type(w).__name__ for w in joined] == [
        "InsertRows",
        "function",
        "InsertRows",
        "InsertRows",
    ]
    rows = [w.rows for w in joined if isinstance(w, InsertRows)]
    assert rows == [[{"n": 1}, {"n": 2}, {"n": 3}], [{"n": 4}], [{"n": 5}, {"n": 6}]]
