"""Shared by the XDS metadata tests: the IPF examples, with a test INS for their patients."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any

from lxml import etree

from opendmp.cda.xml import parse_xml
from opendmp.domain.identifiers import Ins
from opendmp.services.documents.submission_sets import SubmissionSetView
from opendmp.services.documents.views import DocumentView
from opendmp.xds import ebrim
from opendmp.xds.metadata_out import (
    extrinsic_object,
    membership,
    patient_cx,
    registry_package,
    submit_objects_request,
)
from opendmp.xds.namespaces import RIM

DATA = Path(__file__).parent / "data"
REGISTER_EXAMPLES = (
    "SubmitObjectsRequest_ebrs30.xml",
    "SubmitObjectsRequest_ebrs30_2.xml",
    "SubmitObjectsRequest_ebrs3_extra_metadata.xml",
)
R = f"{{{RIM}}}"
REPOSITORY = "1.2.250.1.999.3"
# ebRS 3.0: what OpenDMP writes must be schema-valid (schemas resolved from disk, no network).
LCM_SCHEMA = etree.XMLSchema(etree.parse(str(DATA / "schema" / "ebRS30" / "lcm.xsd")))


def compact(value: str | None) -> str:
    return "".join((value or "").split())


def example(name: str, ins: Ins) -> etree._Element:
    """An IPF example whose patient ids (documents and submission set) are ``ins``."""
    root = parse_xml((DATA / name).read_bytes())
    for identifier in root.iter(f"{R}ExternalIdentifier"):
        if compact(identifier.get("identificationScheme")) in (
            ebrim.DE_PATIENT_ID,
            ebrim.SS_PATIENT_ID,
        ):
            identifier.set("value", patient_cx(ins))
    return root


def document_ids(root: etree._Element) -> list[str]:
    return [str(e.get("id")) for e in root.iter(f"{R}ExtrinsicObject")]


def find(root: etree._Element, object_id: str) -> etree._Element:
    found = next((e for e in root.iter() if e.get("id") == object_id), None)
    assert found is not None, object_id
    return found


# --- OpenDMP views and the ITI-41 request they make -------------------------------------------


def document_view(content: bytes, **overrides: Any) -> DocumentView:
    """A stored document's view, as a deposit by Dr Martin Claire would leave it."""
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        unique_id=f"1.2.250.1.999.1.{uuid.uuid4().int % 10**12}",
        record_id=uuid.uuid4(),
        title="CR de biologie",
        type_code="11502-2",
        class_code="10",
        mime_type="text/xml",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        status="current",
        deposited_at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC),
        entry_uuid=f"urn:uuid:{uuid.uuid4()}",
        sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        format_code="urn:ihe:lab:xd-lab:2008",
        language="fr-FR",
        author_idnat="810000000001",
        author_name="MARTIN Claire",
        author_role="10",
        author_specialty="SM03",
        author_organization_idnat="1120459876",
        practice_setting="AMBULATOIRE",
        facility_type="SA25",
        event_codes=(),
        service_start=dt.datetime(2026, 2, 27, 8, 30, tzinfo=dt.UTC),
        service_stop=dt.datetime(2026, 2, 27, 9, 0, tzinfo=dt.UTC),
        creation_time=dt.datetime(2026, 2, 28, 14, 5, 7, tzinfo=dt.UTC),
        submission_set_id=uuid.uuid4(),
        deposited_by_kind="professional",
    )
    values.update(overrides)
    return DocumentView(**values)


def submission_set_view(**overrides: Any) -> SubmissionSetView:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        entry_uuid=f"urn:uuid:{uuid.uuid4()}",
        unique_id=f"1.2.250.1.999.2.{uuid.uuid4().int % 10**12}",
        source_id="1.2.250.1.71.4.2.2.1120459876",
        submitted_at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC),
        title="Envoi",
        content_type_code="04",
        author_idnat="810000000001",
        author_name="MARTIN Claire",
        author_organization="1120459876",
        extra=None,
        member_entry_uuids=(),
    )
    values.update(overrides)
    return SubmissionSetView(**values)


def submit_request(
    ins: Ins, sub: SubmissionSetView, docs: list[DocumentView], repository: str = REPOSITORY
) -> etree._Element:
    """The ITI-41 SubmitObjectsRequest of ``docs`` submitted in ``sub``."""
    objects = [registry_package(sub, ins=ins)]
    objects += [extrinsic_object(d, ins=ins, repository_unique_id=repository) for d in docs]
    objects += [membership(sub.entry_uuid, d.entry_uuid) for d in docs]
    return submit_objects_request(objects)
