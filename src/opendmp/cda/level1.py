"""Wrap a PDF (or other non-XML content) in a CDA R2 level-1 document, CI-SIS style.

The header follows ``DOC_NON_STRUCTURE_CDA-R2-N1.xml`` from the CI-SIS examples (HL7
France, CI-SIS and IHE XDS-SD template ids; INS in ``recordTarget``; IdNat_PS author;
custodian; legal authenticator; service event; encounter with the facility type) and the
element order of the CDA R2 schema (POCD_MT000040), so that it validates against
``CDA.xsd``. Everything is built as an lxml tree: user data only ever lands in text or
attribute values, which lxml escapes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from lxml import etree

from opendmp.cda.xml import HL7_V3, XSI

OID_IDNAT_PS = "1.2.250.1.71.4.2.1"  # professional: "8" + RPPS, "0"/"3" + ADELI…
OID_IDNAT_STRUCT = "1.2.250.1.71.4.2.2"  # organization: FINESS, SIRET… with prefix
OID_LOINC = "2.16.840.1.113883.6.1"
OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OID_ADMINISTRATIVE_GENDER = "2.16.840.1.113883.5.1"
OID_AUTHOR_SPECIALTY = "1.2.250.1.213.1.1.4.5"  # JDV_J01 XdsAuthorSpecialty
OID_PRACTICE_SETTING = "1.2.250.1.213.1.1.4.9"
OID_FACILITY_TYPE = "1.2.250.1.71.4.2.4"
TEMPLATE_IDS: tuple[str, ...] = (
    "2.16.840.1.113883.2.8.2.1",  # HL7 France
    "1.2.250.1.213.1.1.1.1",  # CI-SIS
    "1.3.6.1.4.1.19376.1.2.20",  # IHE XDS-SD (scanned / PDF document)
)

_V3 = f"{{{HL7_V3}}}"


@dataclass(frozen=True)
class OrgHeader:
    idnat: str  # IdNat_Struct, e.g. "1" + FINESS
    name: str


@dataclass(frozen=True)
class PatientHeader:
    ins_value: str
    ins_oid: str  # 1.2.250.1.213.1.4.8 (NIR), .9 (NIA), .10 / .11 (test / demo)
    family_name: str  # birth name
    given_name: str  # first given name of the birth certificate
    birth_date: date
    sex: Literal["F", "M"]


@dataclass(frozen=True)
class AuthorHeader:
    idnat: str  # IdNat_PS
    family_name: str
    given_name: str
    profession_code: str  # JDV_J01 profession part, e.g. "G15_10"
    specialty_code: str | None  # e.g. "SM26"; the CDA code is "G15_10/SM26"
    organization: OrgHeader


def wrap_level1(
    *,
    content: bytes,
    media_type: str,
    document_id: tuple[str, str | None],
    set_id: tuple[str, str | None],
    version: int,
    type_code: str,
    type_display: str,
    title: str,
    effective_time: datetime,
    confidentiality: str = "N",
    patient: PatientHeader,
    author: AuthorHeader,
    custodian: OrgHeader,
    service_start: datetime,
    service_stop: datetime | None,
    practice_setting: str | None,
    facility_type: str | None,
    language: str = "fr-FR",
    type_system: str = OID_LOINC,
    replaces: tuple[str, str | None] | None = None,
) -> bytes:
    """Return the CDA document (UTF-8 bytes with an XML declaration).

    Times must be timezone-aware; they are written in UTC to the second. The author is
    also the legal authenticator and the performer of the service event. ``replaces`` is
    the id of the document this version replaces (``relatedDocument`` RPLC): pass the same
    ``set_id`` and the next ``version``.
    """
    if version < 1:
        raise ValueError("version must be a positive integer")
    _require_text(
        document_id=document_id[0],
        set_id=set_id[0],
        type_code=type_code,
        title=title,
        ins_value=patient.ins_value,
        ins_oid=patient.ins_oid,
        patient_family_name=patient.family_name,
        patient_given_name=patient.given_name,
        author_idnat=author.idnat,
        author_profession_code=author.profession_code,
        custodian_idnat=custodian.idnat,
    )
    # The stubs do not know the None key, lxml's spelling of the default namespace.
    nsmap = {None: HL7_V3, "xsi": XSI}
    root = etree.Element(_V3 + "ClinicalDocument", nsmap=nsmap)  # type: ignore[arg-type]
    _sub(root, "realmCode", code="FR")
    _sub(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in TEMPLATE_IDS:
        _sub(root, "templateId", root=template)
    _ii(root, "id", *document_id)
    _sub(root, "code", code=type_code, displayName=type_display, codeSystem=type_system)
    _sub(root, "title").text = title
    _sub(root, "effectiveTime", value=format_ts(effective_time))
    _sub(root, "confidentialityCode", code=confidentiality, codeSystem=OID_CONFIDENTIALITY)
    _sub(root, "languageCode", code=language)
    _ii(root, "setId", *set_id)
    _sub(root, "versionNumber", value=str(version))
    _record_target(root, patient)
    _author(root, author, effective_time)
    _custodian(root, custodian)
    _legal_authenticator(root, author, effective_time)
    _documentation_of(root, author, service_start, service_stop, practice_setting)
    if replaces is not None:
        related = _sub(_sub(root, "relatedDocument", typeCode="RPLC"), "parentDocument")
        _ii(related, "id", *replaces)
    _component_of(root, service_start, service_stop, facility_type)
    body = _sub(_sub(root, "component"), "nonXMLBody")
    text = _sub(body, "text", mediaType=media_type, representation="B64")
    text.text = base64.b64encode(content).decode("ascii")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def format_ts(value: datetime) -> str:
    """An aware datetime as a CDA TS in UTC to the second: ``20210325110000+0000``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("CDA times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _require_text(**values: str) -> None:
    # An empty value would produce an element that reads back as "missing".
    empty = sorted(name for name, value in values.items() if not value or not value.strip())
    if empty:
        raise ValueError(f"empty value for: {', '.join(empty)}")


# --- builders --------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, _V3 + name, attrib=attributes)


def _ii(parent: etree._Element, name: str, root: str, extension: str | None) -> None:
    element = _sub(parent, name, root=root)
    if extension is not None:
        element.set("extension", extension)


def _person_name(parent: etree._Element, family: str, given: str) -> None:
    name = _sub(parent, "name")
    _sub(name, "given").text = given
    _sub(name, "family").text = family


def _organization(parent: etree._Element, tag: str, org: OrgHeader) -> None:
    element = _sub(parent, tag)
    _ii(element, "id", OID_IDNAT_STRUCT, org.idnat)
    _sub(element, "name").text = org.name


def _record_target(root: etree._Element, patient: PatientHeader) -> None:
    role = _sub(_sub(root, "recordTarget"), "patientRole")
    _ii(role, "id", patient.ins_oid, patient.ins_value)
    person = _sub(role, "patient", classCode="PSN")
    name = _sub(person, "name")
    # CI-SIS: birth name and first given name of the birth certificate, qualifier BR.
    _sub(name, "family", qualifier="BR").text = patient.family_name
    _sub(name, "given").text = patient.given_name
    _sub(name, "given", qualifier="BR").text = patient.given_name
    _sub(
        person,
        "administrativeGenderCode",
        code=patient.sex,
        codeSystem=OID_ADMINISTRATIVE_GENDER,
    )
    _sub(person, "birthTime", value=patient.birth_date.strftime("%Y%m%d"))


def _author(root: etree._Element, author: AuthorHeader, when: datetime) -> None:
    element = _sub(root, "author")
    _sub(element, "time", value=format_ts(when))
    assigned = _sub(element, "assignedAuthor")
    _ii(assigned, "id", OID_IDNAT_PS, author.idnat)
    code = author.profession_code
    if author.specialty_code:
        code = f"{code}/{author.specialty_code}"
    _sub(assigned, "code", code=code, codeSystem=OID_AUTHOR_SPECIALTY)
    _person_name(_sub(assigned, "assignedPerson"), author.family_name, author.given_name)
    _organization(assigned, "representedOrganization", author.organization)


def _custodian(root: etree._Element, custodian: OrgHeader) -> None:
    assigned = _sub(_sub(root, "custodian"), "assignedCustodian")
    _organization(assigned, "representedCustodianOrganization", custodian)


def _legal_authenticator(root: etree._Element, author: AuthorHeader, when: datetime) -> None:
    element = _sub(root, "legalAuthenticator")
    _sub(element, "time", value=format_ts(when))
    _sub(element, "signatureCode", code="S")
    entity = _sub(element, "assignedEntity")
    _ii(entity, "id", OID_IDNAT_PS, author.idnat)
    _person_name(_sub(entity, "assignedPerson"), author.family_name, author.given_name)


def _period(parent: etree._Element, start: datetime, stop: datetime | None) -> None:
    period = _sub(parent, "effectiveTime")
    _sub(period, "low", value=format_ts(start))
    if stop is not None:
        _sub(period, "high", value=format_ts(stop))


def _documentation_of(
    root: etree._Element,
    author: AuthorHeader,
    start: datetime,
    stop: datetime | None,
    practice_setting: str | None,
) -> None:
    event = _sub(_sub(root, "documentationOf"), "serviceEvent")
    _period(event, start, stop)
    # CI-SIS carries the practice setting on the performer's organization.
    entity = _sub(_sub(event, "performer", typeCode="PRF"), "assignedEntity")
    _ii(entity, "id", OID_IDNAT_PS, author.idnat)
    _person_name(_sub(entity, "assignedPerson"), author.family_name, author.given_name)
    org = _sub(entity, "representedOrganization")
    _ii(org, "id", OID_IDNAT_STRUCT, author.organization.idnat)
    _sub(org, "name").text = author.organization.name
    if practice_setting is not None:
        _sub(
            org,
            "standardIndustryClassCode",
            code=practice_setting,
            codeSystem=OID_PRACTICE_SETTING,
        )


def _component_of(
    root: etree._Element, start: datetime, stop: datetime | None, facility_type: str | None
) -> None:
    encounter = _sub(_sub(root, "componentOf"), "encompassingEncounter")
    _period(encounter, start, stop)
    if facility_type is not None:
        facility = _sub(_sub(encounter, "location"), "healthCareFacility")
        _sub(facility, "code", code=facility_type, codeSystem=OID_FACILITY_TYPE)
