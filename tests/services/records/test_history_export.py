"""The access history, "report this access", and the patient's export of their record.
Refusals first, then successes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import orjson
import pytest

from opendmp.domain.actors import AccessMode, LegalRepresentative
from opendmp.domain.errors import AccessDenied, InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.documents import DocumentQuery, PageRequest
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import make_ins, patient_actor
from tests.services.document_support import (
    AUTHOR,
    CONTENT,
    DOCTOR,
    STRANGER,
    TREATING,
    deposit,
    grant,
    last_event,
    name_treating_doctor,
    new_patient_record,
    record_events,
)


async def representative_of(ctx: ServiceContext, ins: Ins) -> LegalRepresentative:
    """A legal representative registered on the record (by procedure, at the desk)."""
    rep_id = uuid.uuid4()
    async with ctx.sessions() as session, session.begin():
        _, record = await get_record(session, ins)
        session.add(
            m.Representative(
                id=rep_id,
                record_id=record.id,
                relation="MTH",
                family_name="FICTIF",
                given_name="Camille",
                email=None,
                account_id=None,
                created_at=ctx.now(),
            )
        )
    return LegalRepresentative(representative_id=str(rep_id), patient_ins=str(ins), relation="MTH")


# --- refusals ---------------------------------------------------------------------------------


async def test_a_professional_who_is_not_a_treating_doctor_cannot_read_the_history(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, DOCTOR)

    with pytest.raises(AccessDenied) as caught:
        await documents.read_history(ctx, actor=DOCTOR, ins=ins)

    assert caught.value.code == "actor-not-permitted"
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome) == ("record:history:read", "denied")


async def test_a_patient_cannot_read_another_patients_history(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(AccessDenied) as caught:
        await documents.read_history(ctx, actor=patient_actor(make_ins()), ins=ins)
    assert caught.value.code == "not-own-record"


async def test_history_times_must_carry_a_time_zone(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(InvalidInput):
        await documents.read_history(
            ctx,
            actor=patient_actor(ins),
            ins=ins,
            since=dt.datetime(2026, 1, 1),  # noqa: DTZ001 - on purpose
        )


async def test_only_a_professionals_event_of_this_record_can_be_reported(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    other = await new_patient_record(ctx)
    await deposit(ctx, other)
    foreign = await last_event(ctx, other)
    own = await last_event(ctx, ins)  # the record's creation, by the operator
    patient = patient_actor(ins)

    with pytest.raises(NotFound) as unknown:
        await documents.report_access(ctx, actor=patient, ins=ins, event_id=foreign.id, comment="")
    with pytest.raises(InvalidInput) as not_access:
        await documents.report_access(ctx, actor=patient, ins=ins, event_id=own.id, comment="")
    with pytest.raises(AccessDenied) as stranger:
        await documents.report_access(
            ctx, actor=patient_actor(other), ins=ins, event_id=own.id, comment=""
        )

    assert unknown.value.code == "event-not-found"
    assert not_access.value.code == "not-an-access"
    assert stranger.value.code == "not-own-record"


async def test_only_the_patient_exports_their_record(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, DOCTOR)
    representative = await representative_of(ctx, ins)

    for actor, code in (
        (DOCTOR, "actor-not-permitted"),
        (representative, "actor-not-permitted"),
        (patient_actor(make_ins()), "not-own-record"),
    ):
        with pytest.raises(AccessDenied) as caught:
            await documents.export_record(ctx, actor=actor, ins=ins)
        assert caught.value.code == code
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome) == ("record:record:export", "denied")


async def test_a_treating_doctor_reads_the_history(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    await name_treating_doctor(ctx, ins, TREATING)
    entries = await documents.read_history(ctx, actor=TREATING, ins=ins)
    assert entries


# --- successes: history -----------------------------------------------------------------------


async def test_the_patient_sees_every_access_newest_first(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await new_patient_record(ctx)
    clock.advance(minutes=1)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    clock.advance(minutes=1)
    await documents.read_document(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    clock.advance(minutes=1)
    emergency = dataclasses.replace(
        STRANGER, access_mode=AccessMode.BREAK_GLASS, justification="patient unconscious"
    )
    await documents.search_documents(
        ctx, actor=emergency, ins=ins, query=DocumentQuery(), page=PageRequest()
    )

    entries = await documents.read_history(ctx, actor=patient_actor(ins), ins=ins)

    times = [e.time for e in entries]
    assert times == sorted(times, reverse=True)
    actions = [e.action for e in entries]
    assert "record:record:create" in actions
    assert "document:document:deposit" in actions
    read = next(e for e in entries if e.action == "document:document:read")
    assert (read.actor_kind, read.actor_id, read.actor_name, read.actor_profession) == (
        "professional",
        DOCTOR.idnat,
        DOCTOR.name,
        "10",
    )
    assert (read.target_document_id, read.emergency, read.access_mode) == (
        doc.id,
        False,
        "normal",
    )
    searched = next(e for e in entries if e.action == "document:document:search")
    assert (searched.emergency, searched.access_mode, searched.actor_id) == (
        True,
        "break-glass",
        STRANGER.idnat,
    )
    assert "record:history:read" not in actions  # this very reading comes after
    event = await last_event(ctx, ins)
    assert (event.action, orjson.loads(event.details or "{}")) == (
        "record:history:read",
        {"count": len(entries)},
    )


async def test_the_history_filters_by_time_and_by_professional(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    await grant(ctx, ins, AUTHOR)
    clock.advance(days=2)
    start = ctx.now()
    await documents.read_document(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    await documents.read_document(ctx, actor=AUTHOR, ins=ins, document_id=doc.id)
    clock.advance(days=1)
    await documents.read_document(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    patient = patient_actor(ins)

    window = await documents.read_history(
        ctx, actor=patient, ins=ins, since=start, until=start + dt.timedelta(hours=1)
    )
    by_doctor = await documents.read_history(
        ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat
    )
    latest = await documents.read_history(ctx, actor=patient, ins=ins, limit=1)

    assert {(e.actor_id, e.action) for e in window} == {
        (DOCTOR.idnat, "document:document:read"),
        (AUTHOR.idnat, "document:document:read"),
    }
    assert [e.action for e in by_doctor] == ["document:document:read"] * 2
    assert all(e.actor_id == DOCTOR.idnat for e in by_doctor)
    assert len(latest) == 1


async def test_events_about_hidden_documents_are_left_out_for_whom_they_are_hidden(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    hidden = await deposit(ctx, ins, invisible_to_patient=True)
    secret = await deposit(ctx, ins, invisible_to_representatives=True)
    representative = await representative_of(ctx, ins)

    for_patient = await documents.read_history(ctx, actor=patient_actor(ins), ins=ins)
    for_representative = await documents.read_history(ctx, actor=representative, ins=ins)

    assert hidden.id not in {e.target_document_id for e in for_patient}
    assert secret.id in {e.target_document_id for e in for_patient}
    assert {hidden.id, secret.id}.isdisjoint(e.target_document_id for e in for_representative)


async def test_the_patient_reports_an_access(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    await documents.read_document(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    entries = await documents.read_history(ctx, actor=patient_actor(ins), ins=ins)
    access = next(e for e in entries if e.actor_id == DOCTOR.idnat)

    await documents.report_access(
        ctx,
        actor=patient_actor(ins),
        ins=ins,
        event_id=access.event_id,
        comment=" Je ne le connais pas ",
    )

    event = await last_event(ctx, ins)
    assert (event.action, event.outcome, event.actor_kind) == (
        "record:access:reported",
        "success",
        "patient",
    )
    assert orjson.loads(event.details or "{}") == {
        "event_id": access.event_id,
        "comment": "Je ne le connais pas",
    }


# --- successes: export ------------------------------------------------------------------------


async def test_the_export_holds_every_readable_document_and_their_metadata(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    letter = await deposit(ctx, ins)
    own = await documents.deposit_patient_document(
        ctx,
        actor=patient_actor(ins),
        ins=ins,
        title="Note",
        type_code="DOCPAT02",
        mime_type="text/plain",
        content=b"Note personnelle",
    )
    hidden = await deposit(ctx, ins, invisible_to_patient=True)
    deleted = await deposit(ctx, ins)
    await documents.delete_document(ctx, actor=AUTHOR, ins=ins, document_id=deleted.id)

    exported = await documents.export_record(ctx, actor=patient_actor(ins), ins=ins)

    files = {str(d.view.id): d.content for d in exported.documents}
    assert set(files) == {str(letter.id), str(own.id)}
    assert files[str(letter.id)] == CONTENT
    assert files[str(own.id)] == b"Note personnelle"
    assert (exported.ins_oid, exported.ins_value) == (ins.oid, ins.value)
    titles = {str(d.view.id): d.view.title for d in exported.documents}
    assert titles[str(own.id)] == "Note"
    names = [d.file_name for d in exported.documents]
    assert names[0].startswith("documents/0001-") and len(set(names)) == 2
    assert str(hidden.id) not in str(exported)  # neither the document nor its events
    assert str(deleted.id) not in str(exported.documents)
    actions = [e.action for e in exported.history]
    assert "document:document:deposit" in actions and "record:record:create" in actions
    assert all(e.target_document_id != hidden.id for e in exported.history)
    event = await last_event(ctx, ins)
    assert (event.action, event.outcome, orjson.loads(event.details or "{}")) == (
        "record:record:export",
        "success",
        {"documents": 2, "events": len(exported.history)},
    )
    assert CONTENT.decode() not in str([e.details for e in await record_events(ctx, ins)])
