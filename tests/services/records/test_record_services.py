"""Record lifecycle services on a real database: create, show, close, reactivate, and the
early-destruction request (docs/rules.md §2). Refusals first, then successes."""

from __future__ import annotations

import dataclasses
import datetime as dt

import orjson
import pytest
from sqlalchemy import func, select

from opendmp.audit.sequencer import sequence_all
from opendmp.audit.verify import of_chain
from opendmp.domain.consent import ConsentChannel
from opendmp.domain.errors import AccessDenied, Conflict, IllegalTransition, InvalidInput, NotFound
from opendmp.domain.identifiers import INS_NIR_DEMO_OID, Ins
from opendmp.domain.records import ClosureReason, RecordStatus
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record, ins_hash
from opendmp.services.operations.maintenance import verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.services.records.lifecycle import EmergencyChoices
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import OPERATOR, make_consent, make_ins, make_professional, new_record
from tests.factories import patient_actor as as_patient
from tests.record_scope import whole_database

# --- helpers --------------------------------------------------------------------------------


async def create(ctx: ServiceContext, ins: Ins | None = None, **overrides: object) -> Ins:
    ins = ins or make_ins()
    await records.create_record(
        ctx, actor=OPERATOR, request=new_record(ins, ctx.now(), **overrides)
    )
    return ins


async def record_row(ctx: ServiceContext, ins: Ins) -> m.Record:
    async with ctx.sessions() as session:
        _, record = await get_record(session, ins)
        return record


async def events_of(ctx: ServiceContext, chain: str) -> list[m.AuditEvent]:
    await sequence_all(ctx.sessions)  # what the worker does within a fraction of a second
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(m.AuditEvent).where(of_chain(chain)).order_by(m.AuditEvent.seq)
        )
        return list(rows.scalars())


async def all_audit_events(ctx: ServiceContext) -> list[tuple[str, int, str]]:
    await sequence_all(ctx.sessions)
    async with ctx.sessions() as session:
        rows = await session.execute(
            whole_database(
                select(m.AuditEvent.chain, m.AuditEvent.seq, m.AuditEvent.hash).order_by(
                    m.AuditEvent.chain, m.AuditEvent.seq
                )
            )
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def count(ctx: ServiceContext, model: type[m.Base]) -> int:
    async with ctx.sessions() as session:
        return int(
            (
                await session.execute(whole_database(select(func.count()).select_from(model)))
            ).scalar_one()
        )


async def assert_audit_ok(ctx: ServiceContext) -> None:
    reports = await verify_audit(ctx)
    assert reports, "verify_audit reported no chain at all"
    assert all(r.ok for r in reports), reports


# --- refusals: creation -----------------------------------------------------------------------


async def test_a_record_is_not_created_without_the_persons_confirmed_consent(
    ctx: ServiceContext,
) -> None:
    ins = make_ins()
    request = new_record(ins, ctx.now(), consent=make_consent(ctx.now(), confirmed=False))
    with pytest.raises(InvalidInput) as caught:
        await records.create_record(ctx, actor=OPERATOR, request=request)
    assert caught.value.code == "consent-not-given"
    assert await count(ctx, m.Patient) == 0
    assert await count(ctx, m.Record) == 0


async def test_a_record_is_not_created_without_an_email_or_a_mobile(ctx: ServiceContext) -> None:
    request = new_record(make_ins(), ctx.now(), email=None, mobile=None)
    with pytest.raises(InvalidInput) as caught:
        await records.create_record(ctx, actor=OPERATOR, request=request)
    assert caught.value.code == "invalid-record-request"
    assert await count(ctx, m.Record) == 0


async def test_a_record_is_not_created_with_a_birth_date_in_the_future(
    ctx: ServiceContext,
) -> None:
    tomorrow = (ctx.now() + dt.timedelta(days=1)).date()
    request = new_record(make_ins(), ctx.now(), birth_date=tomorrow)
    with pytest.raises(InvalidInput) as caught:
        await records.create_record(ctx, actor=OPERATOR, request=request)
    assert caught.value.code == "invalid-record-request"
    assert "future" in caught.value.message
    assert await count(ctx, m.Record) == 0


async def test_a_second_record_for_the_same_ins_is_refused_and_changes_nothing(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    first = await record_row(ctx, ins)
    audit_before = await all_audit_events(ctx)

    with pytest.raises(Conflict) as caught:
        await records.create_record(
            ctx,
            actor=OPERATOR,
            request=new_record(ins, ctx.now(), birth_name="AUTRE", email="other@example.org"),
        )

    assert caught.value.code == "record-exists"
    assert await count(ctx, m.Patient) == 1
    assert await count(ctx, m.Record) == 1
    assert await count(ctx, m.Consent) == 1
    after = await record_row(ctx, ins)
    assert (after.id, after.status, after.created_at, after.wrapped_data_key) == (
        first.id,
        first.status,
        first.created_at,
        first.wrapped_data_key,
    )
    async with ctx.sessions() as session:
        patient, _ = await get_record(session, ins)
    assert patient.birth_name == "FICTIF"
    assert patient.email == "alex.fictif@example.org"
    assert await all_audit_events(ctx) == audit_before
    await assert_audit_ok(ctx)


async def test_a_record_is_not_created_for_an_ins_whose_record_is_closed(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    with pytest.raises(Conflict) as caught:
        await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    assert caught.value.code == "record-exists-closed"
    assert await count(ctx, m.Record) == 1
    assert (await record_row(ctx, ins)).status == RecordStatus.CLOSED


async def test_the_same_ins_value_under_another_oid_is_refused_with_a_stable_code(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    same_value = Ins(ins.value, INS_NIR_DEMO_OID)
    with pytest.raises(Conflict):
        await records.create_record(ctx, actor=OPERATOR, request=new_record(same_value, ctx.now()))
    assert await count(ctx, m.Patient) == 1


async def test_a_patient_cannot_create_a_record_for_someone_elses_ins(
    ctx: ServiceContext,
) -> None:
    me, other = make_ins(), make_ins()
    with pytest.raises(AccessDenied) as caught:
        await records.create_record(ctx, actor=as_patient(me), request=new_record(other, ctx.now()))
    assert caught.value.code == "not-own-record"
    assert await count(ctx, m.Record) == 0


# --- refusals: lifecycle ----------------------------------------------------------------------


async def test_closing_a_closed_record_is_refused_and_keeps_the_closure_date(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    closed = await records.close_record(
        ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST
    )
    clock.advance(days=3)
    with pytest.raises(IllegalTransition) as caught:
        await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.OPERATOR)
    assert caught.value.code == "record-already-closed"
    row = await record_row(ctx, ins)
    assert row.closed_at == closed.closed_at
    assert row.closure_reason == ClosureReason.PATIENT_REQUEST.value
    assert row.destroy_after == closed.destroy_after


async def test_reactivating_an_active_record_is_refused(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    with pytest.raises(IllegalTransition) as caught:
        await records.reactivate_record(ctx, actor=OPERATOR, ins=ins)
    assert caught.value.code == "record-not-closed"
    assert (await record_row(ctx, ins)).reactivated_at is None


async def test_a_record_closed_on_death_cannot_be_reactivated(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.DEATH)
    with pytest.raises(IllegalTransition) as caught:
        await records.reactivate_record(ctx, actor=OPERATOR, ins=ins)
    assert caught.value.code == "record-closed-on-death"
    assert (await record_row(ctx, ins)).status == RecordStatus.CLOSED


async def test_destruction_of_an_active_record_cannot_be_requested(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    with pytest.raises(IllegalTransition) as caught:
        await records.request_record_destruction(ctx, actor=as_patient(ins), ins=ins)
    assert caught.value.code == "record-not-closed"
    row = await record_row(ctx, ins)
    assert row.destruction_requested_at is None
    assert row.destroy_after is None


async def test_showing_an_unknown_ins_says_record_not_found(ctx: ServiceContext) -> None:
    await create(ctx)
    with pytest.raises(NotFound) as caught:
        await records.show_record(ctx, actor=OPERATOR, ins=make_ins())
    assert caught.value.code == "record-not-found"


async def test_a_patient_cannot_close_someone_elses_record_and_the_refusal_is_audited(
    ctx: ServiceContext,
) -> None:
    ins, other_ins = await create(ctx), make_ins()
    record_id = (await record_row(ctx, ins)).id

    with pytest.raises(AccessDenied) as caught:
        await records.close_record(
            ctx,
            actor=as_patient(other_ins),
            ins=ins,
            reason=ClosureReason.PATIENT_REQUEST,
        )

    assert caught.value.code == "not-own-record"
    assert str(ins) not in str(caught.value)
    events = await events_of(ctx, str(record_id))
    assert [e.action for e in events] == [
        "record:record:create",
        "auth:account:create",
        "record:record:close",
    ]
    denied = events[-1]
    assert denied.outcome == "denied"
    assert denied.reason == "not-own-record"
    assert denied.actor_kind == "patient"
    assert denied.actor_id == str(other_ins)
    assert denied.record_id == record_id
    row = await record_row(ctx, ins)
    assert row.status == RecordStatus.ACTIVE
    assert row.closed_at is None
    await assert_audit_ok(ctx)


async def test_a_professional_cannot_close_a_record(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    with pytest.raises(AccessDenied) as caught:
        await records.close_record(
            ctx, actor=make_professional(), ins=ins, reason=ClosureReason.OPERATOR
        )
    assert caught.value.code == "actor-not-permitted"
    assert (await record_row(ctx, ins)).status == RecordStatus.ACTIVE
    events = await events_of(ctx, str((await record_row(ctx, ins)).id))
    assert (events[-1].outcome, events[-1].reason) == ("denied", "actor-not-permitted")


# --- successes --------------------------------------------------------------------------------


async def test_each_state_change_writes_exactly_one_audit_event_in_order(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    record_id = (await record_row(ctx, ins)).id
    patient = as_patient(ins)
    # Creation also creates the patient's account (its own event).
    actions: list[str] = ["record:record:create", "auth:account:create"]

    async def step(action: str) -> None:
        actions.append(action)
        events = await events_of(ctx, str(record_id))
        assert [e.action for e in events] == actions
        assert [e.seq for e in events] == list(range(1, len(actions) + 1))
        assert all(e.outcome == "success" for e in events)

    assert [e.action for e in await events_of(ctx, str(record_id))] == actions
    clock.advance(minutes=1)
    await records.show_record(ctx, actor=patient, ins=ins)
    await step("record:record:read-status")
    clock.advance(minutes=1)
    await records.close_record(ctx, actor=patient, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    await step("record:record:close")
    clock.advance(days=1)
    await records.reactivate_record(ctx, actor=patient, ins=ins)
    await step("record:record:reactivate")
    clock.advance(days=1)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.FRAUD)
    await step("record:record:close")
    clock.advance(days=1)
    await records.request_record_destruction(ctx, actor=patient, ins=ins)
    await step("record:record:request-destruction")

    events = await events_of(ctx, str(record_id))
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert events[0].actor_kind == "operator"
    assert events[-1].actor_kind == "patient"
    assert orjson.loads(events[5].details or "{}") == {"reason": "FERMETURE_FRAUDE"}
    await assert_audit_ok(ctx)


async def test_creation_stores_the_traced_consent(ctx: ServiceContext) -> None:
    ins = make_ins()
    request = new_record(ins, ctx.now())
    view = await records.create_record(ctx, actor=OPERATOR, request=request)
    consent = request.consent

    async with ctx.sessions() as session:
        rows = (
            (await session.execute(select(m.Consent).where(m.Consent.record_id == view.record_id)))
            .scalars()
            .all()
        )
        record = await session.get(m.Record, view.record_id)
    assert len(rows) == 1
    stored = rows[0]
    assert record is not None
    assert record.creation_consent_id == stored.id
    assert stored.kind == "creation"
    assert stored.channel == ConsentChannel.OPERATOR.value
    assert (stored.captured_by_kind, stored.captured_by_id) == ("operator", OPERATOR.login)
    assert stored.place == "tests"
    assert stored.notice_version == consent.notice_version
    assert stored.notice_sha256 == consent.notice_sha256
    assert len(stored.notice_sha256) == 64
    assert stored.evidence_sha256 == consent.evidence_sha256(ins_hash(ins))
    assert stored.captured_at == consent.captured_at
    # The evidence is bound to the person: another INS would give another hash.
    assert stored.evidence_sha256 != consent.evidence_sha256(ins_hash(make_ins()))


async def test_creation_by_an_operator_notifies_the_patient_without_names_or_ins(
    ctx: ServiceContext,
) -> None:
    ins = make_ins()
    view = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    async with ctx.sessions() as session:
        rows = (await session.execute(select(m.Outbox))).scalars().all()
    assert len(rows) == 1
    row = rows[0]
    assert row.kind == "record-created"
    assert row.recipient == "alex.fictif@example.org"
    assert row.record_id == view.record_id
    assert row.status == "pending"
    payload = row.payload
    for secret in (ins.value, str(ins), "FICTIF", "Fictif", "Alex", "1980-01-15"):
        assert secret not in payload
    assert set(orjson.loads(payload)) <= {"channel", "at"}


async def test_a_patient_creating_their_own_record_is_not_notified(ctx: ServiceContext) -> None:
    ins = make_ins()
    consent = dataclasses.replace(
        make_consent(ctx.now()),
        channel=ConsentChannel.ONLINE,
        captured_by_kind="patient",
        captured_by_id=str(ins),
    )
    view = await records.create_record(
        ctx, actor=as_patient(ins), request=new_record(ins, ctx.now(), consent=consent)
    )
    assert view.status == RecordStatus.ACTIVE
    assert await count(ctx, m.Outbox) == 0
    events = await events_of(ctx, str(view.record_id))
    assert [(e.action, e.actor_kind) for e in events] == [
        ("record:record:create", "patient"),
        ("auth:account:create", "system"),
    ]


async def test_closing_keeps_the_record_ten_years_after_closure(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    clock.advance(days=40)
    closed_at = clock.now
    view = await records.close_record(
        ctx, actor=as_patient(ins), ins=ins, reason=ClosureReason.PATIENT_REQUEST, text="bye"
    )
    assert view.status == RecordStatus.CLOSED
    assert view.closed_at == closed_at
    assert view.destroy_after == closed_at.replace(year=closed_at.year + 10)
    row = await record_row(ctx, ins)
    assert row.closed_at == closed_at
    assert row.destroy_after == closed_at.replace(year=closed_at.year + 10)
    assert row.closure_reason == "FERMETURE_DEMANDE_PATIENT"
    assert row.closure_text == "bye"
    shown = await records.show_record(ctx, actor=as_patient(ins), ins=ins)
    assert shown.status == RecordStatus.CLOSED


async def test_requesting_destruction_brings_it_within_ninety_days(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    clock.advance(days=5)
    view = await records.request_record_destruction(ctx, actor=as_patient(ins), ins=ins)
    assert view.destruction_requested_at == clock.now
    assert view.destroy_after is not None
    assert view.destroy_after <= clock.now + dt.timedelta(days=90)
    row = await record_row(ctx, ins)
    assert row.destroy_after == view.destroy_after
    assert row.destruction_requested_at == clock.now


async def test_reactivation_clears_the_closure_and_asks_the_emergency_choices_again(
    ctx: ServiceContext, clock: Clock
) -> None:
    refusing = EmergencyChoices(
        allow_regulation=False, allow_break_glass=False, allow_masked_in_emergency=False
    )
    ins = await create(ctx, emergency=refusing)
    await records.close_record(
        ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST, text="pause"
    )
    await records.request_record_destruction(ctx, actor=as_patient(ins), ins=ins)
    clock.advance(days=10)

    view = await records.reactivate_record(ctx, actor=as_patient(ins), ins=ins)

    assert view.status == RecordStatus.ACTIVE
    row = await record_row(ctx, ins)
    assert row.status == RecordStatus.ACTIVE
    assert row.closed_at is None
    assert row.closure_reason is None
    assert row.closure_text is None
    assert row.destroy_after is None
    assert row.destruction_requested_at is None
    assert row.reactivated_at == clock.now
    # Not asked again: the refusals given at creation do not silently survive.
    assert view.emergency == EmergencyChoices()
    assert (row.allow_regulation, row.allow_break_glass, row.allow_masked_in_emergency) == (
        True,
        True,
        True,
    )


async def test_reactivation_stores_the_emergency_choices_given_again(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    choices = EmergencyChoices(allow_regulation=True, allow_break_glass=False)
    view = await records.reactivate_record(ctx, actor=as_patient(ins), ins=ins, emergency=choices)
    assert view.emergency == choices
    row = await record_row(ctx, ins)
    assert (row.allow_regulation, row.allow_break_glass, row.allow_masked_in_emergency) == (
        True,
        False,
        True,
    )
