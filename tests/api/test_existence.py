"""A document one may not see does not exist for them (docs/security.md, "Existence").

Over HTTP, on the test database (SQLite, and PostgreSQL when
``OPENDMP_TEST_DATABASE_URL`` is set): for a patient (a document hidden from her, another
patient's document) and for professionals (a masked document, a type their profession may
not read, a record that blocks or never authorised them), every route that addresses one
document by its id — ``GET DocumentReference/<id>``, ITI-68 ``GET Binary/<id>``, PDSm
``PATCH DocumentReference/<id>`` and the conditional PATCH by identifier — answers exactly
what an unknown id gets (status and body), while the refusal is audited as a denied access
with its true reason. A caller who may see the document still gets the policy's 403
(tests/api/test_fhir_update.py::test_only_the_author_archives).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentView
from opendmp.services.documents.lookup import locate_document
from opendmp.services.records import lifecycle as records
from tests.api.fhir_read_support import (
    BLOCKED,
    DOCTOR,
    PHARMACIST,
    PSYCHIATRIC_SYNTHESIS,
    STRANGER,
    auth,
    body_of,
    codes_of,
    deposit,
    entry_id,
    events,
    patient,
)
from tests.factories import OPERATOR, make_ins, new_record
from tests.record_scope import document_by_id

UNKNOWN = str(uuid.UUID(int=0x5F0C6A4E8D0E4D7A9A570D4F4F0C2A11))
MASK = orjson.dumps(
    [
        {
            "op": "add",
            "path": "/securityLabel/-",
            "value": {
                "coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS"}]
            },
        }
    ]
)

Ask = Callable[[httpx.AsyncClient, dict[str, str], str], Awaitable[httpx.Response]]


async def read_reference(http: httpx.AsyncClient, headers: dict[str, str], id_: str) -> Any:
    return await http.get(f"/fhir/DocumentReference/{id_}", headers=headers)


async def retrieve(http: httpx.AsyncClient, headers: dict[str, str], id_: str) -> Any:
    return await http.get(f"/fhir/Binary/{id_}", headers=headers)


async def patch_by_id(http: httpx.AsyncClient, headers: dict[str, str], id_: str) -> Any:
    return await http.patch(
        f"/fhir/DocumentReference/{id_}",
        content=MASK,
        headers={**headers, "Content-Type": "application/json-patch+json"},
    )


async def conditional_patch(http: httpx.AsyncClient, headers: dict[str, str], id_: str) -> Any:
    return await http.patch(
        "/fhir/DocumentReference",
        params={"identifier": id_},
        content=MASK,
        headers={**headers, "Content-Type": "application/json-patch+json"},
    )


ROUTES = [read_reference, retrieve, patch_by_id, conditional_patch]


async def hidden_from_the_patient(ctx: ServiceContext, ins: Ins) -> tuple[Actor, DocumentView]:
    return patient(ins), await deposit(ctx, ins, invisible_to_patient=True)


async def another_patients(ctx: ServiceContext, ins: Ins) -> tuple[Actor, DocumentView]:
    other = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(other, ctx.now()))
    return patient(ins), await deposit(ctx, other)


async def masked_for_a_doctor(ctx: ServiceContext, ins: Ins) -> tuple[Actor, DocumentView]:
    doc = await deposit(ctx, ins)
    masked = await documents.mask_document(
        ctx, actor=patient(ins), ins=ins, document_id=doc.id, masked=True
    )
    return DOCTOR, masked  # its current entryUUID


async def not_for_a_pharmacist(ctx: ServiceContext, ins: Ins) -> tuple[Actor, DocumentView]:
    return PHARMACIST, await deposit(ctx, ins, type_code=PSYCHIATRIC_SYNTHESIS)


async def blocked_professional(ctx: ServiceContext, ins: Ins) -> tuple[Actor, DocumentView]:
    return BLOCKED, await deposit(ctx, ins)


async def professional_without_basis(ctx: ServiceContext, ins: Ins) -> tuple[Actor, DocumentView]:
    return STRANGER, await deposit(ctx, ins)


CASES: dict[str, tuple[Callable[..., Awaitable[tuple[Actor, DocumentView]]], str]] = {
    "patient-invisible": (hidden_from_the_patient, "invisible-to-patient"),
    "patient-other-record": (another_patients, "not-own-record"),
    "professional-masked": (masked_for_a_doctor, "masked-by-patient"),
    "professional-matrix": (not_for_a_pharmacist, "type-not-allowed-for-profession"),
    "professional-blocked": (blocked_professional, "blocked-by-patient"),
    "professional-no-basis": (professional_without_basis, "not-authorized"),
}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("case", list(CASES))
async def test_exists_but_not_for_you_answers_as_does_not_exist(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, case: str, route: Ask
) -> None:
    arrange, reason = CASES[case]
    actor, doc = await arrange(ctx, ins)
    owner = ins if case != "patient-other-record" else await record_of(ctx, doc)
    before = len(await events(ctx, owner))
    headers = auth(ctx, actor)
    for id_ in (entry_id(doc), str(doc.id)):
        hidden = await route(http, headers, id_)
        unknown = await route(http, headers, UNKNOWN)
        assert unknown.status_code == 404
        assert (hidden.status_code, hidden.content) == (404, unknown.content), hidden.text
        assert codes_of(body_of(hidden)) == {"document-not-found"}
    # Audited as the refusals they are, with their true reason; nothing else happened.
    after = (await events(ctx, owner))[before:]
    assert [(e.outcome, e.reason, e.target_document_id) for e in after] == [
        ("denied", reason, doc.id)
    ] * 2
    async with ctx.sessions() as session:
        row = await document_by_id(session, doc.id)
        assert row is not None and (row.version, row.entry_uuid) == (doc.version, doc.entry_uuid)


async def record_of(ctx: ServiceContext, doc: DocumentView) -> Ins:
    found = await locate_document(ctx, reference=str(doc.id))
    assert found is not None
    return found.ins
