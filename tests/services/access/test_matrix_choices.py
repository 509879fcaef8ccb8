"""The patient's own matrix on a real database (docs/rules.md §3.6): she narrows what a
profession reads, never widens it; the policy and the SQL filter both apply it; every change
is in the history."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from opendmp.domain.actors import Actor
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.patient_matrix import Narrowing
from opendmp.services import documents
from opendmp.services.access.matrix_choices import set_matrix_narrowings, show_matrix_choices
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.matrix_loader import load_matrix
from opendmp.services.documents.criteria import DocumentQuery
from tests.factories import patient_actor
from tests.services.access.test_access_services import assert_refused
from tests.services.document_support import (
    AUTHOR,
    DOCTOR,
    PHARMACIST,
    deposit,
    grant,
    new_patient_record,
    record_events,
)

PSY = "68599-0"  # synthèse psychiatrique: category mental-health
NO_PSY_FOR_PHARMACISTS = Narrowing("21", None, "mental-health")
# As an official matrix loaded as-is might say: pharmacists read psychiatric syntheses.
WIDER = AccessMatrix({**load_matrix().cells, ("21", None, PSY): True})


async def listed(ctx: ServiceContext, ins: Ins, actor: Actor) -> set[uuid.UUID]:
    page = await documents.search_documents(ctx, actor=actor, ins=ins, query=DocumentQuery())
    return {item.id for item in page.items}


async def narrow(ctx: ServiceContext, ins: Ins, *narrowings: Narrowing) -> None:
    await set_matrix_narrowings(ctx, actor=patient_actor(ins), ins=ins, narrowings=narrowings)


async def test_a_pharmacist_loses_mental_health_documents_while_the_patient_narrows(
    ctx: ServiceContext,
) -> None:
    ctx = dataclasses.replace(ctx, matrix=WIDER)
    ins = await new_patient_record(ctx)
    psy = await deposit(ctx, ins, type_code=PSY, title="Synthèse psychiatrique")
    letter = await deposit(ctx, ins)
    await grant(ctx, ins, PHARMACIST)
    assert await listed(ctx, ins, PHARMACIST) == {psy.id, letter.id}

    await narrow(ctx, ins, NO_PSY_FOR_PHARMACISTS)

    assert await listed(ctx, ins, PHARMACIST) == {letter.id}
    with pytest.raises(OpenDMPError):
        await documents.read_document(ctx, actor=PHARMACIST, ins=ins, document_id=psy.id)
    refused = (await record_events(ctx, ins))[-1]
    assert (refused.outcome, refused.reason) == ("denied", "narrowed-by-patient")
    await documents.read_document(ctx, actor=PHARMACIST, ins=ins, document_id=letter.id)
    # The patient herself is never narrowed.
    assert await listed(ctx, ins, patient_actor(ins)) == {psy.id, letter.id}

    await narrow(ctx, ins)

    assert await listed(ctx, ins, PHARMACIST) == {psy.id, letter.id}
    await documents.read_document(ctx, actor=PHARMACIST, ins=ins, document_id=psy.id)
    changes = [e for e in await record_events(ctx, ins) if e.action == "access:matrix:set"]
    assert [json.loads(e.details or "{}") for e in changes] == [
        {"narrowed": ["21/*/mental-health"], "restored": [], "changed": True},
        {"narrowed": [], "restored": ["21/*/mental-health"], "changed": True},
    ]


async def test_the_author_still_reads_what_the_patient_took_from_his_profession(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    psy = await deposit(ctx, ins, type_code=PSY, title="Synthèse psychiatrique")
    for doctor in (AUTHOR, DOCTOR):
        await grant(ctx, ins, doctor)
    await narrow(ctx, ins, Narrowing("10", None, "mental-health"))

    assert await listed(ctx, ins, AUTHOR) == {psy.id}
    assert await listed(ctx, ins, DOCTOR) == set()
    await documents.read_document(ctx, actor=AUTHOR, ins=ins, document_id=psy.id)


async def test_a_narrowing_by_specialty_binds_that_specialty_only(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    psy = await deposit(ctx, ins, type_code=PSY, title="Synthèse psychiatrique")
    await grant(ctx, ins, DOCTOR)
    assert DOCTOR.specialty is not None
    await narrow(ctx, ins, Narrowing("10", "SM99", "mental-health"))
    assert await listed(ctx, ins, DOCTOR) == {psy.id}
    await narrow(ctx, ins, Narrowing("10", DOCTOR.specialty, "mental-health"))
    assert await listed(ctx, ins, DOCTOR) == set()


@pytest.mark.parametrize(
    ("narrowing", "code"),
    [
        (NO_PSY_FOR_PHARMACISTS, "matrix-widening-refused"),  # the matrix already refuses it
        (Narrowing("21", None, "horoscopes"), "unknown-category"),
        (Narrowing("99", None, "reports"), "unknown-profession"),
    ],
)
async def test_what_is_not_a_narrowing_of_the_matrix_is_refused_and_nothing_changes(
    ctx: ServiceContext, narrowing: Narrowing, code: str
) -> None:
    ins = await new_patient_record(ctx)
    await narrow(ctx, ins, Narrowing("10", None, "reports"))
    with pytest.raises(OpenDMPError) as caught:
        await narrow(ctx, ins, Narrowing("10", None, "reports"), narrowing)
    assert caught.value.code == code
    shown = await show_matrix_choices(ctx, actor=patient_actor(ins), ins=ins)
    assert shown.narrowings == (Narrowing("10", None, "reports"),)


async def test_only_what_the_matrix_allows_is_offered(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    shown = await show_matrix_choices(ctx, actor=patient_actor(ins), ins=ins)
    offered = {p.profession: p.offered for p in shown.professions}
    assert "mental-health" in offered["10"]
    assert "mental-health" not in offered["21"]  # the default matrix refuses it already
    assert offered["21"][0] == "reports"  # nor genetics (sensitive ones come first)
    assert set(offered) == load_matrix().professions()


async def test_a_professional_may_not_change_the_patients_matrix(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, DOCTOR)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: set_matrix_narrowings(c, actor=DOCTOR, ins=i, narrowings=()),
        code="actor-not-permitted",
        action="access:matrix:set",
    )
