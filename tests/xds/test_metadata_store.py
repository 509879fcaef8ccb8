"""Through the real deposit service, on both databases: what an ITI-41 request carries is what
ITI-18 shows of the stored document and submission set, and what the FHIR API reads back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from lxml import etree

from opendmp.fhir.mapping import document_reference
from opendmp.fhir.metadata_in import document_input as fhir_document_input
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.deposit import canonical_json, provide_documents
from opendmp.services.documents.submission_sets import (
    SubmissionSetQuery,
    SubmissionSetView,
    search_submission_sets,
)
from opendmp.services.documents.views import DocumentView
from opendmp.xds import ebrim
from opendmp.xds import fhir_shape as shape
from opendmp.xds.hl7v2 import Cx, SourcePatient, Xcn, Xon
from opendmp.xds.metadata_in import XdsSubmission, parse_submission
from opendmp.xds.metadata_out import extrinsic_object, registry_package
from tests.factories import patient_actor
from tests.services.document_support import AUTHOR, grant, new_patient_record
from tests.xds.helpers import REPOSITORY, R, document_view, submission_set_view, submit_request
from tests.xds.test_metadata_roundtrip import submission_sets, views

CONTENT = b"%PDF-1.7 compte rendu fictif pour FICTIF Alex"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # before the tests' clock
# Attributes that name the object itself, which the registry assigns (entryUUID, logicalId,
# version) or derives from it (the classification and external identifier ids).
_OWN_IDS = {"id", "lid", "classifiedObject", "registryObject"}


def _summary(element: etree._Element) -> Any:
    """The element without the ids the registry assigns: what the metadata says."""
    attributes = {k: v for k, v in element.attrib.items() if k not in _OWN_IDS}
    children = sorted(
        (_summary(child) for child in element if child.tag != f"{R}VersionInfo"), key=repr
    )
    return (element.tag, sorted(attributes.items()), (element.text or "").strip(), children)


def _producer_metadata() -> dict[str, Any]:
    author = shape.Author(
        person=Xcn("899700000013", "DEMO-GENERALISTE", "Paul", "Dr", "1.2.250.1.71.4.2.1"),
        institutions=(Xon("Cabinet Demo", "1750000010", "1.2.250.1.71.4.2.2"),),
    )
    reference, contained = shape.author_resources(author, "author-0")
    legal = shape.practitioner(Xcn("810000000002", "MEDECIN", "Legal"), "legal-authenticator")
    patient = SourcePatient((Cx("IPP-4711", "1.2.250.1.999.9"),), "FICTIF", "Alex", "19800101", "F")
    order = Cx("CMD-42", "1.2.250.1.999.8", "urn:ihe:iti:xds:2013:order")
    return {
        "author": [reference],
        "authenticator": {"reference": "#legal-authenticator"},
        "contained": [*contained, legal, shape.source_patient_resource(patient, "source-patient")],
        "context": {
            "sourcePatientInfo": {"reference": "#source-patient"},
            "related": [shape.related_identifier(order)],
        },
        "description": "Compte rendu de biologie, résultats normaux",
    }


async def test_iti41_metadata_is_what_iti18_and_fhir_show(ctx: ServiceContext) -> None:
    written = document_view(
        CONTENT, mime_type="application/pdf", extra=canonical_json(_producer_metadata())
    )
    parsed, stored = await _stored_and_shown(ctx, written, submission_set_view())
    resource = document_reference(
        stored, base_url="https://dmp.example", ins_oid=parsed.ins.oid, ins_value=parsed.ins.value
    )
    assert resource["description"] == "Compte rendu de biologie, résultats normaux"
    through_fhir = fhir_document_input(
        resource, "DocumentReference", content=CONTENT, profiles=[], warnings=[]
    )
    [deposited] = parsed.documents
    assert through_fhir.author_idnat == deposited.author_idnat == "899700000013"
    assert through_fhir.extra is not None
    assert through_fhir.extra["contained"] == (deposited.extra or {})["contained"]


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI verdict does not hang on a draw
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(pair=views(), sub=submission_sets())
async def test_generated_metadata_survives_the_real_store(
    ctx: ServiceContext, pair: tuple[DocumentView, bytes], sub: SubmissionSetView
) -> None:
    """Generated metadata (tests/xds/test_metadata_roundtrip.py's strategies) deposited by
    ITI-41 through the real service: ITI-18 shows what was sent, and the FHIR reader of the
    stored row gives the deposit's mapped fields back. What a deposit must be is fixed: a new
    current, visible PDF, its service period in order, created in the past."""
    view, _ = pair
    start, stop = view.service_start, view.service_stop
    if start and stop and stop < start:
        start, stop = stop, start
    written = dataclasses.replace(
        view,
        service_start=start,
        service_stop=stop,
        creation_time=min(view.creation_time, NOW) if view.creation_time else None,
        mime_type="application/pdf",
        size=len(CONTENT),
        sha1=hashlib.sha1(CONTENT, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        status="current",
        version=1,
        archived=False,
        masked_by_patient=False,
        invisible_to_patient=False,
        invisible_to_representatives=False,
    )
    await _stored_and_shown(ctx, written, sub)


async def _stored_and_shown(
    ctx: ServiceContext, written: DocumentView, sub: SubmissionSetView
) -> tuple[XdsSubmission, DocumentView]:
    """Deposit ``written`` with ``sub`` as ITI-41 does; check that ITI-18 shows what was sent
    and that the FHIR reader of the stored row gives back the deposit's mapped fields."""
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, AUTHOR)
    request = submit_request(ins, sub, [written])
    parsed = parse_submission(request, {written.entry_uuid: CONTENT})

    result = await provide_documents(
        ctx,
        actor=AUTHOR,
        ins=parsed.ins,
        submission=parsed.submission,
        documents=parsed.documents,
    )

    [stored] = result.documents
    assert stored.entry_uuid != written.entry_uuid  # the DMP assigns entryUUIDs
    shown = extrinsic_object(stored, ins=ins, repository_unique_id=REPOSITORY)
    sent = next(request.iter(f"{R}ExtrinsicObject"))
    assert _summary(shown) == _summary(sent)
    assert shown.get("status") == ebrim.APPROVED

    # Listed as the patient sees it: the access matrix may keep a generated type from the
    # depositing doctor's reading, never from the patient's (the document is visible to them).
    query = SubmissionSetQuery()
    page = await search_submission_sets(ctx, actor=patient_actor(ins), ins=ins, query=query)
    [stored_set] = page.items
    assert stored_set.entry_uuid == sub.entry_uuid
    assert stored_set.member_entry_uuids == (stored.entry_uuid,)
    sent_set = next(request.iter(f"{R}RegistryPackage"))
    assert _summary(registry_package(stored_set, ins=ins)) == _summary(sent_set)

    resource = document_reference(
        stored, base_url="https://dmp.example", ins_oid=ins.oid, ins_value=ins.value
    )
    through_fhir = fhir_document_input(
        resource, "DocumentReference", content=CONTENT, profiles=[], warnings=[]
    )
    [deposited] = parsed.documents
    for name in ("unique_id", "type_code", "type_system", "format_code", "creation_time"):
        assert getattr(through_fhir, name) == getattr(deposited, name), name
    for name in ("service_start", "service_stop", "practice_setting", "facility_type"):
        assert getattr(through_fhir, name) == getattr(deposited, name), name
    assert (through_fhir.declared_sha1, through_fhir.declared_size) == (stored.sha1, stored.size)
    return parsed, stored
