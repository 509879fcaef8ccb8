"""Issue 15: what each reader of the history is told of the documents, and the emergency
notices (one acknowledgement per holder). Refusals first."""

from __future__ import annotations

import dataclasses

import pytest

from opendmp.domain.actors import AccessMode
from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery, PageRequest
from opendmp.services.records.emergencies import (
    acknowledge_emergencies,
    unacknowledged_emergencies,
)
from tests.conftest import Clock
from tests.factories import make_ins, patient_actor
from tests.services.document_support import (
    STRANGER,
    TREATING,
    deposit,
    name_treating_doctor,
    new_patient_record,
)
from tests.services.records.test_history_export import representative_of

RESCUER = dataclasses.replace(
    STRANGER, access_mode=AccessMode.BREAK_GLASS, justification="patient unconscious"
)


async def test_only_the_holder_may_see_or_acknowledge_emergency_notices(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    other = patient_actor(make_ins())
    with pytest.raises(AccessDenied):
        await unacknowledged_emergencies(ctx, actor=other, ins=ins)
    with pytest.raises(AccessDenied):
        await acknowledge_emergencies(ctx, actor=other, ins=ins, through=1)
    with pytest.raises(InvalidInput):
        await acknowledge_emergencies(ctx, actor=patient_actor(ins), ins=ins, through=0)


async def test_a_treating_doctor_reading_the_history_is_not_told_document_titles(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    await deposit(ctx, ins)
    await name_treating_doctor(ctx, ins, TREATING)
    for_doctor = await documents.read_history(ctx, actor=TREATING, ins=ins)
    assert all(entry.document_title is None for entry in for_doctor)
    for_patient = await documents.read_history(ctx, actor=patient_actor(ins), ins=ins)
    assert any(entry.document_title for entry in for_patient)


async def test_each_holder_acknowledges_for_themself(ctx: ServiceContext, clock: Clock) -> None:
    ins = await new_patient_record(ctx)
    representative = await representative_of(ctx, ins)
    clock.advance(minutes=1)
    await documents.search_documents(
        ctx, actor=RESCUER, ins=ins, query=DocumentQuery(), page=PageRequest()
    )
    patient = patient_actor(ins)
    notices = await unacknowledged_emergencies(ctx, actor=patient, ins=ins)
    assert [(n.professional_idnat, n.mode) for n in notices] == [(RESCUER.idnat, "break-glass")]
    assert notices[0].events >= 2  # the opening and the search
    await acknowledge_emergencies(ctx, actor=patient, ins=ins, through=notices[0].latest_event_id)
    assert await unacknowledged_emergencies(ctx, actor=patient, ins=ins) == []
    assert await unacknowledged_emergencies(ctx, actor=representative, ins=ins)
    clock.advance(minutes=1)
    await documents.search_documents(
        ctx, actor=RESCUER, ins=ins, query=DocumentQuery(), page=PageRequest()
    )
    later = await unacknowledged_emergencies(ctx, actor=patient, ins=ins)
    assert len(later) == 1 and later[0].events == 1
