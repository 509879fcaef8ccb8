"""Metadata updates over HTTP (DMP TD3.3, ANS PDSm PATCH): JSON Patch and FHIRPath Patch
(JSON and XML), by id and conditional on ``identifier``, on SQLite and PostgreSQL.
Refusals first: 405 for any element but status/securityLabel/isArchived, 403 by the rules,
404/412 for conditional matches, 412 on If-Match, 410 deleted, 422 unsupported changes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from opendmp.domain.identifiers import Ins
from opendmp.fhir.mapping import IS_ARCHIVED_URL
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from tests.api.fhir_read_support import (
    AUTHOR,
    DOCTOR,
    FHIR_JSON,
    FHIR_XML,
    PHARMACIST,
    PSYCHIATRIC_SYNTHESIS,
    auth,
    body_of,
    codes_of,
    deposit,
    entry_id,
    events,
    ids_of,
    ins_token,
    patient,
)
from tests.api.provide_support import to_xml
from tests.factories import OPERATOR, make_ins, new_record

JSON_PATCH = "application/json-patch+json"
DMP_VISIBILITY = "urn:oid:1.2.250.1.213.1.1.4.13"
V3 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def label(code: str, system: str = DMP_VISIBILITY) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def operation(kind: str, path: str, **parts: Any) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"name": "type", "valueCode": kind},
        {"name": "path", "valueString": path},
    ]
    for name, value in parts.items():
        if name == "name":
            items.append({"name": "name", "valueString": value})
        elif name == "index":
            items.append({"name": "index", "valueInteger": value})
        else:
            items.append({"name": "value", name: value})
    return {"name": "operation", "part": items}


def fhirpath(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


async def patch(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    path: str,
    body: Any,
    *,
    actor: Any = AUTHOR,
    media: str = JSON_PATCH,
    **headers: str,
) -> httpx.Response:
    content = to_xml(body) if media == FHIR_XML else orjson.dumps(body)
    return await http.patch(
        path, content=content, headers={**auth(ctx, actor), "Content-Type": media, **headers}
    )


def by_id(doc: documents.DocumentView) -> str:
    return f"/fhir/DocumentReference/{entry_id(doc)}"


async def version_of(ctx: ServiceContext, ins: Ins, doc: documents.DocumentView) -> int:
    view = await documents.read_document_metadata(ctx, actor=AUTHOR, ins=ins, document_id=doc.id)
    return view.version


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "/description", "value": "autre"}],
        [{"op": "replace", "path": "/type/coding/0/code", "value": "11488-4"}],
        [{"op": "replace", "path": "/content/0/attachment/title", "value": "x"}],
        [{"op": "remove", "path": "/extension"}],
        [{"op": "add", "path": "/extension/-", "value": {"url": "urn:x", "valueBoolean": True}}],
        [{"op": "replace", "path": "/meta/versionId", "value": "9"}],
        [
            {"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")},
            {"op": "replace", "path": "/date", "value": "2020-01-01T00:00:00Z"},
        ],
        [{"op": "move", "from": "/author", "path": "/securityLabel/-"}],
    ],
)
async def test_patching_another_element_is_405_and_changes_nothing(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, operations: list[dict[str, Any]]
) -> None:
    doc = await deposit(ctx, ins)
    response = await patch(http, ctx, by_id(doc), operations)
    assert response.status_code == 405, response.text
    outcome = body_of(response)
    assert {"unmodifiable-metadata", "UnmodifiableMetadataError"} <= codes_of(outcome)
    assert await version_of(ctx, ins, doc) == 1


@pytest.mark.parametrize(
    "path", ["DocumentReference.description", "DocumentReference.subject", "DocumentReference"]
)
async def test_a_fhirpath_patch_on_another_element_is_405(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, path: str
) -> None:
    doc = await deposit(ctx, ins)
    body = fhirpath(operation("add", path, name="note", valueString="x"))
    response = await patch(http, ctx, by_id(doc), body, media=FHIR_JSON)
    assert response.status_code == 405
    assert await version_of(ctx, ins, doc) == 1


async def test_a_token_without_an_update_scope_is_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")}]
    response = await http.patch(
        by_id(doc),
        content=orjson.dumps(body),
        headers={**auth(ctx, AUTHOR, scope="ITI-67"), "Content-Type": JSON_PATCH},
    )
    assert response.status_code == 403
    assert "insufficient-scope" in codes_of(body_of(response))


async def test_only_the_author_archives(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}]
    refused = await patch(http, ctx, by_id(doc), body, actor=DOCTOR)
    assert refused.status_code == 403
    assert "not-author" in codes_of(body_of(refused))
    assert await version_of(ctx, ins, doc) == 1


async def test_the_patient_may_not_set_invisible_patient(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("INVISIBLE_PATIENT")}]
    refused = await patch(http, ctx, by_id(doc), body, actor=patient(ins))
    assert refused.status_code == 403
    assert "actor-not-permitted" in codes_of(body_of(refused))


async def test_a_reader_who_may_not_read_the_document_gets_the_answer_of_an_unknown_id(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins, type_code=PSYCHIATRIC_SYNTHESIS, title="Synthèse")
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")}]
    refused = await patch(http, ctx, by_id(doc), body, actor=PHARMACIST)
    unknown = await patch(
        http,
        ctx,
        "/fhir/DocumentReference/5f0c6a4e-8d0e-4d7a-9a57-0d4f4f0c2a11",
        body,
        actor=PHARMACIST,
    )
    assert (refused.status_code, refused.content) == (404, unknown.content)
    assert "document-not-found" in codes_of(body_of(refused))


@pytest.mark.parametrize(
    ("body", "media", "status", "code"),
    [
        ([{"op": "replace", "path": "/status", "value": "superseded"}], JSON_PATCH, 422, None),
        (
            [{"op": "add", "path": "/securityLabel/-", "value": label("SECRET")}],
            JSON_PATCH,
            422,
            None,
        ),
        ([{"op": "test", "path": "/status", "value": "superseded"}], JSON_PATCH, 422, None),
        ([{"op": "remove", "path": "/securityLabel/5"}], JSON_PATCH, 422, None),
        ({"op": "replace"}, JSON_PATCH, 400, "invalid-patch"),
        ([], JSON_PATCH, 400, "invalid-patch"),
        ("not json", "text/plain", 415, "unsupported-media-type"),
        (
            [
                {"op": "replace", "path": "/status", "value": "entered-in-error"},
                {"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")},
            ],
            JSON_PATCH,
            422,
            None,
        ),
    ],
)
async def test_unsupported_or_malformed_patches(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    ins: Ins,
    body: Any,
    media: str,
    status: int,
    code: str | None,
) -> None:
    doc = await deposit(ctx, ins)
    response = await patch(http, ctx, by_id(doc), body, media=media)
    assert response.status_code == status, response.text
    if code:
        assert code in codes_of(body_of(response))
    assert await version_of(ctx, ins, doc) == 1


async def test_if_match_on_another_version_is_412(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")}]
    stale = await patch(http, ctx, by_id(doc), body, actor=patient(ins), **{"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    fresh = await patch(http, ctx, by_id(doc), body, actor=patient(ins), **{"If-Match": 'W/"1"'})
    assert fresh.status_code == 200


async def test_a_conditional_patch_matching_nothing_is_404(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")}]
    response = await patch(
        http, ctx, "/fhir/DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:1.2.3.4.5", body
    )
    assert response.status_code == 404
    assert "document-not-found" in codes_of(body_of(response))
    missing = await patch(http, ctx, "/fhir/DocumentReference", body)
    assert missing.status_code == 400


async def test_a_conditional_patch_matching_two_documents_is_412(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    other = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(other, ctx.now()))
    doc = await deposit(ctx, ins, unique_id="1.2.250.1.999.42")
    await deposit(ctx, other, unique_id="1.2.250.1.999.42")
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")}]
    url = "/fhir/DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.42"
    ambiguous = await patch(http, ctx, url, body, actor=patient(ins))
    assert ambiguous.status_code == 412
    assert "multiple-matches" in codes_of(body_of(ambiguous))
    narrowed = await patch(
        http, ctx, f"{url}&patient.identifier={ins_token(ins)}", body, actor=patient(ins)
    )
    assert narrowed.status_code == 200, narrowed.text
    assert body_of(narrowed)["masterIdentifier"]["value"] == "urn:oid:1.2.250.1.999.42"
    assert (await version_of(ctx, ins, doc)) == 2


async def test_a_deleted_document_is_410(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    await documents.delete_document(ctx, actor=AUTHOR, ins=ins, document_id=doc.id)
    body = [{"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")}]
    response = await patch(http, ctx, f"/fhir/DocumentReference/{doc.id}", body)
    assert response.status_code == 410


# --- changes ----------------------------------------------------------------------------------


async def test_the_patient_masks_then_unmasks_with_json_patch(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "replace", "path": "/securityLabel/0", "value": label("MASQUE_PS")}]
    masked = await patch(http, ctx, by_id(doc), body, actor=patient(ins))
    assert masked.status_code == 200, masked.text
    resource = body_of(masked)
    assert resource["id"] != entry_id(doc)
    assert resource["meta"]["versionId"] == "2"
    assert [c["coding"][0]["code"] for c in resource["securityLabel"]] == ["MASQUE_PS"]
    assert masked.headers["etag"] == 'W/"2"'
    location = f"http://127.0.0.1:8080/fhir/DocumentReference/{resource['id']}"
    assert masked.headers["location"] == location
    search = {"patient.identifier": ins_token(ins), "status": "current"}
    hidden = await http.get("/fhir/DocumentReference", params=search, headers=auth(ctx, DOCTOR))
    assert ids_of(body_of(hidden)) == []
    # PDSm4DMP: unmask = put N (v3-Confidentiality) back in the label.
    unmask = [{"op": "replace", "path": "/securityLabel/0", "value": label("N", V3)}]
    shown = await patch(
        http, ctx, f"/fhir/DocumentReference/{resource['id']}", unmask, actor=patient(ins)
    )
    assert shown.status_code == 200
    assert body_of(shown)["meta"]["versionId"] == "3"
    visible = await http.get("/fhir/DocumentReference", params=search, headers=auth(ctx, DOCTOR))
    assert ids_of(body_of(visible)) == [body_of(shown)["id"]]
    masks = await events(ctx, ins, "document:document:mask")
    assert [(e.outcome, e.actor_kind) for e in masks] == [("success", "patient")] * 2


async def test_a_professional_with_access_masks_at_the_patients_request(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = fhirpath(
        operation(
            "add",
            "DocumentReference",
            name="securityLabel",
            valueCoding=label("MASQUE_PS")["coding"][0],
        )
    )
    response = await patch(http, ctx, by_id(doc), body, actor=DOCTOR, media=FHIR_JSON)
    assert response.status_code == 200, response.text
    codes = {c["coding"][0]["code"] for c in body_of(response)["securityLabel"]}
    assert codes == {"MASQUE_PS"}


@pytest.mark.parametrize("media", [FHIR_JSON, FHIR_XML])
async def test_the_author_sets_the_visibility_with_fhirpath_patch(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, media: str
) -> None:
    doc = await deposit(ctx, ins)
    body = fhirpath(
        operation(
            "add",
            "DocumentReference",
            name="securityLabel",
            valueCodeableConcept=label("INVISIBLE_PATIENT"),
        ),
        operation(
            "insert",
            "DocumentReference.securityLabel",
            index=0,
            valueCodeableConcept=label("INVISIBLE_REPRESENTANTS_LEGAUX"),
        ),
        operation("delete", "DocumentReference.securityLabel.where(coding.code='N')"),
    )
    response = await patch(http, ctx, by_id(doc), body, media=media, Accept=media)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    resource = body_of(response)
    assert {c["coding"][0]["code"] for c in resource["securityLabel"]} == {
        "INVISIBLE_PATIENT",
        "INVISIBLE_REPRESENTANTS_LEGAUX",
    }
    assert resource["meta"]["versionId"] == "2"  # one service call, one version
    seen = await http.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": ins_token(ins), "status": "current"},
        headers=auth(ctx, patient(ins)),
    )
    assert ids_of(body_of(seen)) == []


async def test_the_author_archives_and_unarchives(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}]
    archived = await patch(http, ctx, by_id(doc), body)
    assert archived.status_code == 200, archived.text
    resource = body_of(archived)
    assert resource["extension"] == [{"url": IS_ARCHIVED_URL, "valueBoolean": True}]
    path = f"DocumentReference.extension.where(url='{IS_ARCHIVED_URL}').value"
    back = await patch(
        http,
        ctx,
        f"/fhir/DocumentReference/{resource['id']}",
        fhirpath(operation("replace", path, valueBoolean=False)),
        media=FHIR_JSON,
    )
    assert back.status_code == 200, back.text
    assert body_of(back)["extension"][0]["valueBoolean"] is False
    assert body_of(back)["meta"]["versionId"] == "3"


async def test_entered_in_error_deletes_the_document(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    url = f"/fhir/DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:{doc.unique_id}"
    response = await patch(http, ctx, url, body)
    assert response.status_code == 200, response.text
    outcome = body_of(response)
    assert outcome["resourceType"] == "OperationOutcome"
    assert "document-deleted" in codes_of(outcome)
    assert (await http.get(f"/fhir/Binary/{doc.id}", headers=auth(ctx, AUTHOR))).status_code == 410
    listed = await http.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": ins_token(ins), "status": "current,superseded"},
        headers=auth(ctx, AUTHOR),
    )
    assert body_of(listed)["total"] == 0
    [deleted] = await events(ctx, ins, "document:document:delete")
    assert deleted.outcome == "success"


async def test_several_changes_in_one_patch_each_make_a_version(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [
        {"op": "add", "path": "/securityLabel/-", "value": label("MASQUE_PS")},
        {"op": "replace", "path": "/extension/0/valueBoolean", "value": True},
        {"op": "test", "path": "/status", "value": "current"},
    ]
    response = await patch(http, ctx, by_id(doc), body, Prefer="return=minimal")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"] == 'W/"3"'
    view = await documents.read_document_metadata(ctx, actor=AUTHOR, ins=ins, document_id=doc.id)
    assert (view.archived, view.masked_by_patient, view.version) == (True, True, 3)


async def test_a_patch_that_changes_nothing_makes_no_version(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    body = [{"op": "replace", "path": "/status", "value": "current"}]
    response = await patch(http, ctx, by_id(doc), body)
    assert response.status_code == 200
    assert body_of(response)["meta"]["versionId"] == "1"
