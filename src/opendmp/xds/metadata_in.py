"""ebRIM -> deposit inputs: an ITI-41 (or ITI-42) ``lcm:SubmitObjectsRequest`` and the
documents' bytes become exactly what ITI-65's parser gives the deposit pipeline
(:class:`~opendmp.services.documents.deposit.SubmissionSetInput` and
:class:`~opendmp.services.documents.deposit.DocumentInput`), so that ITI-41 is a thin adapter over
:func:`opendmp.services.deposit.provide_documents`.

IHE ITI TF-3 §4.2.3 (metadata attributes) and §4.2.4 (error codes), mapped as in
docs/xds.md §13. What the deposit keeps beyond its columns (author, legalAuthenticator,
sourcePatientInfo, codings with systems and displays, referenceIdList, comments) goes to
``extra`` in the FHIR shape ITI-65 uses (``fhir_shape``): one store, two views.

Pure: no database, no HTTP. A refusal is an :class:`XdsMetadataError` carrying the ITI TF-3
error code and the id of the offending object; whether the patient is known is the
service's business (``XDSUnknownPatientId`` for an existing-but-unknown INS).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from lxml import etree

from opendmp.domain.errors import InvalidIdentifier, OpenDMPError
from opendmp.domain.identifiers import IDNAT_PS_OID, INS_OIDS, Ins, parse_ins
from opendmp.services.documents.deposit import (
    DEFAULT_FORMAT_CODE,
    DocumentInput,
    ReplaceTarget,
    SubmissionSetInput,
)
from opendmp.xds import ebrim
from opendmp.xds import fhir_shape as shape
from opendmp.xds.hl7v2 import (
    Coded,
    Hl7v2Error,
    parse_cx,
    parse_dtm,
    parse_role,
    parse_source_patient,
    parse_xcn,
    parse_xon,
    parse_xtn,
)
from opendmp.xds.namespaces import LCM, RIM

METADATA_ERROR = "XDSRegistryMetadataError"
PATIENT_MISMATCH = "XDSPatientIdDoesNotMatch"
UNKNOWN_PATIENT = "XDSUnknownPatientId"
MISSING_DOCUMENT = "XDSMissingDocument"
MISSING_METADATA = "XDSMissingDocumentMetadata"
NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
NON_IDENTICAL_SIZE = "XDSNonIdenticalSize"
DUPLICATE_UNIQUE_ID = "XDSRegistryDuplicateUniqueIdInMessage"
MAX_UNIQUE_ID = 128
_R = f"{{{RIM}}}"
_SHA1_HEX = re.compile(r"[0-9a-fA-F]{40}")
# Relationships accepted but not acted on (as ITI-65 does with relatesTo codes other than
# replaces), with the ITI TF-3 warning code.
_NOT_PROCESSED = {
    ebrim.XFRM: "PartialTransformNotProcessed",
    ebrim.APND: "PartialAppendContentNotProcessed",
    ebrim.SIGNS: "PartialRelationshipContentNotProcessed",
    ebrim.IS_SNAPSHOT_OF: "PartialRelationshipContentNotProcessed",
}
# DocumentEntry classifications every submission must carry once (ITI TF-3 §4.3.1, required
# in XDS); confidentialityCode is required too, once or more.
MANDATORY_CODES = {
    "classCode": ebrim.DE_CLASS_CODE,
    "typeCode": ebrim.DE_TYPE_CODE,
    "formatCode": ebrim.DE_FORMAT_CODE,
    "healthcareFacilityTypeCode": ebrim.DE_FACILITY_TYPE_CODE,
    "practiceSettingCode": ebrim.DE_PRACTICE_SETTING_CODE,
}


class XdsMetadataError(OpenDMPError):
    """A submission refused by an XDS metadata rule: ``code`` is the ITI TF-3 error code
    (``XDSRegistryMetadataError``…), ``location`` the id of the object at fault."""

    http_status = 400

    def __init__(self, code: str, message: str, location: str | None = None) -> None:
        super().__init__(message, code=code)
        self.location = location


@dataclass(frozen=True, slots=True)
class XdsWarning:
    """Accepted, but worth a ``RegistryError`` of severity Warning."""

    code: str
    message: str
    location: str | None = None


@dataclass(frozen=True, slots=True)
class XdsSubmission:
    """The inputs of one deposit, and where they sit in the request.

    ``ins``, ``submission`` and ``documents`` are what ``provide_documents`` takes;
    ``document_ids[n]`` is the ExtrinsicObject id of ``documents[n]`` (for error locations
    and the response), ``submission_set_id`` the RegistryPackage id.
    """

    ins: Ins
    submission: SubmissionSetInput
    documents: list[DocumentInput]
    document_ids: list[str]
    submission_set_id: str
    warnings: list[XdsWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EntryState:
    """The registry-held state of a DocumentEntry (what ITI-57 changes, what ITI-18 shows):
    availabilityStatus and the DMP's confidentiality codes, ids and version."""

    entry_uuid: str
    logical_id: str | None
    version: str | None
    status: str  # current, superseded, deleted
    archived: bool
    masked: bool
    invisible_to_patient: bool
    invisible_to_representatives: bool


def _refuse(message: str, location: str | None, code: str = METADATA_ERROR) -> XdsMetadataError:
    return XdsMetadataError(code, message, location)


# --- reading ebRIM -------------------------------------------------------------------------------


def compact(value: str | None) -> str:
    """An identifier attribute without whitespace (the IPF examples wrap UUIDs)."""
    return "".join((value or "").split())


def slots(element: etree._Element) -> dict[str, list[str]]:
    """The element's own Slots: name -> values."""
    found: dict[str, list[str]] = {}
    for slot in element.iterchildren(f"{_R}Slot"):
        values = [(v.text or "").strip() for v in slot.iter(f"{_R}Value")]
        found.setdefault(str(slot.get("name") or "").strip(), []).extend(values)
    return found


def single(found: dict[str, list[str]], name: str, where: str) -> str | None:
    values = [v for v in found.get(name, []) if v]
    if len(values) > 1:
        raise _refuse(f"{where}: the slot {name} holds {len(values)} values, at most 1", where)
    return values[0] if values else None


def localized(element: etree._Element, child: str) -> str | None:
    """The first LocalizedString of ``rim:Name`` or ``rim:Description``."""
    node = element.find(f"{_R}{child}/{_R}LocalizedString")
    value = node.get("value") if node is not None else None
    return value.strip() if value and value.strip() else None


def classifications(element: etree._Element, scheme: str) -> list[etree._Element]:
    return [
        c
        for c in element.iterchildren(f"{_R}Classification")
        if compact(c.get("classificationScheme")) == scheme
    ]


def external_id(element: etree._Element, scheme: str, where: str) -> str | None:
    values = [
        str(e.get("value") or "").strip()
        for e in element.iterchildren(f"{_R}ExternalIdentifier")
        if compact(e.get("identificationScheme")) == scheme
    ]
    if len(values) > 1:
        raise _refuse(f"{where}: {len(values)} ExternalIdentifiers of one kind", where)
    return values[0] if values and values[0] else None


A = TypeVar("A")
T = TypeVar("T")


def _hl7(parse: Callable[[A], T], value: A, where: str, what: str) -> T:
    try:
        return parse(value)
    except Hl7v2Error as exc:
        raise _refuse(f"{where}: {what}: {exc}", where) from None


def coded(classification: etree._Element, where: str, what: str) -> Coded:
    code = str(classification.get("nodeRepresentation") or "").strip()
    if not code:
        raise _refuse(f"{where}: {what} has no nodeRepresentation (its code)", where)
    scheme = single(slots(classification), ebrim.SLOT_CODING_SCHEME, where)
    return Coded(code, scheme, localized(classification, "Name"))


def codes_of(element: etree._Element, scheme: str, where: str, what: str) -> list[Coded]:
    return [coded(c, where, what) for c in classifications(element, scheme)]


def _one_code(element: etree._Element, name: str, where: str) -> Coded:
    found = codes_of(element, MANDATORY_CODES[name], where, name)
    if len(found) != 1:
        raise _refuse(f"{where}: {name} is required exactly once, found {len(found)}", where)
    if found[0].system is None:
        raise _refuse(f"{where}: {name} needs its codingScheme slot", where)
    return found[0]


def _time(found: dict[str, list[str]], name: str, where: str) -> Any:
    value = single(found, name, where)
    return None if value is None else _hl7(parse_dtm, value, where, name)


def patient_ins(value: str | None, where: str) -> Ins:
    """A patientId CX -> the INS; a CX outside the INS domains is an unknown patient."""
    if not value:
        raise _refuse(f"{where}: patientId is required", where)
    cx = _hl7(parse_cx, value, where, "patientId")
    if cx.authority not in INS_OIDS:
        raise _refuse(
            f"{where}: the patientId's assigning authority is not an INS domain",
            where,
            UNKNOWN_PATIENT,
        )
    try:
        return parse_ins(cx.value, str(cx.authority))
    except InvalidIdentifier as exc:
        raise _refuse(f"{where}: patientId: {exc.message}", where, UNKNOWN_PATIENT) from None


def authors(element: etree._Element, scheme: str, where: str) -> list[shape.Author]:
    found: list[shape.Author] = []
    for classification in classifications(element, scheme):
        values = slots(classification)
        person = single(values, ebrim.SLOT_AUTHOR_PERSON, where)
        specialties = values.get(ebrim.SLOT_AUTHOR_SPECIALTY, []) + values.get(
            ebrim.SLOT_AUTHOR_SPECIALITY_OLD, []
        )
        author = shape.Author(
            person=_hl7(parse_xcn, person, where, "authorPerson") if person else None,
            institutions=tuple(
                _hl7(parse_xon, v, where, "authorInstitution")
                for v in values.get(ebrim.SLOT_AUTHOR_INSTITUTION, [])
                if v
            ),
            roles=tuple(
                _hl7(parse_role, v, where, "authorRole")
                for v in values.get(ebrim.SLOT_AUTHOR_ROLE, [])
                if v
            ),
            specialties=tuple(
                _hl7(parse_role, v, where, "authorSpecialty") for v in specialties if v
            ),
            telecoms=tuple(
                _hl7(parse_xtn, v, where, "authorTelecommunication")
                for v in values.get(ebrim.SLOT_AUTHOR_TELECOM, [])
                if v
            ),
        )
        if author == shape.Author():
            raise _refuse(f"{where}: an author classification with no author slot", where)
        found.append(author)
    return found


def _author_extra(found: list[shape.Author], prefix: str) -> dict[str, Any]:
    references: list[dict[str, Any]] = []
    contained: list[dict[str, Any]] = []
    for i, author in enumerate(found):
        reference, resources = shape.author_resources(author, f"{prefix}-{i}")
        references.append(reference)
        contained += resources
    return {"references": references, "contained": contained}


def _author_idnat(found: list[shape.Author]) -> str | None:
    """The first author person's IdNat_PS (the deposit checks it against the CDA's)."""
    for author in found:
        if author.person is not None and author.person.authority == IDNAT_PS_OID:
            return author.person.id
    return None


# --- the DocumentEntry ---------------------------------------------------------------------------


def _check_content(found: dict[str, list[str]], content: bytes, where: str) -> tuple[int, str]:
    """(size, hex SHA-1) declared in the slots, checked against the bytes."""
    size_text = single(found, ebrim.SLOT_SIZE, where)
    hash_text = single(found, ebrim.SLOT_HASH, where)
    if size_text is not None:
        if not re.fullmatch(r"[0-9]{1,18}", size_text):
            raise _refuse(f"{where}: size is not a number of bytes", where)
        if int(size_text) != len(content):
            raise _refuse(
                f"{where}: size {size_text} differs from the document's {len(content)} bytes",
                where,
                NON_IDENTICAL_SIZE,
            )
    sha1 = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    if hash_text is not None:
        if not _SHA1_HEX.fullmatch(hash_text):
            raise _refuse(f"{where}: hash is not a hex SHA-1", where)
        if hash_text.lower() != sha1:
            raise _refuse(
                f"{where}: hash differs from the document's SHA-1", where, NON_IDENTICAL_HASH
            )
    return len(content), sha1


def _confidentiality(element: etree._Element, where: str, *, required: bool = True) -> set[str]:
    codes = codes_of(element, ebrim.DE_CONFIDENTIALITY_CODE, where, "confidentialityCode")
    if required and not codes:
        raise _refuse(f"{where}: confidentialityCode is required", where)
    return {c.code for c in codes}


def _document_extra(
    element: etree._Element, where: str, found: list[shape.Author]
) -> dict[str, Any]:
    """The FHIR-shaped ``extra`` of one DocumentEntry (fhir/mapping.py reads the same keys)."""
    values = slots(element)
    coded_of = {n: _one_code(element, n, where) for n in MANDATORY_CODES}
    context: dict[str, Any] = {
        "facilityType": shape.concept(coded_of["healthcareFacilityTypeCode"]),
        "practiceSetting": shape.concept(coded_of["practiceSettingCode"]),
    }
    events = codes_of(element, ebrim.DE_EVENT_CODE, where, "eventCodeList")
    if events:
        context["event"] = [shape.concept(c) for c in events]
    contained: list[dict[str, Any]] = []
    extra: dict[str, Any] = {
        "type": shape.concept(coded_of["typeCode"]),
        "category": [shape.concept(coded_of["classCode"])],
        "format": shape.concept(coded_of["formatCode"])["coding"][0],
    }
    authored = _author_extra(found, "author")
    if authored["references"]:
        extra["author"] = authored["references"]
        contained += authored["contained"]
    legal = single(values, ebrim.SLOT_LEGAL_AUTHENTICATOR, where)
    if legal:
        person = _hl7(parse_xcn, legal, where, "legalAuthenticator")
        contained.append(shape.practitioner(person, "legal-authenticator"))
        extra["authenticator"] = {"reference": "#legal-authenticator"}
    source = _source_patient(values, where)
    if source is not None:
        contained.append(source)
        context["sourcePatientInfo"] = {"reference": "#source-patient"}
    related = [
        shape.related_identifier(_hl7(parse_cx, v, where, "referenceIdList"))
        for v in values.get(ebrim.SLOT_REFERENCE_ID_LIST, [])
        if v
    ]
    if related:
        context["related"] = related
    description = localized(element, "Description")
    if description:
        extra["description"] = description
    if contained:
        extra["contained"] = contained
    extra["context"] = context
    return extra


def _source_patient(values: dict[str, list[str]], where: str) -> dict[str, Any] | None:
    source_id = single(values, ebrim.SLOT_SOURCE_PATIENT_ID, where)
    info = [v for v in values.get(ebrim.SLOT_SOURCE_PATIENT_INFO, []) if v]
    if source_id is None and not info:
        return None
    patient = _hl7(parse_source_patient, info, where, "sourcePatientInfo")
    if source_id is not None:
        cx = _hl7(parse_cx, source_id, where, "sourcePatientId")
        if cx not in patient.identifiers:
            patient = replace(patient, identifiers=(cx, *patient.identifiers))
    return shape.source_patient_resource(patient, "source-patient")


def document_input(
    element: etree._Element, content: bytes, warnings: list[XdsWarning]
) -> tuple[DocumentInput, Ins]:
    """One ExtrinsicObject and its bytes -> (the deposit input, its patient)."""
    where = str(element.get("id") or "ExtrinsicObject")
    object_type = compact(element.get("objectType")) or ebrim.STABLE_DOCUMENT
    if object_type != ebrim.STABLE_DOCUMENT:
        raise _refuse(f"{where}: only stable documents are accepted (objectType)", where)
    mime_type = str(element.get("mimeType") or "").strip()
    if not mime_type:
        raise _refuse(f"{where}: mimeType is required", where)
    unique_id = external_id(element, ebrim.DE_UNIQUE_ID, where)
    if not unique_id or len(unique_id) > MAX_UNIQUE_ID:
        raise _refuse(f"{where}: uniqueId is required (at most {MAX_UNIQUE_ID} characters)", where)
    ins = patient_ins(external_id(element, ebrim.DE_PATIENT_ID, where), where)
    found_authors = authors(element, ebrim.DE_AUTHOR, where)
    if not found_authors:
        raise _refuse(f"{where}: author is required", where)
    values = slots(element)
    size, sha1 = _check_content(values, content, where)
    extra = _document_extra(element, where, found_authors)
    labels = _confidentiality(element, where)
    if "MASQUE_PS" in labels:
        warnings.append(
            XdsWarning(
                "LocalPolicyRestrictionError",
                f"{where}: MASQUE_PS is the patient's choice and is not applied at deposit",
                where,
            )
        )
    type_code = extra["type"]["coding"][0]
    context = extra["context"]
    start = _time(values, ebrim.SLOT_SERVICE_START_TIME, where)
    stop = _time(values, ebrim.SLOT_SERVICE_STOP_TIME, where)
    document = DocumentInput(
        unique_id=unique_id,
        type_code=type_code["code"],
        type_system=type_code.get("system") or "",
        mime_type=mime_type,
        content=content,
        title=localized(element, "Name"),
        format_code=extra["format"].get("code") or DEFAULT_FORMAT_CODE,
        creation_time=_time(values, ebrim.SLOT_CREATION_TIME, where),
        declared_size=size,
        declared_sha1=sha1,
        service_start=start,
        service_stop=stop,
        practice_setting=context["practiceSetting"]["coding"][0]["code"],
        facility_type=context["facilityType"]["coding"][0]["code"],
        event_codes=tuple(e["coding"][0]["code"] for e in context.get("event", [])),
        language=single(values, ebrim.SLOT_LANGUAGE_CODE, where) or "fr-FR",
        invisible_to_patient="INVISIBLE_PATIENT" in labels,
        invisible_to_representatives="INVISIBLE_REPRESENTANTS_LEGAUX" in labels,
        author_idnat=_author_idnat(found_authors),
        extra=extra,
    )
    return document, ins


# --- the SubmissionSet ---------------------------------------------------------------------------


def _is_submission_set(package: etree._Element, outer: list[etree._Element]) -> bool:
    own = package.get("id")
    nodes = [
        c
        for c in [*package.iterchildren(f"{_R}Classification"), *outer]
        if compact(c.get("classificationNode")) == ebrim.SUBMISSION_SET_NODE
        and c.get("classifiedObject") in (own, None)
    ]
    return bool(nodes)


def submission_input(element: etree._Element) -> tuple[SubmissionSetInput, Ins]:
    where = str(element.get("id") or "RegistryPackage")
    values = slots(element)
    unique_id = external_id(element, ebrim.SS_UNIQUE_ID, where)
    source_id = external_id(element, ebrim.SS_SOURCE_ID, where)
    submitted = _time(values, ebrim.SLOT_SUBMISSION_TIME, where)
    missing = [
        name
        for name, value in (
            ("uniqueId", unique_id),
            ("sourceId", source_id),
            ("submissionTime", submitted),
        )
        if value is None
    ]
    content_types = codes_of(element, ebrim.SS_CONTENT_TYPE_CODE, where, "contentTypeCode")
    if len(content_types) != 1:
        missing.append("contentTypeCode (exactly one)")
    if missing:
        raise _refuse(f"{where}: the SubmissionSet lacks {', '.join(missing)}", where)
    ins = patient_ins(external_id(element, ebrim.SS_PATIENT_ID, where), where)
    found_authors = authors(element, ebrim.SS_AUTHOR, where)
    extra: dict[str, Any] = {
        "extension": [
            {
                "url": shape.DESIGNATION_TYPE_URL,
                "valueCodeableConcept": shape.concept(content_types[0]),
            }
        ]
    }
    if found_authors:
        authored = _author_extra(found_authors, "source")
        extra["contained"] = authored["contained"]
        extra["source"] = authored["references"][0]
        if authored["references"][1:]:
            extra["extension"] += [
                {"url": shape.EXTRA_AUTHOR_URL, "valueReference": r}
                for r in authored["references"][1:]
            ]
    comments = localized(element, "Description")
    if comments:
        extra["note"] = [{"text": comments}]
    entry_uuid = where if where.startswith("urn:uuid:") else None
    submission = SubmissionSetInput(
        unique_id=str(unique_id),
        source_id=str(source_id).removeprefix("urn:oid:"),
        entry_uuid=entry_uuid,
        submitted_at=submitted,
        title=localized(element, "Name"),
        content_type_code=content_types[0].code,
        extra=extra,
    )
    return submission, ins


# --- the request ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Objects:
    documents: list[etree._Element] = field(default_factory=list)
    submission_sets: list[etree._Element] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    associations: list[etree._Element] = field(default_factory=list)


def registry_objects(request: etree._Element) -> _Objects:
    if request.tag != f"{{{LCM}}}SubmitObjectsRequest":
        raise _refuse("the request is not an lcm:SubmitObjectsRequest", None)
    object_list = request.find(f"{_R}RegistryObjectList")
    if object_list is None:
        raise _refuse("the request has no rim:RegistryObjectList", None)
    outer = list(object_list.iterchildren(f"{_R}Classification"))
    found = _Objects()
    for child in object_list:
        if child.tag == f"{_R}ExtrinsicObject":
            found.documents.append(child)
        elif child.tag == f"{_R}RegistryPackage":
            if _is_submission_set(child, outer):
                found.submission_sets.append(child)
            else:
                found.folders.append(str(child.get("id") or ""))
        elif child.tag == f"{_R}Association":
            found.associations.append(child)
        elif child.tag not in (f"{_R}Classification", f"{_R}ObjectRef") and isinstance(
            child.tag, str
        ):
            raise _refuse(f"{child.tag}: not an object of an XDS submission", child.get("id"))
    count = len(found.submission_sets)
    if count != 1:
        raise _refuse(f"the submission must hold exactly one SubmissionSet, found {count}", None)
    return found


def check_ids(found: _Objects) -> None:
    seen: set[str] = set()
    for element in [*found.documents, *found.submission_sets, *found.associations]:
        ident = str(element.get("id") or "")
        if not ident:
            raise _refuse(f"a {etree.QName(element).localname} has no id", None)
        if ident in seen:
            raise _refuse(f"the id {ident} is used twice in the submission", ident)
        seen.add(ident)


@dataclass(slots=True)
class _Links:
    """What the associations say: members of the set, and the replaced documents."""

    members: set[str] = field(default_factory=set)
    replaces: dict[str, ReplaceTarget] = field(default_factory=dict)


def _association(
    element: etree._Element,
    found: _Objects,
    set_id: str,
    links: _Links,
    warnings: list[XdsWarning],
) -> None:
    where = str(element.get("id"))
    kind = compact(element.get("associationType"))
    source, target = element.get("sourceObject") or "", element.get("targetObject") or ""
    documents = {str(d.get("id")) for d in found.documents}
    if source in found.folders or target in found.folders:
        return  # a Folder's association: the Folder is not processed (warned once)
    if kind == ebrim.HAS_MEMBER:
        if source != set_id or target not in documents:
            raise _refuse(
                f"{where}: HasMember must go from the SubmissionSet to a DocumentEntry of the"
                " submission",
                where,
            )
        status = single(slots(element), ebrim.SLOT_SUBMISSION_SET_STATUS, where)
        if status not in (None, ebrim.SUBMISSION_SET_ORIGINAL):
            raise _refuse(f"{where}: SubmissionSetStatus {status} is not supported", where)
        links.members.add(target)
        return
    if kind not in ebrim.RELATIONSHIPS:
        raise _refuse(f"{where}: association type {kind or '(none)'} is not supported", where)
    if source not in documents:
        raise _refuse(
            f"{where}: the source {source!r} is not a DocumentEntry of the submission", where
        )
    if not target.startswith("urn:uuid:") or target in documents:
        raise _refuse(
            f"{where}: the target must be the entryUUID (urn:uuid:…) of a registered document",
            where,
        )
    if kind in ebrim.REPLACING:
        if source in links.replaces:
            raise _refuse(f"{where}: a document replaces at most one document", where)
        links.replaces[source] = ReplaceTarget(target, "id")
    if kind in _NOT_PROCESSED:
        warnings.append(
            XdsWarning(
                _NOT_PROCESSED[kind], f"{where}: {kind.rsplit(':', 1)[-1]} is not processed", where
            )
        )
    if kind == ebrim.XFRM_RPLC:
        warnings.append(
            XdsWarning(
                "PartialTransformReplaceNotProcessed",
                f"{where}: the transformation is recorded as a replacement",
                where,
            )
        )


def _check_documents(found: _Objects, documents: Mapping[str, bytes]) -> None:
    ids = [str(d.get("id")) for d in found.documents]
    for ident in ids:
        if ident not in documents:
            raise _refuse(f"{ident}: the document's content is missing", ident, MISSING_DOCUMENT)
    for ident in documents:
        if ident not in ids:
            raise _refuse(f"{ident}: a document without its DocumentEntry", ident, MISSING_METADATA)
    if not ids:
        raise _refuse("the submission holds no DocumentEntry", None, MISSING_DOCUMENT)


def _check_unique_ids(
    submission: SubmissionSetInput, parsed: list[DocumentInput], ids: list[str]
) -> None:
    seen: dict[str, str] = {submission.unique_id: "SubmissionSet"}
    for document, where in zip(parsed, ids, strict=True):
        if document.unique_id in seen:
            raise _refuse(
                f"{where}: uniqueId already used by {seen[document.unique_id]} in this submission",
                where,
                DUPLICATE_UNIQUE_ID,
            )
        seen[document.unique_id] = where


def parse_submission(request: etree._Element, documents: Mapping[str, bytes]) -> XdsSubmission:
    """An ITI-41 ``lcm:SubmitObjectsRequest`` and the documents' bytes (by ExtrinsicObject
    id) -> the deposit's inputs; :class:`XdsMetadataError` for the first rule broken."""
    found = registry_objects(request)
    check_ids(found)
    _check_documents(found, documents)
    package = found.submission_sets[0]
    set_id = str(package.get("id"))
    submission, ins = submission_input(package)
    warnings: list[XdsWarning] = [
        XdsWarning("PartialFolderContentNotProcessed", f"{f}: Folders are not supported", f)
        for f in found.folders
    ]
    links = _Links()
    for element in found.associations:
        _association(element, found, set_id, links, warnings)
    parsed: list[DocumentInput] = []
    ids: list[str] = []
    for element in found.documents:
        where = str(element.get("id"))
        if where not in links.members:
            raise _refuse(f"{where}: no HasMember association from the SubmissionSet", where)
        document, patient = document_input(element, documents[where], warnings)
        if patient != ins:
            raise _refuse(
                f"{where}: the patientId is not the SubmissionSet's", where, PATIENT_MISMATCH
            )
        if where in links.replaces:
            document = replace(document, replaces=links.replaces[where])
        parsed.append(document)
        ids.append(where)
    _check_unique_ids(submission, parsed, ids)
    return XdsSubmission(ins, submission, parsed, ids, set_id, warnings)


# --- the registry-held state (ITI-57, ITI-18 responses) ------------------------------------------

_STATUSES = {
    ebrim.APPROVED: ("current", False),
    ebrim.DEPRECATED: ("superseded", False),
    ebrim.DMP_ARCHIVED: ("current", True),
    ebrim.DMP_DELETED: ("deleted", False),
}


def entry_state(element: etree._Element) -> EntryState:
    """The status, DMP confidentiality codes, ids and version of a DocumentEntry."""
    where = str(element.get("id") or "ExtrinsicObject")
    status = compact(element.get("status")) or ebrim.APPROVED
    if status not in _STATUSES:
        raise _refuse(f"{where}: availabilityStatus {status} is not known", where)
    labels = _confidentiality(element, where, required=False)
    version = element.find(f"{_R}VersionInfo")
    lid = element.get("lid")
    return EntryState(
        entry_uuid=where,
        logical_id=lid.removeprefix("urn:uuid:") if lid else None,
        version=version.get("versionName") if version is not None else None,
        status=_STATUSES[status][0],
        archived=_STATUSES[status][1],
        masked="MASQUE_PS" in labels,
        invisible_to_patient="INVISIBLE_PATIENT" in labels,
        invisible_to_representatives="INVISIBLE_REPRESENTANTS_LEGAUX" in labels,
    )


__all__ = [
    "EntryState",
    "XdsMetadataError",
    "XdsSubmission",
    "XdsWarning",
    "entry_state",
    "parse_submission",
]
