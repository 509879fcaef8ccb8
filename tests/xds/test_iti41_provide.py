"""ITI-41 Provide and Register and ITI-43 Retrieve through the real services, on both
databases: MTOM and inline documents are stored as ITI-65 stores them and come back byte for
byte; every ITI-41 refusal is a RegistryResponse with status Failure, its ITI TF-3 code, and
nothing stored (no row, no blob)."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from lxml import etree
from sqlalchemy import select

from opendmp.app import Runtime
from opendmp.audit.vocabulary import AuditAction
from opendmp.fhir.audit import IHE_EVENT, REST, audit_event
from opendmp.services.records.history import _entry
from opendmp.storage import models as m
from opendmp.xds import ebrim
from opendmp.xds import namespaces as ns
from opendmp.xds.metadata_out import association, replacement
from opendmp.xds.transactions import ITI41, ITI43
from tests.api.provide_support import state
from tests.auth_support import idnat
from tests.factories import make_ins
from tests.record_scope import whole_database
from tests.services.document_support import (
    AUTHOR,
    deposit,
    grant,
    last_event,
    new_patient_record,
    record_events,
)
from tests.vihf_support import PATIENT
from tests.xds.helpers import REGISTER_EXAMPLES, R, compact, document_ids, example, find
from tests.xds.iti41_support import (
    FAILURE,
    PARTIAL,
    SUCCESS,
    XDSB,
    Provide,
    cda_document,
    error_codes,
    post,
    provide,
    retrieve_request,
    security,
    vihf_ready,
)
from tests.xds.soap_support import SOAP_TYPE, envelope

__all__ = ["vihf_ready"]


def _repository(runtime: Runtime) -> str:
    return runtime.settings.xds_repository_unique_id


async def _retrieved(
    http: httpx.AsyncClient, runtime: Runtime, *unique_ids: str
) -> tuple[etree._Element, dict[str, bytes]]:
    """ITI-43 of ``unique_ids`` (raw httpx, MTOM answer read by the test's own splitter)."""
    request = retrieve_request(*((_repository(runtime), u) for u in unique_ids))
    response = await http.post(
        ITI43.path, content=request, headers={"Content-Type": "application/soap+xml"}
    )
    assert response.status_code == 200, response.text
    from opendmp.domain.limits import RequestLimits
    from opendmp.xds.mtom import read_package

    package = read_package(response.content, response.headers["content-type"], RequestLimits())
    root = etree.fromstring(package.root)
    answer = root.find(f".//{XDSB}RetrieveDocumentSetResponse")
    assert answer is not None
    found = {}
    for item in answer.iter(f"{XDSB}DocumentResponse"):
        include = item.find(f"{XDSB}Document")[0]  # type: ignore[index]
        cid = include.get("href", "").removeprefix("cid:")
        found[str(item.findtext(f"{XDSB}DocumentUniqueId"))] = package.attachments[cid]
    return answer, found


@pytest.mark.parametrize("encoding", ["mtom", "inline"])
async def test_documents_are_stored_and_retrieved_byte_for_byte(
    http: httpx.AsyncClient, vihf_ready: Runtime, encoding: str
) -> None:
    request = Provide(PATIENT, [cda_document(), cda_document()])
    answer = await provide(http, getattr(request, encoding)())
    assert answer.get("status") == SUCCESS, error_codes(answer)
    assert error_codes(answer) == []  # metadata matching the CDA: not even a warning
    docs, sets, _, blobs = await state(vihf_ready)
    assert (docs, sets) == (2, 1)
    assert blobs
    uids = [view.unique_id for view, _ in request.documents]
    retrieved, contents = await _retrieved(http, vihf_ready, *uids)
    assert retrieved[0].get("status") == SUCCESS, etree.tostring(retrieved).decode()
    assert contents == {view.unique_id: content for view, content in request.documents}


async def test_iti43_partial_success_hides_what_the_caller_may_not_see(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    request = Provide(PATIENT, [cda_document()])
    assert (await provide(http, request.mtom())).get("status") == SUCCESS
    known = request.documents[0][0].unique_id
    wanted = retrieve_request(
        (_repository(vihf_ready), known),
        (_repository(vihf_ready), "1.2.250.1.999.404"),
        ("1.2.3.4", known),
    )
    response = await http.post(
        ITI43.path, content=wanted, headers={"Content-Type": "application/soap+xml"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/related")
    _, contents = await _retrieved(http, vihf_ready, known, "1.2.250.1.999.404")
    assert list(contents) == [known]
    text = response.text
    assert "XDSDocumentUniqueIdError" in text and "XDSUnknownRepositoryId" in text
    assert PARTIAL in text


async def test_iti43_of_another_patients_document_is_an_unknown_id(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    request = Provide(PATIENT, [cda_document()])
    assert (await provide(http, request.mtom())).get("status") == SUCCESS
    other = make_ins(902)
    from tests.api.provide_support import create_record_for

    await create_record_for(vihf_ready, other)
    uid = request.documents[0][0].unique_id
    body = retrieve_request((_repository(vihf_ready), uid), patient=other)
    answer = await post(http, ITI43.path, body, "application/soap+xml")
    assert answer[0].get("status") == FAILURE
    assert error_codes(answer) == ["XDSDocumentUniqueIdError"]


def _deposit_ready(objects: etree._Element, name: str) -> dict[str, bytes]:
    """An IPF example made depositable in the DMP: a known typeCode, fresh uniqueIds (the
    examples share theirs), documents of their own (no hash/size slot to match)."""
    for identifier in objects.iter(f"{R}ExternalIdentifier"):
        if compact(identifier.get("identificationScheme")) in (
            ebrim.DE_UNIQUE_ID,
            ebrim.SS_UNIQUE_ID,
        ):
            identifier.set("value", f"1.2.250.1.999.7.{uuid.uuid4().int % 10**12}")
    for code in objects.iter(f"{R}Classification"):
        if compact(code.get("classificationScheme")) == ebrim.DE_TYPE_CODE:
            code.set("nodeRepresentation", "11488-4")
    contents = {}
    for doc_id in document_ids(objects):
        entry = find(objects, doc_id)
        for slot in list(entry.iter(f"{R}Slot")):
            if slot.get("name") in ("hash", "size"):
                slot.getparent().remove(slot)  # type: ignore[union-attr]
        entry.set("mimeType", "text/plain")
        contents[doc_id] = f"document {doc_id} of {name}".encode()
    return contents


@pytest.mark.parametrize("name", REGISTER_EXAMPLES)
async def test_the_ipf_examples_are_accepted_with_a_test_ins_and_their_documents(
    http: httpx.AsyncClient, vihf_ready: Runtime, name: str
) -> None:
    objects = example(name, PATIENT)
    contents = _deposit_ready(objects, name)
    held = "".join(
        f'<xdsb:Document id="{i}">{base64.b64encode(c).decode()}</xdsb:Document>'
        for i, c in contents.items()
    )
    answer = await _raw_provide(http, objects, held)
    assert answer.get("status") == SUCCESS, etree.tostring(answer).decode()
    docs, sets, _, _ = await state(vihf_ready)
    assert (docs, sets) == (len(contents), 1)


async def _raw_provide(
    http: httpx.AsyncClient, objects: etree._Element, held: str
) -> etree._Element:
    body = (
        f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{ns.XDSB}">'
        f"{etree.tostring(objects).decode()}{held}</xdsb:ProvideAndRegisterDocumentSetRequest>"
    )
    return await post(http, ITI41.path, envelope(body, ITI41.action, headers=security()), SOAP_TYPE)


@pytest.mark.parametrize("kind", ["RPLC", "APND"])
async def test_rplc_supersedes_the_replaced_document_and_apnd_is_warned(
    http: httpx.AsyncClient, vihf_ready: Runtime, kind: str
) -> None:
    first = Provide(PATIENT, [cda_document()])
    assert (await provide(http, first.mtom())).get("status") == SUCCESS
    async with vihf_ready.ctx.sessions() as session:
        old_entry = (
            await session.execute(
                whole_database(
                    select(m.Document.entry_uuid).where(
                        m.Document.unique_id == first.documents[0][0].unique_id
                    )
                )
            )
        ).scalar_one()
    second = Provide(PATIENT, [cda_document()])
    objects = second.submit_objects()
    new_entry = second.documents[0][0].entry_uuid
    if kind == "RPLC":
        objects[0].append(replacement(new_entry, old_entry))
    else:
        objects[0].append(association(ebrim.APND, new_entry, old_entry))
    answer = await provide(http, second.mtom(objects))
    assert answer.get("status") == SUCCESS, etree.tostring(answer).decode()
    docs, sets, superseded, _ = await state(vihf_ready)
    assert (docs, sets, superseded) == (2, 2, 1 if kind == "RPLC" else 0)
    warned = [] if kind == "RPLC" else ["PartialAppendContentNotProcessed"]
    assert error_codes(answer) == warned, etree.tostring(answer).decode()


async def test_iti43_by_a_professional_without_access_is_an_unknown_id(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    request = Provide(PATIENT, [cda_document()])
    assert (await provide(http, request.mtom())).get("status") == SUCCESS
    uid = request.documents[0][0].unique_id
    stranger = retrieve_request((_repository(vihf_ready), uid), idnat=idnat(12))
    answer = await post(http, ITI43.path, stranger, "application/soap+xml")
    assert answer[0].get("status") == FAILURE
    assert error_codes(answer) == ["XDSDocumentUniqueIdError"]
    unknown = retrieve_request((_repository(vihf_ready), "1.2.250.1.999.404"), idnat=idnat(12))
    assert etree.tostring(
        (await post(http, ITI43.path, unknown, "application/soap+xml"))[0]
    ).replace(b"1.2.250.1.999.404", uid.encode()) == etree.tostring(answer[0])


async def test_the_audit_trail_names_the_xds_transactions(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    """The ITI-41 deposit and the ITI-43 read run the ITI-65 / ITI-68 use cases; their events
    say which transaction they came by, and the FHIR AuditEvent shows it as its subtype."""
    request = Provide(PATIENT, [cda_document()])
    answer = await provide(http, request.mtom())
    assert answer.get("status") == SUCCESS, error_codes(answer)
    await _retrieved(http, vihf_ready, request.documents[0][0].unique_id)
    ctx = vihf_ready.ctx
    events = {e.action: e for e in await record_events(ctx, PATIENT)}
    deposit, read = events[AuditAction.DOCUMENT_DEPOSIT], events[AuditAction.DOCUMENT_READ]
    for event, transaction in ((deposit, "ITI-41"), (read, "ITI-43")):
        assert json.loads(event.details or "{}")["transaction"] == transaction
        coded = audit_event(ctx, PATIENT, _entry(event))["subtype"]
        assert [c["code"] for c in coded if c["system"] == IHE_EVENT] == [transaction]
        assert not [c for c in coded if c["system"] == REST]  # SOAP, not REST


async def test_an_iti65_deposit_keeps_its_own_transaction(runtime: Runtime) -> None:
    """Outside XDS.b the vocabulary's transaction stands (no ``transaction`` detail)."""
    ctx = runtime.ctx
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, AUTHOR)
    await deposit(ctx, ins)
    event = await last_event(ctx, ins)
    assert "transaction" not in json.loads(event.details or "{}")
    coded = audit_event(ctx, ins, _entry(event))["subtype"]
    assert "ITI-65" in [c["code"] for c in coded]
