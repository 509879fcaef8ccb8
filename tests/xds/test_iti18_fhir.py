"""A document deposited through the FHIR API (ITI-65) is found by ITI-18 FindDocuments with the
metadata ITI-67 shows, to the same readers; on both databases."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
from lxml import etree

from opendmp.app import Runtime
from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.records import lifecycle as records
from opendmp.xds import ebrim, iti18
from opendmp.xds import stored_query as sq
from opendmp.xds.metadata_in import classifications, external_id, localized, slots
from opendmp.xds.metadata_out import patient_cx
from tests.api.fhir_read_support import AUTHOR, DOCTOR, auth
from tests.api.provide_support import FHIR_JSON, ans_iti65
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import deposit, grant
from tests.xds.iti18_support import adhoc, find_documents

DTM = "%Y%m%d%H%M%S"


async def patient_record(runtime: Runtime) -> Ins:
    ctx = runtime.ctx
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    for professional in (AUTHOR, DOCTOR):
        await grant(ctx, ins, professional)
    return ins


async def iti67(http: httpx.AsyncClient, runtime: Runtime, ins: Ins, actor: Actor) -> list[Any]:
    response = await http.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": f"{ins.system}|{ins.value}", "status": "current"},
        headers=auth(runtime.ctx, actor),
    )
    assert response.status_code == 200, response.text
    return [e["resource"] for e in orjson.loads(response.content).get("entry", [])]


async def iti18_find(runtime: Runtime, ins: Ins, actor: Actor) -> list[etree._Element]:
    return await iti18.run_stored_query(
        runtime.ctx,
        actor=actor,
        vihf_patient=ins,
        query=sq.parse_stored_query(adhoc(sq.FIND_DOCUMENTS, find_documents(ins))),
        repository_unique_id=runtime.settings.xds_repository_unique_id,
    )


def code_of(element: etree._Element, scheme: str) -> list[str]:
    return [str(c.get("nodeRepresentation")) for c in classifications(element, scheme)]


def fhir_time(value: str) -> str:
    # FHIR instants OpenDMP writes are UTC: 2024-01-01T10:00:00Z -> 20240101100000
    return "".join(ch for ch in value.removesuffix("Z").split("+")[0] if ch.isdigit())[:14]


def xds_fields(element: etree._Element) -> dict[str, Any]:
    found = slots(element)
    return {
        "id": str(element.get("id")).removeprefix("urn:uuid:"),
        "uniqueId": external_id(element, ebrim.DE_UNIQUE_ID, "doc"),
        "patient": external_id(element, ebrim.DE_PATIENT_ID, "doc"),
        "status": element.get("status"),
        "mimeType": element.get("mimeType"),
        "title": localized(element, "Name"),
        "type": code_of(element, ebrim.DE_TYPE_CODE),
        "class": code_of(element, ebrim.DE_CLASS_CODE),
        "format": code_of(element, ebrim.DE_FORMAT_CODE),
        "confidentiality": sorted(code_of(element, ebrim.DE_CONFIDENTIALITY_CODE)),
        "facility": code_of(element, ebrim.DE_FACILITY_TYPE_CODE),
        "practice": code_of(element, ebrim.DE_PRACTICE_SETTING_CODE),
        "size": found[ebrim.SLOT_SIZE],
        "hash": found[ebrim.SLOT_HASH],
        "creation": found[ebrim.SLOT_CREATION_TIME],
        "language": found[ebrim.SLOT_LANGUAGE_CODE],
    }


def fhir_fields(resource: dict[str, Any], ins: Ins) -> dict[str, Any]:
    attachment = resource["content"][0]["attachment"]
    context = resource.get("context", {})

    def first(value: Any) -> list[str]:
        return [value["coding"][0]["code"]] if value else []

    return {
        "id": resource["id"],
        "uniqueId": resource["masterIdentifier"]["value"].removeprefix("urn:oid:"),
        "patient": patient_cx(ins),
        "status": ebrim.APPROVED if resource["status"] == "current" else ebrim.DEPRECATED,
        "mimeType": attachment["contentType"],
        "title": attachment["title"],
        "type": first(resource["type"]),
        "class": first(resource["category"][0]),
        "format": [resource["content"][0]["format"]["code"]],
        "confidentiality": sorted(c["coding"][0]["code"] for c in resource["securityLabel"]),
        "facility": first(context.get("facilityType")),
        "practice": first(context.get("practiceSetting")),
        "size": [str(attachment["size"])],
        "hash": [base64.b64decode(attachment["hash"]).hex()],
        "creation": [fhir_time(attachment["creation"])],
        "language": [attachment["language"]],
    }


async def test_an_iti65_deposit_is_found_by_iti18_with_the_metadata_iti67_shows(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    ins = await patient_record(runtime)
    response = await http.post(
        "/fhir",
        content=orjson.dumps(ans_iti65(ins)),
        headers={**auth(runtime.ctx, AUTHOR), "Content-Type": FHIR_JSON},
    )
    assert response.status_code == 200, response.text

    [resource] = await iti67(http, runtime, ins, AUTHOR)
    [entry] = await iti18_find(runtime, ins, AUTHOR)

    assert xds_fields(entry) == fhir_fields(resource, ins)
    [repository] = slots(entry)[ebrim.SLOT_REPOSITORY_UNIQUE_ID]
    assert repository == runtime.settings.xds_repository_unique_id


async def test_a_masked_document_is_hidden_from_the_same_readers_in_iti67_and_iti18(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    ins = await patient_record(runtime)
    response = await http.post(
        "/fhir",
        content=orjson.dumps(ans_iti65(ins)),
        headers={**auth(runtime.ctx, AUTHOR), "Content-Type": FHIR_JSON},
    )
    assert response.status_code == 200, response.text
    second = await deposit(runtime.ctx, ins, actor=AUTHOR)
    await documents.mask_document(
        runtime.ctx, actor=AUTHOR, ins=ins, document_id=second.id, masked=True
    )

    seen = {}
    for reader in (AUTHOR, DOCTOR):
        fhir_ids = {r["id"] for r in await iti67(http, runtime, ins, reader)}
        xds_ids = {
            str(e.get("id")).removeprefix("urn:uuid:")
            for e in await iti18_find(runtime, ins, reader)
        }
        assert xds_ids == fhir_ids
        seen[reader.idnat] = len(xds_ids)
    assert seen == {AUTHOR.idnat: 2, DOCTOR.idnat: 1}
