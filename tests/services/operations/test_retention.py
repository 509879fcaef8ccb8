"""Retention (docs/rules.md §2): a closed record is kept 10 years, or destroyed within 3 months
of an early-destruction request; destruction leaves only a tombstone. On both databases and
both blob stores (filesystem, S3): destruction shreds the record's blobs on either."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from sqlalchemy import func, select

from opendmp.audit.sequencer import sequence_all
from opendmp.audit.verify import of_chain
from opendmp.blobs import BlobStore
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.patient_matrix import Narrowing
from opendmp.domain.records import ClosureReason, RecordStatus
from opendmp.services import documents
from opendmp.services.access.matrix_choices import set_matrix_narrowings
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import ins_hash
from opendmp.services.operations.maintenance import run_retention, verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record
from tests.blob_support import stored_names
from tests.conftest import Clock
from tests.factories import (
    OPERATOR,
    make_ins,
    make_professional,
    new_record,
    patient_actor,
    submission,
)

pytestmark = pytest.mark.blob_backends

PER_RECORD_TABLES: tuple[type[m.Base], ...] = (
    m.Record,
    m.Document,
    m.SubmissionSet,
    m.Consent,
    m.MatrixNarrowing,
    m.Outbox,
)

# --- helpers --------------------------------------------------------------------------------


async def record_with_documents(ctx: ServiceContext, n_documents: int = 2) -> tuple[Ins, str]:
    ins = make_ins()
    view = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    for i in range(n_documents):
        await documents.deposit_document(
            ctx,
            actor=make_professional(),
            ins=ins,
            submission=submission(ctx.now(), content=f"document {i}".encode()),
        )
    return ins, str(view.record_id)


async def close(ctx: ServiceContext, ins: Ins) -> None:
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)


async def rows_for(ctx: ServiceContext, model: type[m.Base], record_id: str) -> int:
    column = model.id if model is m.Record else model.record_id  # type: ignore[attr-defined]
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(model).where(column == uuid.UUID(record_id))
        return int((await session.execute(query)).scalar_one())


async def patient_count(ctx: ServiceContext) -> int:
    async with ctx.sessions() as session:
        total = await session.execute(select(func.count()).select_from(m.Patient))
        return int(total.scalar_one())


async def blob_files(store: BlobStore, record_id: str) -> list[str]:
    """Everything the store holds under the record's prefix, leftovers included."""
    return [name for name in await stored_names(store) if name.startswith(f"{record_id}/")]


async def chain_events(ctx: ServiceContext, chain: str) -> list[m.AuditEvent]:
    await sequence_all(ctx.sessions)  # what the worker does within a fraction of a second
    async with ctx.sessions() as session:
        query = select(m.AuditEvent).where(of_chain(chain)).order_by(m.AuditEvent.seq)
        return list((await session.execute(query)).scalars())


async def chain_head(ctx: ServiceContext, chain: str) -> m.AuditChain | None:
    await sequence_all(ctx.sessions)
    async with ctx.sessions() as session:
        return await session.get(m.AuditChain, chain)


async def tombstones(ctx: ServiceContext) -> list[m.RecordTombstone]:
    async with ctx.sessions() as session:
        return list((await session.execute(select(m.RecordTombstone))).scalars())


async def assert_audit_ok(ctx: ServiceContext) -> None:
    reports = await verify_audit(ctx)
    assert reports
    assert all(r.ok for r in reports), reports


# --- what is kept -----------------------------------------------------------------------------


async def test_a_record_closed_less_than_ten_years_ago_is_kept(
    ctx: ServiceContext, clock: Clock, blob_store: BlobStore
) -> None:
    ins, record_id = await record_with_documents(ctx)
    await close(ctx, ins)
    clock.advance(days=365 * 10)  # 10 x 365 days: two leap days short of ten years

    result = await run_retention(ctx)

    assert (result.destroyed, result.blobs_deleted) == (0, 0)
    assert await rows_for(ctx, m.Record, record_id) == 1
    assert await rows_for(ctx, m.Document, record_id) == 2
    assert len(await blob_files(blob_store, record_id)) == 2
    assert await tombstones(ctx) == []


async def test_an_active_record_is_never_destroyed(ctx: ServiceContext, clock: Clock) -> None:
    _, record_id = await record_with_documents(ctx, 1)
    clock.advance(days=365 * 30)
    assert (await run_retention(ctx)).destroyed == 0
    assert await rows_for(ctx, m.Record, record_id) == 1


async def test_an_early_destruction_request_is_not_honoured_before_its_date(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins, record_id = await record_with_documents(ctx, 1)
    await close(ctx, ins)
    await records.request_record_destruction(ctx, actor=patient_actor(ins), ins=ins)
    clock.advance(days=89)
    assert (await run_retention(ctx)).destroyed == 0
    assert await rows_for(ctx, m.Record, record_id) == 1


# --- what is destroyed ------------------------------------------------------------------------


async def test_a_record_past_its_retention_is_destroyed_leaving_only_a_tombstone(
    ctx: ServiceContext, clock: Clock, blob_store: BlobStore
) -> None:
    ins, record_id = await record_with_documents(ctx)
    await set_matrix_narrowings(
        ctx, actor=patient_actor(ins), ins=ins, narrowings=[Narrowing("10", None, "genetics")]
    )
    created_at = clock.now
    clock.advance(days=30)
    closed_at = clock.now
    await close(ctx, ins)
    other_ins, other_id = await record_with_documents(ctx)
    other_events = [(e.seq, e.hash) for e in await chain_events(ctx, other_id)]
    assert len(await blob_files(blob_store, record_id)) == 2
    # create, account, 2 deposits, the patient's own matrix, close
    assert len(await chain_events(ctx, record_id)) == 6
    head = await chain_head(ctx, record_id)
    assert head is not None
    final_seq, final_hash = head.seq, head.hash
    clock.advance(days=366 * 10)

    result = await run_retention(ctx)

    assert (result.destroyed, result.blobs_deleted) == (1, 2)
    for model in PER_RECORD_TABLES:
        assert await rows_for(ctx, model, record_id) == 0, model.__tablename__
    assert await patient_count(ctx) == 1
    async with ctx.sessions() as session:
        assert await find_record(session, ins) is None
    assert await blob_files(blob_store, record_id) == []
    assert await chain_events(ctx, record_id) == []
    assert await chain_head(ctx, record_id) is None

    [tombstone] = await tombstones(ctx)
    assert str(tombstone.record_id) == record_id
    assert tombstone.ins_hash == ins_hash(ins)
    assert len(tombstone.ins_hash) == 64
    assert ins.value not in tombstone.ins_hash
    assert tombstone.created_at == created_at
    assert tombstone.closed_at == closed_at
    assert tombstone.destroyed_at == clock.now
    assert tombstone.reason == ClosureReason.PATIENT_REQUEST.value

    system = await chain_events(ctx, "system")
    assert [e.action for e in system] == ["record:record:destroy", "keys:kek:rotate"]
    destroy_event = system[0]
    assert destroy_event.outcome == "success"
    assert (destroy_event.actor_kind, destroy_event.actor_id) == ("system", "retention")
    assert destroy_event.record_id is None
    details = orjson.loads(destroy_event.details or "{}")
    assert details == {
        "tombstone": str(tombstone.id),
        "record_chain_events": final_seq,
        "record_chain_head": final_hash,
    }
    assert ins.value not in (destroy_event.details or "")

    # The other record is untouched: rows, blobs, audit chain.
    assert await rows_for(ctx, m.Record, other_id) == 1
    assert await rows_for(ctx, m.Document, other_id) == 2
    assert len(await blob_files(blob_store, other_id)) == 2
    assert [(e.seq, e.hash) for e in await chain_events(ctx, other_id)] == other_events
    shown = await records.show_record(ctx, actor=OPERATOR, ins=other_ins)
    assert shown.status == RecordStatus.ACTIVE
    await assert_audit_ok(ctx)


async def test_an_early_destruction_request_is_honoured_once_ninety_days_pass(
    ctx: ServiceContext, clock: Clock, blob_store: BlobStore
) -> None:
    ins, record_id = await record_with_documents(ctx, 1)
    await close(ctx, ins)
    clock.advance(days=7)
    await records.request_record_destruction(ctx, actor=patient_actor(ins), ins=ins)
    clock.advance(days=90)

    result = await run_retention(ctx)

    assert result.destroyed == 1
    assert await rows_for(ctx, m.Record, record_id) == 0
    assert await blob_files(blob_store, record_id) == []
    [tombstone] = await tombstones(ctx)
    assert tombstone.ins_hash == ins_hash(ins)
    await assert_audit_ok(ctx)


async def test_running_retention_twice_destroys_nothing_more(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins, _ = await record_with_documents(ctx, 1)
    await close(ctx, ins)
    _, other_id = await record_with_documents(ctx, 1)
    clock.advance(days=366 * 10)

    assert (await run_retention(ctx)).destroyed == 1
    again = await run_retention(ctx)

    assert (again.destroyed, again.blobs_deleted) == (0, 0)
    assert len(await tombstones(ctx)) == 1
    assert [e.action for e in await chain_events(ctx, "system")] == [
        "record:record:destroy",
        "keys:kek:rotate",
    ]
    assert await rows_for(ctx, m.Record, other_id) == 1
    await assert_audit_ok(ctx)


async def test_the_ins_of_a_destroyed_record_can_be_used_for_a_new_record(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins, old_id = await record_with_documents(ctx, 1)
    await close(ctx, ins)
    clock.advance(days=366 * 10)
    await run_retention(ctx)

    view = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))

    assert view.status == RecordStatus.ACTIVE
    assert str(view.record_id) != old_id
    assert await rows_for(ctx, m.Document, str(view.record_id)) == 0
    assert [e.action for e in await chain_events(ctx, str(view.record_id))] == [
        "record:record:create",
        "auth:account:create",
    ]
    await assert_audit_ok(ctx)


async def test_reactivating_a_destroyed_record_says_record_not_found(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins, _ = await record_with_documents(ctx, 1)
    await close(ctx, ins)
    clock.advance(days=366 * 10)
    await run_retention(ctx)

    with pytest.raises(NotFound) as caught:
        await records.reactivate_record(ctx, actor=patient_actor(ins), ins=ins)
    assert caught.value.code == "record-not-found"


async def test_destruction_is_due_exactly_at_destroy_after(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins, record_id = await record_with_documents(ctx, 0)
    await close(ctx, ins)
    async with ctx.sessions() as session:
        record = await session.get(m.Record, uuid.UUID(record_id))
        assert record is not None
        destroy_after = record.destroy_after
    assert destroy_after is not None
    clock.now = destroy_after - dt.timedelta(microseconds=1)
    assert (await run_retention(ctx)).destroyed == 0
    clock.now = destroy_after
    assert (await run_retention(ctx)).destroyed == 1
