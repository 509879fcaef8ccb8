"""FHIR -> deposit inputs: an ITI-65 transaction Bundle or an ITI-105 DocumentReference.

Works on the JSON dict once :mod:`opendmp.fhir.validation` has accepted it. MHD 4.2.3
(IHE MHD ITI-65, ITI-105 and the Document Sharing metadata mapping) and ANS PDSm:
Minimal metadata always, Comprehensive
(and the PDSm additions) when ``meta.profile`` asks for it. Business-rule failures are
``invalid-metadata`` (422) with the FHIRPath of every missing element.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from opendmp.domain import codes
from opendmp.domain.errors import InvalidIdentifier, OpenDMPError
from opendmp.domain.identifiers import INS_OIDS, Ins, parse_ins
from opendmp.services.documents.deposit import (
    DEFAULT_FORMAT_CODE,
    DocumentInput,
    ReplaceTarget,
    SubmissionSetInput,
)

INS_SYSTEMS = {f"urn:oid:{oid}": oid for oid in INS_OIDS}
IDNAT_PS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
SOURCE_ID_URL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
DESIGNATION_TYPE_URL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
DMP_VISIBILITY_CODES = {"INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "MASQUE_PS"}
TYPE_SYSTEMS = {
    "http://loinc.org",
    f"urn:oid:{codes.LOINC_OID}",
    f"urn:oid:{codes.PATIENT_TYPE_SYSTEM}",
    "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
}
# Keys of DocumentReference kept in ``extra`` as the producer gave them (meta.profile as
# meta_profile, see below); mapping.py writes them back.
EXTRA_KEYS = (
    "contained",
    "author",
    "authenticator",
    "custodian",
    "description",
    "type",
    "category",
    "format",
    "context",
)
SUBMISSION_EXTRA_KEYS = ("contained", "source", "extension", "note", "meta")
RELATES_TO_WARNINGS = {
    "transforms": ("transform-not-processed", "PartialTransformContentNotProcessed"),
    "appends": ("append-not-processed", "PartialAppendContentNotProcessed"),
    "signs": ("relationship-not-processed", "PartialRelationshipContentNotProcessed"),
}


class InvalidMetadata(OpenDMPError):
    """Metadata breaking an MHD/PDSm rule; ``paths`` lists every offending element."""

    code = "invalid-metadata"
    http_status = 422

    def __init__(self, message: str, *, paths: list[str] | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.paths = paths or []
        self.expression = self.paths[0] if self.paths else None


def refuse(message: str, where: str | None = None, *, code: str | None = None) -> InvalidMetadata:
    return InvalidMetadata(message, paths=[where] if where else None, code=code)


@dataclass(frozen=True, slots=True)
class EntryWarning:
    code: str
    message: str
    xds_code: str | None = None


@dataclass
class Parsed:
    """The inputs of one deposit and how they sit in the request."""

    ins: Ins
    submission: SubmissionSetInput
    documents: list[DocumentInput]
    kinds: list[str] = field(default_factory=list)  # per bundle entry
    document_entry: list[int] = field(default_factory=list)  # per document: its entry
    binary_entry: list[int | None] = field(default_factory=list)  # per document
    patch_targets: dict[int, int] = field(default_factory=dict)  # patch entry -> document
    warnings: dict[int, list[EntryWarning]] = field(default_factory=dict)  # per entry

    def warn(self, entry: int, warning: EntryWarning) -> None:
        self.warnings.setdefault(entry, []).append(warning)


# --- small readers ------------------------------------------------------------------------------


def _profiles(resource: dict[str, Any]) -> list[str]:
    meta = resource.get("meta") or {}
    return [p for p in meta.get("profile") or [] if isinstance(p, str)]


def is_comprehensive(profiles: list[str]) -> bool:
    return any("Comprehensive" in p or "pdsm-comprehensive" in p for p in profiles)


def is_pdsm(profiles: list[str]) -> bool:
    return any("/ig/fhir/pdsm/" in p for p in profiles)


def parse_time(value: Any, where: str) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        if len(text) == 4:
            moment = dt.datetime(int(text), 1, 1, tzinfo=dt.UTC)
        elif len(text) == 7:
            moment = dt.datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=dt.UTC)
        elif len(text) == 10:
            moment = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise refuse(f"{where}: {value!r} is not a FHIR dateTime", where) from None
    if moment.tzinfo is None:
        raise refuse(f"{where}: a time needs a time zone", where)
    return moment.astimezone(dt.UTC)


def uid_from_value(value: str) -> str:
    """FHIR Identifier.value -> XDS uniqueId (``urn:oid:`` stripped, ``urn:uuid:`` kept)."""
    return value[len("urn:oid:") :] if value.lower().startswith("urn:oid:") else value


def first_code(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return None


def _ins_of_identifiers(identifiers: Any, where: str) -> Ins | None:
    found: list[Ins] = []
    for position, ident in enumerate(identifiers or []):
        if not isinstance(ident, dict) or ident.get("system") not in INS_SYSTEMS:
            continue
        found.append(_parse_ins(ident.get("value"), ident["system"], f"{where}[{position}]"))
    if len({str(i) for i in found}) > 1:
        raise refuse(f"{where}: the Patient carries several different INS", where)
    return found[0] if found else None


def _parse_ins(value: Any, system: str, where: str) -> Ins:
    if not isinstance(value, str):
        raise refuse(f"{where}: the INS value is missing", where)
    try:
        return parse_ins(value, INS_SYSTEMS[system])
    except InvalidIdentifier as exc:
        exc.expression = where  # type: ignore[attr-defined]
        raise


def _local(resource: dict[str, Any], reference: str) -> dict[str, Any] | None:
    for item in resource.get("contained") or []:
        if isinstance(item, dict) and f"#{item.get('id')}" == reference:
            return item
    return None


def resolve_subject(
    subject: Any,
    where: str,
    *,
    holder: dict[str, Any],
    bundled: dict[str, dict[str, Any]],
) -> Ins:
    """The INS a ``subject`` Reference designates (logical, conditional, contained, bundled)."""
    if not isinstance(subject, dict):
        raise refuse(f"{where} is required", where)
    ident = subject.get("identifier")
    if isinstance(ident, dict):
        system = ident.get("system")
        if system not in INS_SYSTEMS:
            raise refuse(
                f"{where}.identifier: the system must be an INS OID (urn:oid:1.2.250.1.213.1.4.8"
                " NIR, .9 NIA, .10/.11 test)",
                f"{where}.identifier.system",
                code="unknown-patient",
            )
        return _parse_ins(ident.get("value"), system, f"{where}.identifier.value")
    reference = subject.get("reference")
    if not isinstance(reference, str) or not reference:
        raise refuse(f"{where}: a reference or an INS identifier is required", where)
    if reference.startswith("Patient?"):
        query = urllib.parse.parse_qs(reference[len("Patient?") :])
        values = query.get("identifier") or []
        if len(values) != 1 or "|" not in values[0]:
            raise refuse(
                f"{where}.reference: expected Patient?identifier=<INS system>|<INS>",
                f"{where}.reference",
            )
        system, _, value = values[0].partition("|")
        if system not in INS_SYSTEMS:
            raise refuse(
                f"{where}.reference: the identifier system is not an INS OID",
                f"{where}.reference",
                code="unknown-patient",
            )
        return _parse_ins(value, system, f"{where}.reference")
    patient = _local(holder, reference) if reference.startswith("#") else bundled.get(reference)
    if patient is None or patient.get("resourceType") != "Patient":
        raise refuse(
            f"{where}.reference: {reference!r} is not a Patient of this request; use an INS"
            " identifier",
            f"{where}.reference",
            code="unknown-patient",
        )
    ins = _ins_of_identifiers(patient.get("identifier"), f"{where}->Patient.identifier")
    if ins is None:
        raise refuse(
            f"{where}: the referenced Patient carries no INS identifier",
            f"{where}.reference",
            code="unknown-patient",
        )
    return ins


def _author_idnat(resource: dict[str, Any]) -> str | None:
    """IdNat_PS of the first contained Practitioner (or PractitionerRole's) author."""
    for author in resource.get("author") or []:
        ref = author.get("reference") if isinstance(author, dict) else None
        target = _local(resource, ref) if isinstance(ref, str) and ref.startswith("#") else None
        if target is not None and target.get("resourceType") == "PractitionerRole":
            inner = (target.get("practitioner") or {}).get("reference")
            target = _local(resource, inner) if isinstance(inner, str) else None
        if target is None or target.get("resourceType") != "Practitioner":
            continue
        for ident in target.get("identifier") or []:
            if ident.get("system") == IDNAT_PS_SYSTEM and ident.get("value"):
                return str(ident["value"])
    return None


def decode_hash(value: Any, where: str) -> tuple[str | None, bool]:
    """(hex SHA-1, tolerated) from Attachment.hash: base64 of the 20 bytes; base64 of the
    40-character hex string is tolerated (the IHE example does that)."""
    if value is None:
        return None, False
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise refuse(f"{where}: not base64", where) from None
    if len(raw) == 20:
        return raw.hex(), False
    if len(raw) == 40 and re.fullmatch(rb"[0-9a-fA-F]{40}", raw):
        return raw.decode().lower(), True
    raise refuse(f"{where}: not a SHA-1 hash (20 bytes, base64)", where)


# --- DocumentReference -> DocumentInput ------------------------------------------------------


_COMPREHENSIVE_PATHS = (
    "type",
    "category",
    "subject",
    "securityLabel",
    "content[0].attachment.language",
    "content[0].attachment.creation",
    "content[0].format",
    "context.facilityType",
    "context.practiceSetting",
    "context.sourcePatientInfo",
)
_PDSM_PATHS = (
    "date",
    "author",
    "content[0].attachment.size",
    "content[0].attachment.hash",
    "content[0].attachment.title",
    "context.period.start",
)


def _get(resource: Any, path: str) -> Any:
    """The value at a simple FHIRPath (``a.b[0].c``), or None."""
    node = resource
    for step in path.split("."):
        name, _, index = step.partition("[")
        node = node.get(name) if isinstance(node, dict) else None
        if index and node is not None:
            position = int(index.rstrip("]"))
            node = node[position] if isinstance(node, list) and len(node) > position else None
        if node is None:
            return None
    return node


def _att(resource: dict[str, Any]) -> dict[str, Any]:
    content = resource.get("content") or [{}]
    attachment = content[0].get("attachment") if isinstance(content[0], dict) else None
    return attachment if isinstance(attachment, dict) else {}


def check_profile(
    resource: dict[str, Any], where: str, profiles: list[str], warnings: list[EntryWarning]
) -> None:
    missing = []
    if is_comprehensive(profiles):
        missing += [f"{where}.{p}" for p in _COMPREHENSIVE_PATHS if _get(resource, p) in (None, [])]
    if is_pdsm(profiles):
        missing += [f"{where}.{p}" for p in _PDSM_PATHS if _get(resource, p) in (None, [])]
        if resource.get("custodian") is None:
            # PDSm makes custodian 1.., yet the ANS's own examples omit it: warn only.
            warnings.append(
                EntryWarning("missing-custodian", f"{where}.custodian is missing (PDSm: 1..1)")
            )
    if missing:
        raise InvalidMetadata(
            "Comprehensive metadata: missing " + ", ".join(missing), paths=missing
        )


def _type_code(resource: dict[str, Any], where: str) -> tuple[str, str]:
    concept = resource.get("type")
    if not isinstance(concept, dict) or not concept.get("coding"):
        raise refuse(f"{where}.type is required by the DMP (typeCode)", f"{where}.type")
    codings = [c for c in concept["coding"] if isinstance(c, dict) and c.get("code")]
    for coding in codings:
        code = str(coding["code"])
        if codes.is_known_type(code):
            system = str(coding.get("system") or codes.LOINC_URI)
            return code, system
    shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings) or "none"
    raise refuse(
        f"{where}.type: no known DMP document type code ({shown})",
        f"{where}.type",
        code="unknown-type-code",
    )


def _relates_to(
    resource: dict[str, Any], where: str, warnings: list[EntryWarning]
) -> ReplaceTarget | None:
    target: ReplaceTarget | None = None
    for position, relation in enumerate(resource.get("relatesTo") or []):
        here = f"{where}.relatesTo[{position}]"
        code = relation.get("code")
        if code != "replaces":
            ours, xds = RELATES_TO_WARNINGS.get(
                str(code), ("relationship-not-processed", "PartialRelationshipContentNotProcessed")
            )
            warnings.append(EntryWarning(ours, f"{here}: {code} is not processed", xds))
            continue
        if target is not None:
            raise refuse(f"{here}: a document replaces at most one document", here)
        ref = relation.get("target") or {}
        reference, ident = ref.get("reference"), ref.get("identifier")
        if isinstance(reference, str) and reference:
            value = reference.rstrip("/").rsplit("/", 1)[-1].split("/_history", 1)[0]
            if not reference.startswith(("DocumentReference/", "urn:uuid:")) and "/fhir/" not in (
                reference
            ):
                raise refuse(f"{here}.target: must reference a DocumentReference", here)
            target = ReplaceTarget(value, "id")
        elif isinstance(ident, dict) and ident.get("value"):
            value = str(ident["value"])
            if value.startswith("urn:uuid:"):
                target = ReplaceTarget(value, "id")
            else:
                target = ReplaceTarget(uid_from_value(value), "unique-id")
        else:
            raise refuse(f"{here}.target: a reference or an identifier is required", here)
    return target


def document_input(
    resource: dict[str, Any],
    where: str,
    *,
    content: bytes,
    profiles: list[str],
    warnings: list[EntryWarning],
    inline: bool = False,
) -> DocumentInput:
    """Map one DocumentReference to a :class:`DocumentInput` (``content`` resolved)."""
    master = resource.get("masterIdentifier") or {}
    if not master.get("value"):
        raise refuse(f"{where}.masterIdentifier is required", f"{where}.masterIdentifier")
    if resource.get("status") != "current":
        raise refuse(f"{where}.status must be current", f"{where}.status")
    if resource.get("docStatus") is not None:
        raise refuse(f"{where}.docStatus is not allowed (0..0)", f"{where}.docStatus")
    if len(resource.get("content") or []) != 1:
        raise refuse(f"{where}.content must hold exactly one attachment", f"{where}.content")
    check_profile(resource, where, profiles, warnings)
    att = _att(resource)
    at = f"{where}.content[0].attachment"
    if not att.get("contentType"):
        raise refuse(f"{at}.contentType is required", f"{at}.contentType")
    sha1, tolerated = decode_hash(att.get("hash"), f"{at}.hash")
    if tolerated:
        warnings.append(
            EntryWarning(
                "hash-encoding",
                f"{at}.hash is base64 of the hex string, not of the SHA-1 bytes (tolerated)",
            )
        )
    type_code, type_system = _type_code(resource, where)
    context = resource.get("context") or {}
    period = context.get("period") or {}
    labels = {
        str(c.get("code"))
        for label in resource.get("securityLabel") or []
        for c in (label.get("coding") or [])
        if isinstance(c, dict)
    }
    if "MASQUE_PS" in labels:
        warnings.append(
            EntryWarning(
                "mask-not-applied",
                f"{where}.securityLabel: MASQUE_PS is the patient's choice and is not applied"
                " at deposit",
            )
        )
    fmt = (resource.get("content") or [{}])[0].get("format")
    extra: dict[str, Any] = {k: resource[k] for k in EXTRA_KEYS if resource.get(k) is not None}
    if isinstance(fmt, dict):
        extra["format"] = fmt  # content[0].format, which fhir/mapping.py reads back from here
    if _profiles(resource):
        extra["meta_profile"] = _profiles(resource)
    creation = parse_time(att.get("creation"), f"{at}.creation") or parse_time(
        resource.get("date"), f"{where}.date"
    )
    return DocumentInput(
        unique_id=uid_from_value(str(master["value"])),
        type_code=type_code,
        type_system=type_system,
        mime_type=str(att["contentType"]),
        content=content,
        title=att.get("title"),
        format_code=(fmt or {}).get("code") or DEFAULT_FORMAT_CODE,
        creation_time=creation,
        declared_size=att.get("size"),
        declared_sha1=sha1,
        service_start=parse_time(period.get("start"), f"{where}.context.period.start"),
        service_stop=parse_time(period.get("end"), f"{where}.context.period.end"),
        practice_setting=first_code(context.get("practiceSetting")),
        facility_type=first_code(context.get("facilityType")),
        event_codes=tuple(c for c in (first_code(e) for e in context.get("event") or []) if c),
        language=str(att.get("language") or "fr-FR"),
        invisible_to_patient="INVISIBLE_PATIENT" in labels,
        invisible_to_representatives="INVISIBLE_REPRESENTANTS_LEGAUX" in labels,
        author_idnat=_author_idnat(resource),
        replaces=None if inline else _relates_to(resource, where, warnings),
        extra=extra,
    )


# --- SubmissionSet List -> SubmissionSetInput ------------------------------------------------


def _extension(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def submission_input(
    resource: dict[str, Any], where: str, profiles: list[str], warnings: list[EntryWarning]
) -> SubmissionSetInput:
    if resource.get("status") != "current":
        raise refuse(f"{where}.status must be current", f"{where}.status")
    source = _extension(resource, SOURCE_ID_URL)
    source_id = ((source or {}).get("valueIdentifier") or {}).get("value")
    if not source_id:
        raise refuse(
            f"{where}.extension[sourceId] is required (1..1)", f"{where}.extension:sourceId"
        )
    designation = _extension(resource, DESIGNATION_TYPE_URL)
    missing = []
    if is_comprehensive(profiles):
        if designation is None:
            missing.append(f"{where}.extension:designationType")
        if resource.get("subject") is None:
            missing.append(f"{where}.subject")
    if is_pdsm(profiles) and resource.get("source") is None:
        missing.append(f"{where}.source")
    if missing:
        raise InvalidMetadata(
            "Comprehensive metadata: missing " + ", ".join(missing), paths=missing
        )
    unique_id = entry_uuid = None
    for ident in resource.get("identifier") or []:
        value = str(ident.get("value") or "")
        if value.startswith("urn:uuid:") and ident.get("use") == "official":
            entry_uuid = value
        elif value and unique_id is None and ident.get("use") in (None, "usual"):
            unique_id = uid_from_value(value)
    if unique_id is None:
        unique_id = f"2.25.{uuid.uuid4().int}"
        warnings.append(
            EntryWarning(
                "submission-set-unique-id-assigned",
                f"{where}.identifier: no SubmissionSet uniqueId; {unique_id} was assigned",
            )
        )
    extra = {k: resource[k] for k in SUBMISSION_EXTRA_KEYS if resource.get(k) is not None}
    return SubmissionSetInput(
        unique_id=unique_id,
        source_id=uid_from_value(str(source_id)),
        entry_uuid=entry_uuid,
        submitted_at=parse_time(resource.get("date"), f"{where}.date"),
        title=resource.get("title"),
        content_type_code=first_code((designation or {}).get("valueCodeableConcept")),
        extra=extra or None,
    )
