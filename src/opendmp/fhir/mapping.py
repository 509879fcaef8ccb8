"""Domain -> FHIR R4 (IHE MHD 4.2.3 / ANS PDSm 3.1.1) as plain dicts.

DocumentReference follows both conventions (IHE MHD: entryUUID in identifier; PDSm4DMP:
id = entryUUID): ``id`` is the entryUUID
without ``urn:uuid:`` (DMP flavour) and the entryUUID is also in ``identifier`` (MHD). The
logicalId (stable across metadata versions) is a second identifier. Metadata given by the
producer that we do not search on (contained author, authenticator, custodian, displays,
sourcePatientInfo…) is kept as given in ``extra`` and returned as is.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson

from opendmp.domain import codes
from opendmp.services.documents import DocumentView

LOINC = "http://loinc.org"
RFC3986 = "urn:ietf:rfc:3986"
LOGICAL_ID_SYSTEM = "urn:opendmp:logical-id"
CLASS_SYSTEM = f"urn:oid:{codes.CLASS_SYSTEM}"
FORMAT_SYSTEM = f"urn:oid:{codes.IHE_FORMAT_SYSTEM}"
FACILITY_SYSTEM = f"urn:oid:{codes.FACILITY_TYPE_SYSTEM}"
PRACTICE_SYSTEM = f"urn:oid:{codes.PRACTICE_SETTING_SYSTEM}"
CONFIDENTIALITY_V3 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
DMP_VISIBILITY_SYSTEM = f"urn:oid:{codes.DMP_CONFIDENTIALITY_SYSTEM}"
DMP_VISIBILITY_URI = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
    "TRE-A07-StatutVisibiliteDocument"
)
IS_ARCHIVED_URL = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
)
PDSM_DOCREF_PROFILE = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
    "pdsm-comprehensive-document-reference"
)
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
SOURCE_ID_URL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
DESIGNATION_TYPE_URL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
IDNAT_PS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
STRUCT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"


def fhir_instant(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def uid_value(unique_id: str) -> str:
    """XDS uniqueId -> FHIR Identifier.value (an OID is written ``urn:oid:…``)."""
    if unique_id.startswith(("urn:", "http:", "https:")):
        return unique_id
    if all(part.isdigit() for part in unique_id.split(".")):
        return f"urn:oid:{unique_id}"
    return unique_id


def fhir_hash(sha1_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha1_hex)).decode()


def security_labels(doc: DocumentView) -> list[dict[str, Any]]:
    return visibility_labels(
        doc.masked_by_patient, doc.invisible_to_patient, doc.invisible_to_representatives
    )


def visibility_labels(
    masked: bool, invisible_to_patient: bool, invisible_to_representatives: bool
) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = []
    if masked:
        labels.append({"system": DMP_VISIBILITY_SYSTEM, "code": "MASQUE_PS"})
    if invisible_to_patient:
        labels.append({"system": DMP_VISIBILITY_SYSTEM, "code": "INVISIBLE_PATIENT"})
    if invisible_to_representatives:
        labels.append({"system": DMP_VISIBILITY_SYSTEM, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"})
    if not labels:
        labels.append({"system": CONFIDENTIALITY_V3, "code": "N", "display": "normal"})
    return [{"coding": [label]} for label in labels]


def coding(system: str, code: str | None, display: str | None = None) -> dict[str, Any] | None:
    """A CodeableConcept of one coding; None without a code."""
    if not code:
        return None
    found: dict[str, Any] = {"system": system, "code": code}
    if display:
        found["display"] = display
    return {"coding": [found]}


def default_author(
    idnat: str | None, name: str | None, organization_idnat: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Contained Practitioner(+Role, Organization) built from the stored author columns, and
    the reference to it (``DocumentReference.author``)."""
    if not idnat:
        return [], []
    family, _, given = (name or idnat).partition(" ")
    practitioner: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": "author",
        "identifier": [{"system": IDNAT_PS_SYSTEM, "value": idnat}],
        "name": [{"family": family, **({"given": [given]} if given else {})}],
    }
    contained = [practitioner]
    if organization_idnat:
        contained.append(
            {
                "resourceType": "Organization",
                "id": "author-org",
                "identifier": [{"system": STRUCT_SYSTEM, "value": organization_idnat}],
            }
        )
    return contained, [{"reference": "#author"}]


def _type_system(type_code: str) -> str:
    """LOINC for LOINC types, ``urn:oid:`` + TRE_A05 for the DMP's own (domain/codes.py)."""
    known = codes.DOCUMENT_TYPES.get(type_code)
    if known is None or known.system == codes.LOINC_OID:
        return LOINC
    return f"urn:oid:{known.system}"


def type_concept(type_code: str) -> dict[str, Any] | None:
    """``DocumentReference.type`` from the stored typeCode (its French display if known)."""
    known = codes.DOCUMENT_TYPES.get(type_code)
    return coding(_type_system(type_code), type_code, known.fr if known is not None else None)


def document_context(doc: DocumentView, extra: dict[str, Any]) -> dict[str, Any]:
    """``DocumentReference.context``: the one given (``extra``), completed from the columns;
    the service period always from the columns."""
    context: dict[str, Any] = dict(extra.get("context") or {})
    if doc.event_codes and "event" not in context:
        context["event"] = [{"coding": [{"code": c}]} for c in doc.event_codes]
    period = {
        k: v
        for k, v in (
            ("start", fhir_instant(doc.service_start)),
            ("end", fhir_instant(doc.service_stop)),
        )
        if v
    }
    if period:
        context["period"] = period
    if doc.facility_type and "facilityType" not in context:
        context["facilityType"] = coding(FACILITY_SYSTEM, doc.facility_type)
    if doc.practice_setting and "practiceSetting" not in context:
        context["practiceSetting"] = coding(PRACTICE_SYSTEM, doc.practice_setting)
    return context


def document_reference(
    doc: DocumentView,
    *,
    base_url: str,
    ins_oid: str,
    ins_value: str,
    replaces_entry_uuid: str | None = None,
) -> dict[str, Any]:
    """The DocumentReference of ``doc`` (the search page writes the same as bytes:
    ``fhir/searchset_json.py``, held equal by tests/unit/test_searchset_json.py)."""
    extra: dict[str, Any] = orjson.loads(doc.extra) if doc.extra else {}
    entry_id = doc.entry_uuid.removeprefix("urn:uuid:")
    type_cc = extra.get("type") or type_concept(doc.type_code)
    category = extra.get("category") or [coding(CLASS_SYSTEM, doc.class_code)]
    contained, author = default_author(
        doc.author_idnat, doc.author_name, doc.author_organization_idnat
    )
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": entry_id,
        "meta": {
            "versionId": str(doc.version),
            "lastUpdated": fhir_instant(doc.updated_at or doc.deposited_at),
            "profile": extra.get("meta_profile") or [PDSM_DOCREF_PROFILE],
        },
    }
    if extra.get("contained") or contained:
        resource["contained"] = extra.get("contained") or contained
    resource["extension"] = [{"url": IS_ARCHIVED_URL, "valueBoolean": doc.archived}]
    resource["masterIdentifier"] = {
        "use": "usual",
        "system": RFC3986,
        "value": uid_value(doc.unique_id),
    }
    resource["identifier"] = [
        {"use": "official", "system": RFC3986, "value": f"urn:uuid:{entry_id}"},
        {"use": "secondary", "system": LOGICAL_ID_SYSTEM, "value": str(doc.id)},
    ]
    # Deleted documents are never listed (they answer 410); superseded = deprecated.
    resource["status"] = "superseded" if doc.status == "superseded" else "current"
    resource["type"] = type_cc
    resource["category"] = category
    resource["subject"] = {"identifier": {"system": f"urn:oid:{ins_oid}", "value": ins_value}}
    resource["date"] = fhir_instant(doc.deposited_at)
    if extra.get("author") or author:
        resource["author"] = extra.get("author") or author
    for key in ("authenticator", "custodian", "description"):
        if extra.get(key):
            resource[key] = extra[key]
    if doc.replaces_id is not None and replaces_entry_uuid:
        target = replaces_entry_uuid.removeprefix("urn:uuid:")
        resource["relatesTo"] = [
            {"code": "replaces", "target": {"reference": f"DocumentReference/{target}"}}
        ]
    resource["securityLabel"] = security_labels(doc)
    attachment: dict[str, Any] = {
        "contentType": doc.mime_type,
        "language": doc.language,
        "url": f"{base_url}/fhir/Binary/{doc.id}",
        "size": doc.size,
        "hash": fhir_hash(doc.sha1),
        "title": doc.title,
        "creation": fhir_instant(doc.creation_time),
    }
    content: dict[str, Any] = {"attachment": {k: v for k, v in attachment.items() if v is not None}}
    content["format"] = extra.get("format") or {"system": FORMAT_SYSTEM, "code": doc.format_code}
    resource["content"] = [content]
    context = document_context(doc, extra)
    if context:
        resource["context"] = context
    return resource


def bundle(
    kind: str,
    entries: list[dict[str, Any]],
    *,
    total: int | None = None,
    links: list[dict[str, str]] | None = None,
    timestamp: dt.datetime | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    if timestamp is not None:
        result["timestamp"] = fhir_instant(timestamp)
    if total is not None:
        result["total"] = total
    if links:
        result["link"] = links
    result["entry"] = entries
    return result
