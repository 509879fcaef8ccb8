"""Requests insert their audit events unchained; the sequencer chains them (audit/sequencer.py,
docs/security.md "The audit trail").

What must hold: the event is in the database when the request's transaction commits; a
request never waits for another request's event (the PostgreSQL test holds one open); the
sequencer chains in the order the events were committed and inserted, never forks a chain
however many run, loses nothing when it dies mid-round; ``verify`` reports the unchained
tail and fails on one left too long. And what it cannot do: an event changed or deleted by an
attacker *before* it is chained is chained as found (the window the bound limits).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.audit.chain import chain_of
from opendmp.audit.sequencer import chain_pending, sequence_all, sequence_once
from opendmp.audit.verify import ChainReport
from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import NewEvent, append
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.operations.maintenance import verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.services.records.history import history_entries
from opendmp.storage.models import AuditChain, AuditEvent
from tests.factories import OPERATOR, make_ins, new_record
from tests.record_scope import tampering
from tests.services.document_support import (
    AUTHOR,
    deposit,
    grant,
    new_patient_record,
    record_events,
)


async def new_record_id(ctx: ServiceContext) -> tuple[Ins, uuid.UUID]:
    ins = make_ins()
    view = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    return ins, view.record_id


def read_event(record_id: uuid.UUID, ctx: ServiceContext, **details: Any) -> NewEvent:
    return NewEvent(
        action=AuditAction.RECORD_READ_STATUS,
        actor=OPERATOR,
        time=ctx.now(),
        record_id=record_id,
        details=details,
    )


async def insert_committed(ctx: ServiceContext, event: NewEvent) -> None:
    async with ctx.uow() as uow:
        await append(uow.session, event)
        await uow.commit()


async def chained_record_and_one_more_event(ctx: ServiceContext) -> tuple[Ins, uuid.UUID]:
    """A record whose two events are chained, and a third committed, unchained."""
    ins, record_id = await new_record_id(ctx)
    await sequence_all(ctx.sessions)
    await insert_committed(ctx, read_event(record_id, ctx))
    return ins, record_id


async def chain_rows(engine: AsyncEngine, record_id: uuid.UUID) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEvent.__table__)
            .where(AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
        )
        return [dict(r._mapping) for r in rows]


async def set_unchained(engine: AsyncEngine, record_id: uuid.UUID, **values: Any) -> None:
    """What a database writer does to the record's unchained events, outside the services."""
    async with engine.begin() as conn:
        await conn.execute(
            update(AuditEvent)
            .where(AuditEvent.record_id == record_id, AuditEvent.seq.is_(None))
            .values(**values)
        )


async def report_of(ctx: ServiceContext, ins: Ins) -> ChainReport:
    (report,) = await verify_audit(ctx, ins=ins)
    return report


# --- the request's side --------------------------------------------------------------------


async def test_a_read_commits_its_event_unchained_and_the_history_shows_it(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins, record_id = await new_record_id(ctx)
    await sequence_all(ctx.sessions)
    await records.show_record(ctx, actor=OPERATOR, ins=ins)

    last = (await chain_rows(engine, record_id))[-1]
    assert last["action"] == AuditAction.RECORD_READ_STATUS
    assert (last["seq"], last["prev_hash"], last["hash"]) == (None, None, None)
    assert last["inserted_at"] is not None
    async with ctx.sessions() as session:
        entries = await history_entries(session, record_id=record_id, actor=OPERATOR)
    assert entries[0].event_id == last["id"]  # a real event: the history shows it at once

    report = await report_of(ctx, ins)
    assert report.ok and report.events == 2 and report.unchained == 1
    assert await sequence_all(ctx.sessions) == 1
    report = await report_of(ctx, ins)
    assert report.ok and report.events == 3 and report.unchained == 0


async def test_a_request_does_not_wait_for_another_requests_open_transaction(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    """One request has inserted its event and not committed yet; a second read of the same
    record inserts and commits meanwhile (before, it queued on the chain head's lock)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time by design (storage/db.py)")
    ins, record_id = await new_record_id(ctx)
    async with ctx.uow() as first:
        await append(first.session, read_event(record_id, ctx, order="first"))
        await asyncio.wait_for(records.show_record(ctx, actor=OPERATOR, ins=ins), timeout=10)
        await first.commit()
    actions = [row["action"] for row in await chain_rows(engine, record_id)]
    assert actions[-2:] == [AuditAction.RECORD_READ_STATUS, AuditAction.RECORD_READ_STATUS]


async def test_a_document_read_does_not_wait_for_another_read_in_progress(
    ctx: ServiceContext,
) -> None:
    """Both databases: a consultation that has read and appended its event, not committed
    yet, does not hold back a second read of the same record (on SQLite its transaction is
    deferred and its event waits for its commit: storage/uow.py)."""
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, AUTHOR)
    document = await deposit(ctx, ins)
    async with ctx.sessions() as session:
        _, record = await get_record(session, ins)
    async with ctx.uow(deferred_writes=True) as first:
        await first.session.execute(select(AuditChain.seq))  # its reads
        await append(first.session, read_event(record.id, ctx, order="first"))
        view, content = await asyncio.wait_for(
            documents.read_document(ctx, actor=AUTHOR, ins=ins, document_id=document.id),
            timeout=10,
        )
        await first.commit()
    assert view.id == document.id and content
    actions = [e.action for e in await record_events(ctx, ins)]
    # Both there (in insert order: on SQLite the first one's insert waited for its commit).
    assert sorted(actions[-2:]) == [AuditAction.DOCUMENT_READ, AuditAction.RECORD_READ_STATUS]
    assert (await report_of(ctx, ins)).ok


# --- order ---------------------------------------------------------------------------------


async def test_the_sequencer_chains_in_insert_order(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins, record_id = await new_record_id(ctx)
    for n in range(12):
        await insert_committed(ctx, read_event(record_id, ctx, n=n))
        if n == 5:
            await sequence_once(ctx.sessions)  # part of them chained in an earlier round
    await sequence_all(ctx.sessions)
    rows = await chain_rows(engine, record_id)
    assert [r["seq"] for r in rows] == list(range(1, 15))  # creation, account, 12 reads
    assert [r["details"] for r in rows[2:]] == [f'{{"n":{n}}}' for n in range(12)]
    report = await report_of(ctx, ins)
    assert report.ok and report.events == 14


async def test_an_event_committed_late_is_chained_after_those_committed_before_it(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    """The chain's order is the order events became visible: an event inserted first but
    committed after a later one was chained comes after it, never into the middle."""
    if engine.dialect.name != "postgresql":
        pytest.skip("two open writers at once: PostgreSQL only")
    ins, record_id = await new_record_id(ctx)
    async with ctx.uow() as slow:
        await append(slow.session, read_event(record_id, ctx, order="inserted first"))
        await insert_committed(ctx, read_event(record_id, ctx, order="committed first"))
        await sequence_all(ctx.sessions)
        await slow.commit()
    await sequence_all(ctx.sessions)
    rows = sorted(await chain_rows(engine, record_id), key=lambda r: r["seq"])
    assert [r["details"] for r in rows[-2:]] == [
        '{"order":"committed first"}',
        '{"order":"inserted first"}',
    ]
    assert rows[-2]["id"] > rows[-1]["id"]
    assert (await report_of(ctx, ins)).ok


# --- several sequencers ----------------------------------------------------------------------


async def test_concurrent_sequencers_and_requests_never_fork_a_chain(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins, record_id = await new_record_id(ctx)

    async def requests() -> None:
        await asyncio.gather(
            *(records.show_record(ctx, actor=OPERATOR, ins=ins) for _ in range(30))
        )

    async def sequencer() -> None:
        for _ in range(15):
            await sequence_once(ctx.sessions)

    await asyncio.gather(requests(), sequencer(), sequencer(), sequencer())
    await sequence_all(ctx.sessions)
    rows = await chain_rows(engine, record_id)
    assert sorted(r["seq"] for r in rows) == list(range(1, 33))
    report = await report_of(ctx, ins)
    assert report.ok and report.events == 32 and report.unchained == 0


async def test_a_sequencer_leaves_a_chain_whose_head_another_holds(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite transactions are exclusive: no head is ever held by another")
    ins, record_id = await new_record_id(ctx)
    chain = chain_of(record_id)
    async with engine.connect() as other:  # another node's sequencer, mid-round
        await other.execute(
            select(AuditChain.seq).where(AuditChain.chain == chain).with_for_update()
        )
        assert await asyncio.wait_for(sequence_once(ctx.sessions), timeout=10) == 0
        assert {r["seq"] for r in await chain_rows(engine, record_id)} == {None}
        await other.rollback()
    assert await sequence_all(ctx.sessions) == 2
    assert (await report_of(ctx, ins)).ok


# --- crashes ---------------------------------------------------------------------------------


async def test_a_sequencer_dying_before_its_commit_loses_nothing(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins, record_id = await chained_record_and_one_more_event(ctx)
    async with ctx.uow() as uow:  # the round runs, then the process dies: no commit
        await chain_pending(uow.session, chain_of(record_id), record_id)
    rows = await chain_rows(engine, record_id)
    assert rows[-1]["seq"] is None  # still there, still unchained
    report = await report_of(ctx, ins)
    assert report.ok and report.unchained == 1
    await sequence_all(ctx.sessions)
    report = await report_of(ctx, ins)
    assert report.ok and report.events == 3 and report.unchained == 0


# --- the unchained tail under verify, and what an attacker can do to it ----------------------


async def test_an_event_left_unchained_beyond_the_bound_fails_verification(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins, record_id = await chained_record_and_one_more_event(ctx)
    assert (await report_of(ctx, ins)).ok  # young: the sequencer has not had its turn yet
    # Held back (no worker running, a head locked) for 2 minutes:
    await set_unchained(
        engine, record_id, inserted_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    )
    report = await report_of(ctx, ins)
    assert not report.ok and report.unchained == 1
    assert report.problem is not None and "not chained" in report.problem
    assert report.events == 2  # the chained part is still vouched for
    await sequence_all(ctx.sessions)
    assert (await report_of(ctx, ins)).ok


async def test_an_event_changed_before_chaining_is_chained_as_found_but_not_after(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    """The documented limit: within the window (the sequencer's interval), a database
    writer can change an unchained event and nothing can tell; once chained, any change
    breaks the chain."""
    ins, record_id = await chained_record_and_one_more_event(ctx)
    await set_unchained(engine, record_id, actor_id="someone-else")
    await sequence_all(ctx.sessions)
    assert (await report_of(ctx, ins)).ok  # chained as found
    last = (await chain_rows(engine, record_id))[-1]
    with tampering("a chained event changed by hand"):
        async with engine.begin() as conn:
            await conn.execute(
                update(AuditEvent).where(AuditEvent.id == last["id"]).values(actor_id="again")
            )
    report = await report_of(ctx, ins)
    assert not report.ok and report.broken_at_seq == 3


async def test_passing_an_unchained_event_off_as_chained_is_detected(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    """An attacker who numbers an event himself (to place it, or to hide it from the
    sequencer) cannot give it a hash the head vouches for."""
    ins, record_id = await chained_record_and_one_more_event(ctx)
    await set_unchained(engine, record_id, seq=3, prev_hash="0" * 64, hash="f" * 64)
    report = await report_of(ctx, ins)
    assert not report.ok and report.broken_at_seq == 3


async def test_unchaining_a_chained_event_breaks_the_chain(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    """Turning a chained event back into an unchained one (to have it re-chained forged)
    leaves a hole the walk reports."""
    ins, record_id = await new_record_id(ctx)
    await insert_committed(ctx, read_event(record_id, ctx))
    await sequence_all(ctx.sessions)
    second = (await chain_rows(engine, record_id))[1]["id"]
    with tampering("a chained event unchained by hand"):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE audit_event SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = :i"
                ),
                {"i": second},
            )
    report = await report_of(ctx, ins)
    assert not report.ok and report.broken_at_seq == 2
