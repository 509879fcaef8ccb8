"""Hostile and refused ITI-41 requests (raw httpx, both databases): each gets a clear answer —
a RegistryResponse Failure with its ITI TF-3 code, or a transport fault — and nothing is
stored (no row, no blob)."""

from __future__ import annotations

import dataclasses
import hashlib

import httpx
import pytest

from opendmp.app import Runtime
from opendmp.xds import namespaces as ns
from opendmp.xds.transactions import ITI41, ITI43
from tests.api.provide_support import create_record_for, state
from tests.factories import make_ins
from tests.vihf_support import PATIENT
from tests.xds.iti41_support import (
    FAILURE,
    SUCCESS,
    Provide,
    cda_document,
    error_codes,
    provide,
    security,
    vihf_ready,
)
from tests.xds.soap_support import SOAP_TYPE, Part, dmp, envelope, fault_of, mtom

__all__ = ["vihf_ready"]


async def _refused(http: httpx.AsyncClient, runtime: Runtime, request: Provide, code: str) -> None:
    before = await state(runtime)
    answer = await provide(http, request.mtom())
    assert answer.get("status") == FAILURE
    assert error_codes(answer) == [code]
    assert await state(runtime) == before


async def test_an_unknown_patient(http: httpx.AsyncClient, vihf_ready: Runtime) -> None:
    stranger = make_ins(903)  # a valid INS without a record
    request = Provide(stranger, [cda_document(stranger)], caller_patient=stranger)
    await _refused(http, vihf_ready, request, "XDSUnknownPatientId")


async def test_a_submission_for_another_patient_than_the_vihfs(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    other = make_ins(904)
    await create_record_for(vihf_ready, other)
    request = Provide(other, [cda_document(other)])  # the VIHF names PATIENT
    await _refused(http, vihf_ready, request, "XDSPatientIdDoesNotMatch")


async def test_a_cda_of_another_patient(http: httpx.AsyncClient, vihf_ready: Runtime) -> None:
    view, foreign = cda_document(make_ins(905))  # the metadata say PATIENT (below)
    await _refused(
        http, vihf_ready, Provide(PATIENT, [(view, foreign)]), "XDSPatientIdDoesNotMatch"
    )


async def test_a_uniqueid_already_in_the_registry(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    first = cda_document()
    assert (await provide(http, Provide(PATIENT, [first]).mtom())).get("status") == SUCCESS
    view, content = cda_document(unique_id=first[0].unique_id)
    other = content.replace(b"Synthetic test document", b"Another synthetic text")
    again = (
        dataclasses.replace(
            view, size=len(other), sha1=hashlib.sha1(other, usedforsecurity=False).hexdigest()
        ),
        other,
    )
    await _refused(http, vihf_ready, Provide(PATIENT, [again]), "XDSDuplicateUniqueIdInRegistry")


async def test_a_hash_that_is_not_the_documents(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    view, content = cda_document(sha1="0" * 40)
    await _refused(http, vihf_ready, Provide(PATIENT, [(view, content)]), "XDSNonIdenticalHash")


async def test_missing_metadata_is_a_metadata_error(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    request = Provide(PATIENT, [cda_document()])
    objects = request.submit_objects()
    for node in objects.iter():
        if node.get("classificationScheme") == "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983":
            node.getparent().remove(node)  # type: ignore[union-attr]  # no typeCode
    before = await state(vihf_ready)
    answer = await provide(http, request.mtom(objects))
    assert (answer.get("status"), error_codes(answer)) == (FAILURE, ["XDSRegistryMetadataError"])
    assert await state(vihf_ready) == before


@pytest.mark.parametrize("case", ["part-without-include", "include-without-part"])
async def test_dangling_mtom_is_a_fault(
    http: httpx.AsyncClient, vihf_ready: Runtime, case: str
) -> None:
    request = Provide(PATIENT, [cda_document()])
    (view, content), cid = request.documents[0], "doc0@test"
    holder = f'<xop:Include href="cid:{cid}"/>'
    if case == "part-without-include":
        root, parts = (
            request._envelope(request.body([holder])),
            [
                Part(content, cid),
                Part(b"stray", "stray@test"),
            ],
        )
    else:
        root, parts = request._envelope(request.body([holder])), []
    body, content_type = mtom(root, parts)
    before = await state(vihf_ready)
    response = await http.post(ITI41.path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    expected = (
        "mime-part-unreferenced" if case == "part-without-include" else "xop-include-dangling"
    )
    assert fault_of(response).subcode == dmp(expected)
    assert await state(vihf_ready) == before
    assert view


async def test_an_oversized_part_is_a_413_fault(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    limit = vihf_ready.ctx.limits.max_document_bytes
    view, _ = cda_document()
    request = Provide(PATIENT, [(view, b"x" * (limit + 1))])
    before = await state(vihf_ready)
    body, content_type = request.mtom()
    response = await http.post(ITI41.path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 413
    assert fault_of(response).subcode == dmp("document-too-large")
    assert await state(vihf_ready) == before


@pytest.mark.parametrize(
    ("path", "action", "body"),
    [
        (ITI41.path, ITI41.action, f"<xdsb:Other xmlns:xdsb='{ns.XDSB}'/>"),
        (
            ITI41.path,
            ITI41.action,
            f"<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb='{ns.XDSB}'/>",
        ),
        (ITI43.path, ITI43.action, f"<xdsb:RetrieveDocumentSetRequest xmlns:xdsb='{ns.XDSB}'/>"),
        (
            ITI43.path,
            ITI43.action,
            f"<xdsb:RetrieveDocumentSetRequest xmlns:xdsb='{ns.XDSB}'><xdsb:DocumentRequest>"
            "<xdsb:DocumentUniqueId>1.2.3</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"
            "</xdsb:RetrieveDocumentSetRequest>",
        ),
    ],
)
async def test_a_request_that_is_not_the_transactions_is_a_fault(
    http: httpx.AsyncClient, vihf_ready: Runtime, path: str, action: str, body: str
) -> None:
    before = await state(vihf_ready)
    request = envelope(body, action, headers=security())
    response = await http.post(path, content=request, headers={"Content-Type": SOAP_TYPE})
    assert response.status_code == 400
    assert fault_of(response).subcode == dmp("malformed-request")
    assert await state(vihf_ready) == before
