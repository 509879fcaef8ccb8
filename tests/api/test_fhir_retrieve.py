"""Reading one document over HTTP: ``GET DocumentReference/<id>`` and ITI-68
``GET Binary/<logical id>`` (raw bytes or a FHIR Binary, by ``Accept``), on SQLite and
PostgreSQL. Refusals first: 401/403 (scope), 404 (unknown id, an earlier version's
entryUUID, and — told exactly as an unknown id, audited as refusals — block, no basis,
matrix, mask: docs/security.md "Existence"), 410 (deleted), 406 (a type that cannot be
produced)."""

from __future__ import annotations

import base64

import httpx
import pytest

from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import (
    AUTHOR,
    BLOCKED,
    CONTENT,
    DOCTOR,
    FHIR_JSON,
    FHIR_XML,
    PHARMACIST,
    PSYCHIATRIC_SYNTHESIS,
    STRANGER,
    TREATING,
    auth,
    body_of,
    codes_of,
    deposit,
    entry_id,
    events,
    patient,
)

UNKNOWN = "5f0c6a4e-8d0e-4d7a-9a57-0d4f4f0c2a11"


def binary(doc: documents.DocumentView) -> str:
    return f"/fhir/Binary/{doc.id}"


def reference(doc: documents.DocumentView) -> str:
    return f"/fhir/DocumentReference/{entry_id(doc)}"


async def assert_unknown(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    """``path`` answers exactly what an unknown id of the same kind answers."""
    response = await http.get(path, headers=headers)
    unknown = await http.get(path.rsplit("/", 1)[0] + "/" + UNKNOWN, headers=headers)
    assert (response.status_code, response.content) == (404, unknown.content)
    assert unknown.status_code == 404
    assert "document-not-found" in codes_of(body_of(response))


# --- refusals -------------------------------------------------------------------------------


async def test_a_retrieve_without_the_iti68_scope_is_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    response = await http.get(binary(doc), headers=auth(ctx, AUTHOR, scope="ITI-67"))
    assert response.status_code == 403
    assert "insufficient-scope" in codes_of(body_of(response))
    assert await events(ctx, ins, "document:document:read") == []


@pytest.mark.parametrize("path", ["/fhir/Binary/", "/fhir/DocumentReference/"])
@pytest.mark.parametrize("unknown", [UNKNOWN, "not-a-uuid"])
async def test_an_unknown_id_is_404(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, path: str, unknown: str
) -> None:
    response = await http.get(path + unknown, headers=auth(ctx, AUTHOR))
    assert response.status_code == 404
    assert "document-not-found" in codes_of(body_of(response))


@pytest.mark.parametrize(
    ("reader", "reason"),
    [(BLOCKED, "blocked-by-patient"), (STRANGER, "not-authorized")],
)
async def test_a_reader_refused_by_the_record_rules_gets_the_answer_of_an_unknown_id(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, reader: Actor, reason: str
) -> None:
    doc = await deposit(ctx, ins)
    for path in (binary(doc), reference(doc)):
        await assert_unknown(http, path, auth(ctx, reader))
    denied = await events(ctx, ins, "document:document:read")
    assert [(e.outcome, e.reason) for e in denied] == [("denied", reason)] * 2


async def test_a_pharmacist_may_not_read_a_psychiatric_synthesis(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins, type_code=PSYCHIATRIC_SYNTHESIS, title="Synthèse")
    for path in (binary(doc), reference(doc)):
        await assert_unknown(http, path, auth(ctx, PHARMACIST))
    denied = await events(ctx, ins, "document:document:read")
    assert [(e.outcome, e.reason) for e in denied] == [
        ("denied", "type-not-allowed-for-profession")
    ] * 2
    assert (await http.get(binary(doc), headers=auth(ctx, DOCTOR))).content == CONTENT


async def test_a_masked_document_is_read_by_its_author_and_the_treating_doctors_only(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    await documents.mask_document(ctx, actor=patient(ins), ins=ins, document_id=doc.id, masked=True)
    await assert_unknown(http, binary(doc), auth(ctx, DOCTOR))
    for reader in (AUTHOR, TREATING, patient(ins)):
        response = await http.get(binary(doc), headers=auth(ctx, reader))
        assert response.status_code == 200
        assert response.content == CONTENT


async def test_a_deleted_document_is_410_to_whoever_could_read_it_and_unknown_to_others(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    await documents.delete_document(ctx, actor=AUTHOR, ins=ins, document_id=doc.id)
    for path in (binary(doc), f"/fhir/DocumentReference/{doc.id}"):
        gone = await http.get(path, headers=auth(ctx, DOCTOR))
        assert gone.status_code == 410
        assert "document-deleted" in codes_of(body_of(gone))
        await assert_unknown(http, path, auth(ctx, STRANGER))


async def test_a_type_that_cannot_be_produced_is_406_without_reading_the_content(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    response = await http.get(binary(doc), headers={**auth(ctx, AUTHOR), "Accept": "image/png"})
    assert response.status_code == 406
    assert "not-acceptable" in codes_of(body_of(response))
    assert response.headers["content-type"].startswith(FHIR_JSON)
    reads = await events(ctx, ins, "document:document:read")
    assert [orjson_details(e) for e in reads] == [{"part": "metadata"}]


def orjson_details(event: object) -> object:
    import orjson

    return orjson.loads(getattr(event, "details") or "{}")  # noqa: B009


async def test_an_unknown_format_is_406(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    response = await http.get(binary(doc) + "?_format=html", headers=auth(ctx, AUTHOR))
    assert response.status_code == 406


async def test_an_earlier_versions_entry_uuid_is_404_and_the_logical_id_still_reads(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    updated = await documents.archive_document(
        ctx, actor=AUTHOR, ins=ins, document_id=doc.id, archived=True
    )
    old = await http.get(reference(doc), headers=auth(ctx, AUTHOR))
    assert old.status_code == 404
    for path in (reference(updated), f"/fhir/DocumentReference/{doc.id}"):
        response = await http.get(path, headers=auth(ctx, AUTHOR))
        assert response.status_code == 200
        assert body_of(response)["id"] == entry_id(updated)
        assert response.headers["etag"] == 'W/"2"'


# --- reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", "application/pdf", "application/*, */*;q=0.1"])
async def test_retrieve_returns_the_raw_bytes_with_safe_headers(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, accept: str | None
) -> None:
    doc = await deposit(ctx, ins)
    headers = auth(ctx, DOCTOR)
    if accept is not None:
        headers["Accept"] = accept
    response = await http.get(binary(doc), headers=headers)
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["content-disposition"] == f'attachment; filename="{doc.id}.pdf"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["cache-control"] == "no-store"
    reads = await events(ctx, ins, "document:document:read")
    read = reads[-1]
    assert (read.outcome, read.actor_id, read.target_document_id) == (
        "success",
        DOCTOR.idnat,
        doc.id,
    )
    # A specific type is checked against the metadata (read first) before the content.
    parts = [orjson_details(e) for e in reads]
    specific = accept is not None and not accept.startswith("*/*")
    assert parts == ([{"part": "metadata"}] if specific else []) + [{"part": "content"}]


async def test_a_text_document_keeps_its_content_type(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(
        ctx,
        ins,
        mime_type="text/xml",
        content=b"<ClinicalDocument/>",
        format_code="urn:ihe:iti:xds-sd:text:2008",
    )
    response = await http.get(binary(doc), headers={**auth(ctx, AUTHOR), "Accept": "text/xml"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"


@pytest.mark.parametrize(
    ("accept", "query", "media"),
    [
        (FHIR_JSON, "", FHIR_JSON),
        (FHIR_XML, "", FHIR_XML),
        ("application/pdf", "?_format=json", FHIR_JSON),
        (None, "?_format=xml", FHIR_XML),
    ],
)
async def test_retrieve_as_a_fhir_binary(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    ins: Ins,
    accept: str | None,
    query: str,
    media: str,
) -> None:
    doc = await deposit(ctx, ins)
    headers = auth(ctx, AUTHOR)
    if accept:
        headers["Accept"] = accept
    response = await http.get(binary(doc) + query, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    resource = body_of(response)
    assert resource["resourceType"] == "Binary"
    assert resource["contentType"] == "application/pdf"
    assert base64.b64decode(resource["data"]) == CONTENT


async def test_read_a_document_reference_is_audited(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    response = await http.get(reference(doc), headers={**auth(ctx, DOCTOR), "Accept": FHIR_XML})
    assert response.status_code == 200
    resource = body_of(response)
    assert resource["id"] == entry_id(doc)
    assert resource["content"][0]["attachment"]["url"] == f"http://127.0.0.1:8080{binary(doc)}"
    [read] = await events(ctx, ins, "document:document:read")
    assert orjson_details(read) == {"part": "metadata"}


async def test_break_glass_retrieve_is_audited_in_that_mode(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    headers = auth(ctx, STRANGER, purpose="break-glass", reason="unconscious, no relative")
    response = await http.get(binary(doc), headers=headers)
    assert response.status_code == 200
    assert response.content == CONTENT
    [read] = await events(ctx, ins, "document:document:read")
    assert (read.outcome, read.access_mode) == ("success", "break-glass")
