"""The audit trail is tamper-evident: any change, removal or forgery breaks its chain.

Tampering is done the way an attacker with database access would: raw SQL on the
``audit_event`` and ``audit_chain`` tables, outside the services. Requests insert their
events unchained; the helpers run the sequencer (audit/sequencer.py) before tampering, as the
worker does within a fraction of a second (tests/audit/test_sequencer.py tests it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.audit.chain import GENESIS_HASH, HASHED_FIELDS, event_hash
from opendmp.audit.sequencer import sequence_all
from opendmp.audit.verify import ChainReport
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import ClosureReason
from opendmp.services.core.context import ServiceContext
from opendmp.services.operations.maintenance import verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.storage.models import AuditChain, AuditEvent
from tests.factories import OPERATOR, make_ins, new_record
from tests.record_scope import tampering


@pytest.fixture(autouse=True)
def _tampering() -> Iterator[None]:
    with tampering("events altered and deleted by hand, by id and by chain"):
        yield


# --- helpers ------------------------------------------------------------------------------


async def record_with_history(ctx: ServiceContext, ins: Ins | None = None) -> tuple[Ins, str]:
    """A record with five events: create, account creation, close, reactivate, read-status."""
    ins = ins or make_ins()
    view = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.OPERATOR)
    await records.reactivate_record(ctx, actor=OPERATOR, ins=ins)
    await records.show_record(ctx, actor=OPERATOR, ins=ins)
    await sequence_all(ctx.sessions)
    return ins, str(view.record_id)


async def event_row(engine: AsyncEngine, chain: str, seq: int) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(AuditEvent.__table__).where(AuditEvent.chain == chain, AuditEvent.seq == seq)
            )
        ).one()
    return dict(row._mapping)


async def tamper(engine: AsyncEngine, event_id: int, **values: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(**values))


def report_for(reports: list[ChainReport], chain: str) -> ChainReport:
    (found,) = [r for r in reports if r.chain == chain]
    return found


async def assert_all_intact(ctx: ServiceContext) -> None:
    reports = await verify_audit(ctx)
    assert [r for r in reports if not r.ok] == []


# What an attacker writes in each field of the second event (the closure).
FORGERIES: dict[str, Callable[[Any], Any]] = {
    "chain": lambda _: "forged-chain",
    "seq": lambda _: 99,
    "record_id": lambda _: uuid.uuid4(),
    "time": lambda value: value + dt.timedelta(seconds=1),
    "action": lambda _: "record:record:read-status",
    "outcome": lambda _: "denied",
    "reason": lambda _: "forged",
    "actor_kind": lambda _: "patient",
    "actor_id": lambda _: "someone-else",
    "actor_name": lambda _: "FORGED Name",
    "actor_profession": lambda _: "10",
    "actor_organization": lambda _: "1.2.250.1.71.4.2.2|0000000000",
    "access_mode": lambda _: "break-glass",
    "target_document_id": lambda _: uuid.uuid4(),
    "client_address": lambda _: "203.0.113.9",
    "details": lambda _: '{"reason":"DECES"}',
    "prev_hash": lambda _: "f" * 64,
    "hash": lambda _: "e" * 64,
}


# --- tampering is detected ------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [pytest.param(f, id=f"changing {f} of an event breaks the chain there") for f in FORGERIES],
)
async def test_changing_one_field_of_an_event_breaks_the_chain_at_that_event(
    ctx: ServiceContext, engine: AsyncEngine, field: str
) -> None:
    _, chain = await record_with_history(ctx)
    await assert_all_intact(ctx)
    original = await event_row(engine, chain, 2)
    forged = FORGERIES[field](original[field])
    assert forged != original[field]

    await tamper(engine, original["id"], **{field: forged})
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok
    assert report.broken_at_seq == 2
    assert report.events == 1  # only the first event is vouched for

    await tamper(engine, original["id"], **{field: original[field]})
    await assert_all_intact(ctx)


def test_every_hashed_field_has_a_forgery_test() -> None:
    assert set(FORGERIES) == {*HASHED_FIELDS, "hash"}


async def test_deleting_a_middle_event_is_reported_as_missing(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, chain = await record_with_history(ctx)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == 2))
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok
    assert report.broken_at_seq == 2
    assert report.problem is not None and "missing" in report.problem


async def test_deleting_the_last_event_without_touching_the_head_is_detected(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, chain = await record_with_history(ctx)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == 5))
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok
    assert report.broken_at_seq == 5
    assert report.events == 4
    assert report.problem is not None and "head" in report.problem


async def test_deleting_the_last_event_and_rewinding_the_head_wrongly_is_detected(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, chain = await record_with_history(ctx)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == 5))
        await conn.execute(update(AuditChain).where(AuditChain.chain == chain).values(seq=4))
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok  # the head still holds the hash of the deleted event


async def test_appending_a_well_formed_forged_event_is_detected_by_the_head(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, chain = await record_with_history(ctx)
    last = await event_row(engine, chain, 5)
    forged = {name: last[name] for name in HASHED_FIELDS}
    forged.update(seq=6, actor_id="forger", prev_hash=last["hash"])
    async with engine.begin() as conn:
        await conn.execute(insert(AuditEvent).values(**forged, hash=event_hash(forged)))
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok
    assert report.problem is not None and "head" in report.problem


async def test_replacing_an_event_by_a_forged_one_breaks_the_link_to_the_next(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, chain = await record_with_history(ctx)
    original = await event_row(engine, chain, 2)
    forged = {name: original[name] for name in HASHED_FIELDS}
    forged["details"] = '{"reason":"DECES"}'
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEvent).where(AuditEvent.id == original["id"]))
        await conn.execute(insert(AuditEvent).values(**forged, hash=event_hash(forged)))
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok
    assert report.broken_at_seq == 3
    assert report.problem is not None and "does not link" in report.problem


async def test_events_whose_chain_head_was_deleted_are_reported(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    _, chain = await record_with_history(ctx)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditChain).where(AuditChain.chain == chain))
    report = report_for(await verify_audit(ctx), chain)
    assert not report.ok
    assert report.problem == "events without a chain head"


async def test_verifying_one_record_reports_a_missing_chain_head(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins, chain = await record_with_history(ctx)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditChain).where(AuditChain.chain == chain))
    (report,) = await verify_audit(ctx, ins=ins)
    assert not report.ok
    assert report.problem is not None and "head is missing" in report.problem


# --- verification of one record -------------------------------------------------------------


async def test_verifying_an_unknown_record_is_refused(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as refused:
        await verify_audit(ctx, ins=make_ins())
    assert refused.value.code == "record-not-found"


async def test_verifying_one_record_checks_only_its_chain(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    sound_ins, sound_chain = await record_with_history(ctx)
    broken_ins, broken_chain = await record_with_history(ctx)
    victim = await event_row(engine, broken_chain, 1)
    await tamper(engine, victim["id"], actor_id="x")

    (sound,) = await verify_audit(ctx, ins=sound_ins)
    assert sound.chain == sound_chain
    assert sound.ok and sound.events == 5

    (broken,) = await verify_audit(ctx, ins=broken_ins)
    assert broken.chain == broken_chain
    assert not broken.ok and broken.broken_at_seq == 1

    everything = await verify_audit(ctx)
    assert {r.chain for r in everything if not r.ok} == {broken_chain}


# --- intact trails ---------------------------------------------------------------------------


async def test_an_untouched_trail_verifies(ctx: ServiceContext) -> None:
    _, chain = await record_with_history(ctx)
    reports = await verify_audit(ctx)
    assert {r.chain for r in reports} == {"system", chain}
    assert all(r.ok for r in reports)
    assert report_for(reports, chain).events == 5


async def test_concurrent_requests_on_one_record_keep_its_chain_linear(
    ctx: ServiceContext, engine: AsyncEngine
) -> None:
    ins = make_ins()
    view = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    await asyncio.gather(*(records.show_record(ctx, actor=OPERATOR, ins=ins) for _ in range(20)))
    await sequence_all(ctx.sessions)
    async with engine.connect() as conn:
        seqs = (
            (
                await conn.execute(
                    select(AuditEvent.seq)
                    .where(AuditEvent.chain == str(view.record_id))
                    .order_by(AuditEvent.seq)
                )
            )
            .scalars()
            .all()
        )
    assert seqs == list(range(1, 23))  # create, account, 20 reads
    (report,) = await verify_audit(ctx, ins=ins)
    assert report.ok and report.events == 22


# --- the hash itself -------------------------------------------------------------------------


def _fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "chain": "c0ffee00-0000-4000-8000-000000000000",
        "seq": 1,
        "record_id": uuid.UUID("c0ffee00-0000-4000-8000-000000000000"),
        "time": dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
        "action": "record:record:create",
        "outcome": "success",
        "reason": None,
        "actor_kind": "operator",
        "actor_id": "op",
        "actor_name": None,
        "actor_profession": None,
        "actor_organization": None,
        "access_mode": "normal",
        "target_document_id": None,
        "client_address": None,
        "details": '{"channel":"operator"}',
        "prev_hash": GENESIS_HASH,
    }
    fields.update(overrides)
    return fields


def test_the_same_fields_give_the_same_hash() -> None:
    assert event_hash(_fields()) == event_hash(_fields())
    assert len(event_hash(_fields())) == 64


def test_the_same_instant_in_another_offset_gives_the_same_hash() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    in_paris = dt.datetime(2026, 3, 1, 10, 0, tzinfo=paris)
    assert event_hash(_fields(time=in_paris)) == event_hash(_fields())


def test_a_uuid_and_its_text_give_the_same_hash() -> None:
    as_text = _fields(record_id="c0ffee00-0000-4000-8000-000000000000")
    assert event_hash(as_text) == event_hash(_fields())


def test_fields_outside_the_hashed_set_do_not_change_the_hash() -> None:
    assert event_hash({**_fields(), "id": 42, "hash": "x"}) == event_hash(_fields())


@pytest.mark.parametrize(
    "field",
    [pytest.param(f, id=f"changing {f} changes the hash") for f in HASHED_FIELDS],
)
def test_changing_any_hashed_field_changes_the_hash(field: str) -> None:
    base = _fields()
    changed = {**base, field: FORGERIES[field](base[field])}
    assert event_hash(changed) != event_hash(base)
