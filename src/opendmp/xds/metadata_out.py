"""OpenDMP's views -> ebRIM: a document entry as a ``rim:ExtrinsicObject``, a submission set as
a ``rim:RegistryPackage`` (with its SubmissionSet classification), the associations between
them (``HasMember``, ``RPLC``…) and ``rim:ObjectRef``: what ITI-18 LeafClass / ObjectRef
responses and the tests' ITI-41 requests are made of.

IHE ITI TF-3 §4.2.3 and the DMP's codes (CI-SIS, PDSm4DMP), mapped as in docs/xds.md §13.
The FHIR view (fhir/mapping.py) reads the same store: the columns, and ``extra`` (FHIR-shaped
metadata kept as the producer gave it) for what has no column. Element order follows the ebRIM
3.0 schema (Slot, Name, Description, VersionInfo, Classification, ExternalIdentifier).
Pure: no database, no HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from lxml import etree

from opendmp.domain import codes
from opendmp.domain.identifiers import IDNAT_PS_OID, STRUCT_IDNAT_OID, Ins
from opendmp.services.documents.submission_sets import SubmissionSetView
from opendmp.services.documents.views import DocumentView
from opendmp.xds import ebrim
from opendmp.xds import fhir_shape as shape
from opendmp.xds.hl7v2 import (
    Coded,
    Cx,
    SourcePatient,
    Xcn,
    Xon,
    format_cx,
    format_dtm,
    format_role,
    format_source_patient,
    format_xcn,
    format_xon,
    format_xtn,
)
from opendmp.xds.namespaces import LCM, RIM

_R = f"{{{RIM}}}"
_NSMAP = {"rim": RIM}
# Ids of the classifications, external identifiers and associations OpenDMP writes: derived
# from what they describe, so that two answers about one object carry the same ids.
_ID_NAMESPACE = uuid.UUID("5b0f3c1e-7f43-4f0e-9a57-0d6f1a9e2c11")
_DMP = codes.DMP_CONFIDENTIALITY_SYSTEM
_FLAGS = (
    ("masked_by_patient", "MASQUE_PS"),
    ("invisible_to_patient", "INVISIBLE_PATIENT"),
    ("invisible_to_representatives", "INVISIBLE_REPRESENTANTS_LEGAUX"),
)


def derived_id(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, '|'.join(parts))}"


def _element(tag: str, parent: etree._Element | None = None, **attributes: str) -> etree._Element:
    if parent is None:
        return etree.Element(f"{_R}{tag}", attributes, nsmap=_NSMAP)
    return etree.SubElement(parent, f"{_R}{tag}", attributes)


def _slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    listed = [v for v in values if v]
    if not listed:
        return
    value_list = _element("ValueList", _element("Slot", parent, name=name))
    for value in listed:
        _element("Value", value_list).text = value


def _localized(parent: etree._Element, tag: str, text: str | None) -> None:
    if text:
        _element("LocalizedString", _element(tag, parent), value=text)


def _classification(
    parent: etree._Element, scheme: str, owner: str, value: Coded, index: int = 0
) -> None:
    node = _element(
        "Classification",
        parent,
        id=derived_id(owner, scheme, str(index)),
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation=value.code,
    )
    if value.system:
        _slot(node, ebrim.SLOT_CODING_SCHEME, [value.system])
    _localized(node, "Name", value.display)


def _author(
    parent: etree._Element, scheme: str, owner: str, author: shape.Author, index: int
) -> None:
    node = _element(
        "Classification",
        parent,
        id=derived_id(owner, scheme, str(index)),
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation="",
    )
    _slot(node, ebrim.SLOT_AUTHOR_PERSON, [format_xcn(author.person)] if author.person else [])
    _slot(node, ebrim.SLOT_AUTHOR_INSTITUTION, map(format_xon, author.institutions))
    _slot(node, ebrim.SLOT_AUTHOR_ROLE, map(format_role, author.roles))
    _slot(node, ebrim.SLOT_AUTHOR_SPECIALTY, map(format_role, author.specialties))
    _slot(node, ebrim.SLOT_AUTHOR_TELECOM, map(format_xtn, author.telecoms))


def _external_id(parent: etree._Element, scheme: str, owner: str, value: str, label: str) -> None:
    node = _element(
        "ExternalIdentifier",
        parent,
        id=derived_id(owner, scheme),
        identificationScheme=scheme,
        registryObject=owner,
        value=value,
    )
    _localized(node, "Name", label)


def patient_cx(ins: Ins) -> str:
    return format_cx(Cx(ins.value, ins.oid))


def _extra(text: str | None) -> dict[str, Any]:
    loaded = orjson.loads(text) if text else {}
    return loaded if isinstance(loaded, dict) else {}


def _matching(value: Any, code: str | None, default: Coded | None) -> Coded | None:
    """The coding of ``value`` (CodeableConcept or Coding) whose code is the stored ``code``,
    with its system and display; ``default`` when the producer gave none."""
    if isinstance(value, dict):
        codings = value.get("coding") if "coding" in value else [value]
        for coding in codings or []:
            found = shape.coded_of(coding)
            if found is not None and (code is None or found.code == code):
                return found
    return default


def _table_code(code: str, table: dict[str, Any], system: str) -> Coded:
    known = table.get(code)
    return Coded(code, known.system if known else system, known.fr if known else None)


# --- DocumentEntry -------------------------------------------------------------------------------


def availability_status(doc: DocumentView) -> str:
    """current/superseded/deleted and archived -> the XDS (and DMP) availabilityStatus."""
    if doc.status == "deleted":
        return ebrim.DMP_DELETED
    if doc.status == "superseded":
        return ebrim.DEPRECATED
    return ebrim.DMP_ARCHIVED if doc.archived else ebrim.APPROVED


def confidentiality_codes(doc: DocumentView) -> list[Coded]:
    """The DMP's visibility codes (TRE_A07 / JDV_J08), or N: as the FHIR securityLabel."""
    found = [
        Coded(code, _DMP, codes.CONFIDENTIALITY_CODES[code].fr)
        for flag, code in _FLAGS
        if getattr(doc, flag)
    ]
    return found or [Coded("N", codes.HL7_CONFIDENTIALITY_SYSTEM, "Normal")]


def _column_author(
    idnat: str | None,
    name: str | None,
    organization: str | None,
    role: tuple[str | None, str | None],
) -> list[shape.Author]:
    """The author OpenDMP recorded itself (the authenticated depositor)."""
    if not idnat:
        return []
    family, _, given = (name or idnat).partition(" ")
    profession, specialty = role
    return [
        shape.Author(
            person=Xcn(idnat, family, given or None, authority=IDNAT_PS_OID),
            institutions=(Xon("", organization, STRUCT_IDNAT_OID),) if organization else (),
            roles=(_table_code(profession, codes.PROFESSIONS, codes.PROFESSION_SYSTEM),)
            if profession
            else (),
            specialties=(_table_code(specialty, codes.SPECIALTIES, codes.SPECIALTY_SYSTEM),)
            if specialty
            else (),
        )
    ]


def _authors_of(references: list[Any], contained: list[Any]) -> list[shape.Author]:
    return [a for a in (shape.author_of(r, contained) for r in references) if a is not None]


def document_authors(doc: DocumentView) -> list[shape.Author]:
    extra = _extra(doc.extra)
    given = _authors_of(list(extra.get("author") or []), list(extra.get("contained") or []))
    return given or _column_author(
        doc.author_idnat,
        doc.author_name,
        doc.author_organization_idnat,
        (doc.author_role, doc.author_specialty),
    )


def _document_codes(doc: DocumentView, extra: dict[str, Any]) -> dict[str, list[Coded]]:
    context = extra.get("context") if isinstance(extra.get("context"), dict) else {}
    assert isinstance(context, dict)
    category = (extra.get("category") or [None])[0]
    found: dict[str, Coded | None] = {
        ebrim.DE_CLASS_CODE: _matching(
            category, None, _table_code(doc.class_code, codes.DOCUMENT_CLASSES, codes.CLASS_SYSTEM)
        ),
        ebrim.DE_TYPE_CODE: _matching(
            extra.get("type"),
            doc.type_code,
            _table_code(doc.type_code, codes.DOCUMENT_TYPES, codes.LOINC_OID),
        ),
        ebrim.DE_FORMAT_CODE: _matching(
            extra.get("format"),
            doc.format_code,
            _table_code(doc.format_code, codes.FORMAT_CODES, codes.IHE_FORMAT_SYSTEM),
        ),
        ebrim.DE_FACILITY_TYPE_CODE: _matching(
            context.get("facilityType"),
            doc.facility_type,
            _table_code(
                doc.facility_type, codes.HEALTHCARE_FACILITY_TYPES, codes.FACILITY_TYPE_SYSTEM
            )
            if doc.facility_type
            else None,
        ),
        ebrim.DE_PRACTICE_SETTING_CODE: _matching(
            context.get("practiceSetting"),
            doc.practice_setting,
            _table_code(
                doc.practice_setting, codes.PRACTICE_SETTINGS, codes.PRACTICE_SETTING_SYSTEM
            )
            if doc.practice_setting
            else None,
        ),
    }
    listed = {scheme: [c] for scheme, c in found.items() if c is not None}
    given_events = [e for e in (_matching(v, None, None) for v in context.get("event") or []) if e]
    events = [e for e in given_events if e.code in doc.event_codes] or [
        Coded(code) for code in doc.event_codes
    ]
    listed[ebrim.DE_EVENT_CODE] = events
    listed[ebrim.DE_CONFIDENTIALITY_CODE] = confidentiality_codes(doc)
    return listed


def _source_patient(extra: dict[str, Any], ins: Ins) -> SourcePatient:
    context = extra.get("context") if isinstance(extra.get("context"), dict) else {}
    assert isinstance(context, dict)
    resource = shape.local(list(extra.get("contained") or []), context.get("sourcePatientInfo"))
    if resource is not None and resource.get("resourceType") == "Patient":
        found = shape.source_patient_of(resource)
        if found.identifiers:
            return found
    return SourcePatient(identifiers=(Cx(ins.value, ins.oid),))


def _document_slots(
    node: etree._Element, doc: DocumentView, extra: dict[str, Any], ins: Ins, repository: str
) -> None:
    contained = list(extra.get("contained") or [])
    authenticator = shape.local(contained, extra.get("authenticator"))
    legal = shape.person_of(authenticator) if authenticator else None
    source = _source_patient(extra, ins)
    context = extra.get("context") if isinstance(extra.get("context"), dict) else {}
    assert isinstance(context, dict)
    references = [r for r in map(shape.reference_id_of, context.get("related") or []) if r]
    # ebRIM lists slots in any order; this one follows ITI TF-3 Table 4.2.3.2-1.
    _slot(
        node, ebrim.SLOT_CREATION_TIME, [format_dtm(doc.creation_time)] if doc.creation_time else []
    )
    _slot(node, ebrim.SLOT_HASH, [doc.sha1])
    _slot(node, ebrim.SLOT_LANGUAGE_CODE, [doc.language])
    _slot(node, ebrim.SLOT_LEGAL_AUTHENTICATOR, [format_xcn(legal)] if legal else [])
    _slot(node, ebrim.SLOT_REFERENCE_ID_LIST, map(format_cx, references))
    _slot(node, ebrim.SLOT_REPOSITORY_UNIQUE_ID, [repository])
    for name, moment in (
        (ebrim.SLOT_SERVICE_START_TIME, doc.service_start),
        (ebrim.SLOT_SERVICE_STOP_TIME, doc.service_stop),
    ):
        _slot(node, name, [format_dtm(moment)] if moment else [])
    _slot(node, ebrim.SLOT_SIZE, [str(doc.size)])
    _slot(node, ebrim.SLOT_SOURCE_PATIENT_ID, [format_cx(source.identifiers[0])])
    _slot(node, ebrim.SLOT_SOURCE_PATIENT_INFO, format_source_patient(source))


def extrinsic_object(doc: DocumentView, *, ins: Ins, repository_unique_id: str) -> etree._Element:
    """The LeafClass DocumentEntry of a document (``id`` = entryUUID, ``lid`` = logicalId)."""
    extra = _extra(doc.extra)
    owner = doc.entry_uuid
    node = _element(
        "ExtrinsicObject",
        id=owner,
        lid=f"urn:uuid:{doc.id}",
        objectType=ebrim.STABLE_DOCUMENT,
        status=availability_status(doc),
        mimeType=doc.mime_type,
    )
    _document_slots(node, doc, extra, ins, repository_unique_id)
    _localized(node, "Name", doc.title)
    description = extra.get("description")
    _localized(node, "Description", description if isinstance(description, str) else None)
    _element("VersionInfo", node, versionName=str(doc.version))
    for index, author in enumerate(document_authors(doc)):
        _author(node, ebrim.DE_AUTHOR, owner, author, index)
    for scheme, listed in _document_codes(doc, extra).items():
        for index, value in enumerate(listed):
            _classification(node, scheme, owner, value, index)
    _external_id(node, ebrim.DE_PATIENT_ID, owner, patient_cx(ins), "XDSDocumentEntry.patientId")
    _external_id(node, ebrim.DE_UNIQUE_ID, owner, doc.unique_id, "XDSDocumentEntry.uniqueId")
    return node


# --- SubmissionSet -------------------------------------------------------------------------------


def _extension(extra: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in extra.get("extension") or [] if isinstance(e, dict) and e.get("url") == url]


def submission_set_authors(sub: SubmissionSetView) -> list[shape.Author]:
    extra = _extra(sub.extra)
    references = [extra.get("source")] + [
        e.get("valueReference") for e in _extension(extra, shape.EXTRA_AUTHOR_URL)
    ]
    given = _authors_of(references, list(extra.get("contained") or []))
    return given or _column_author(
        sub.author_idnat, sub.author_name, sub.author_organization, (None, None)
    )


def registry_package(sub: SubmissionSetView, *, ins: Ins) -> etree._Element:
    """The LeafClass SubmissionSet, classified as one (ITI TF-3 §4.2.3.3)."""
    extra = _extra(sub.extra)
    owner = sub.entry_uuid
    node = _element("RegistryPackage", id=owner, lid=owner, status=ebrim.APPROVED)
    _slot(node, ebrim.SLOT_SUBMISSION_TIME, [format_dtm(sub.submitted_at)])
    _localized(node, "Name", sub.title)
    notes = [n.get("text") for n in extra.get("note") or [] if isinstance(n, dict)]
    _localized(node, "Description", str(notes[0]) if notes and notes[0] else None)
    _element(
        "Classification",
        node,
        id=derived_id(owner, ebrim.SUBMISSION_SET_NODE),
        classifiedObject=owner,
        classificationNode=ebrim.SUBMISSION_SET_NODE,
    )
    for index, author in enumerate(submission_set_authors(sub)):
        _author(node, ebrim.SS_AUTHOR, owner, author, index)
    designation = (_extension(extra, shape.DESIGNATION_TYPE_URL) or [{}])[0]
    content_type = _matching(
        designation.get("valueCodeableConcept"),
        sub.content_type_code,
        Coded(sub.content_type_code) if sub.content_type_code else None,
    )
    if content_type is not None:
        _classification(node, ebrim.SS_CONTENT_TYPE_CODE, owner, content_type)
    _external_id(node, ebrim.SS_PATIENT_ID, owner, patient_cx(ins), "XDSSubmissionSet.patientId")
    _external_id(node, ebrim.SS_SOURCE_ID, owner, sub.source_id, "XDSSubmissionSet.sourceId")
    _external_id(node, ebrim.SS_UNIQUE_ID, owner, sub.unique_id, "XDSSubmissionSet.uniqueId")
    return node


# --- associations, references, lists -------------------------------------------------------------


def association(
    association_type: str,
    source: str,
    target: str,
    *,
    submission_set_status: str | None = None,
) -> etree._Element:
    """An Association; its id is derived from (type, source, target), stable across answers."""
    node = _element(
        "Association",
        id=derived_id(association_type, source, target),
        associationType=association_type,
        sourceObject=source,
        targetObject=target,
        status=ebrim.APPROVED,
    )
    if submission_set_status is not None:
        _slot(node, ebrim.SLOT_SUBMISSION_SET_STATUS, [submission_set_status])
    return node


def membership(submission_set_entry_uuid: str, document_entry_uuid: str) -> etree._Element:
    """HasMember from a SubmissionSet to a document it submitted (SubmissionSetStatus Original)."""
    return association(
        ebrim.HAS_MEMBER,
        submission_set_entry_uuid,
        document_entry_uuid,
        submission_set_status=ebrim.SUBMISSION_SET_ORIGINAL,
    )


def replacement(document_entry_uuid: str, replaced_entry_uuid: str) -> etree._Element:
    """RPLC from a document to the one it replaced (DocumentView.replaces_id's entryUUID)."""
    return association(ebrim.RPLC, document_entry_uuid, replaced_entry_uuid)


def object_ref(object_id: str) -> etree._Element:
    """An ObjectRef (ITI-18 returnType=ObjectRef)."""
    return _element("ObjectRef", id=object_id)


def registry_object_list(objects: Iterable[etree._Element]) -> etree._Element:
    node = _element("RegistryObjectList")
    node.extend(objects)
    return node


def submit_objects_request(objects: Iterable[etree._Element]) -> etree._Element:
    """An ``lcm:SubmitObjectsRequest`` holding ``objects`` (ITI-41/42 request body)."""
    node = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    node.append(registry_object_list(objects))
    return node


__all__ = [
    "association",
    "availability_status",
    "confidentiality_codes",
    "derived_id",
    "document_authors",
    "extrinsic_object",
    "membership",
    "object_ref",
    "patient_cx",
    "registry_object_list",
    "registry_package",
    "replacement",
    "submission_set_authors",
    "submit_objects_request",
]
