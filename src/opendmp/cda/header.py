"""Read the metadata a DMP needs from a CDA R2 header (CI-SIS flavour).

The mapping follows IHE PCC TF-2 4.1 (the CDA header binding) plus the ANS CI-SIS rules. Only
what identifies and indexes the document is required (``id``, ``code``, ``effectiveTime``,
``recordTarget``); anything else a real document may lack comes back as ``None`` so that
the caller (the deposit service) decides what is mandatory for its use.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from lxml import etree

from opendmp.cda.xml import HL7_V3, NS, parse_xml
from opendmp.domain.errors import InvalidInput

INS_OIDS: frozenset[str] = frozenset(
    {
        "1.2.250.1.213.1.4.8",  # INS-NIR
        "1.2.250.1.213.1.4.9",  # INS-NIA
        "1.2.250.1.213.1.4.10",  # INS-NIR test
        "1.2.250.1.213.1.4.11",  # INS-NIR demo
    }
)

# A CDA TS without an offset is local time of the author. French documents are written
# in metropolitan France far more often than anywhere else, so that is the guess.
_DEFAULT_ZONE = ZoneInfo("Europe/Paris")
_TS = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<f>\d{1,6})\d*)?(?P<tz>[+-]\d{4})?$"
)

BodyKind = Literal["nonxml", "structured"]


@dataclass(frozen=True)
class InstanceId:
    """An HL7 II: ``root`` (OID or UUID) and optional ``extension``."""

    root: str
    extension: str | None = None


@dataclass(frozen=True)
class Code:
    code: str
    system: str | None = None
    display: str | None = None


@dataclass(frozen=True)
class Organization:
    id: InstanceId | None
    name: str | None


@dataclass(frozen=True)
class PatientInfo:
    """``recordTarget/patientRole``. ``ins_*`` is the id whose root is an INS OID."""

    ins_value: str | None
    ins_oid: str | None
    other_ids: tuple[InstanceId, ...]
    family_name: str | None  # birth name (qualifier BR), else the first family
    given_name: str | None  # first given name (qualifier BR), else the first given
    given_names: str | None  # all birth given names, space separated
    used_family_name: str | None  # qualifier CL, when present
    birth_date: date | None
    sex: str | None  # administrativeGenderCode: F, M, U


@dataclass(frozen=True)
class AuthorInfo:
    """``author/assignedAuthor``: a person (IdNat_PS) or a device (no names)."""

    idnat: str | None
    idnat_root: str | None
    family_name: str | None
    given_name: str | None
    role: Code | None  # CI-SIS JDV_J01 code, e.g. ``G15_10/SM26``
    time: datetime | None
    organization: Organization | None

    @property
    def profession_code(self) -> str | None:
        """The part of ``role`` before ``/`` (``G15_10``)."""
        return self.role.code.split("/", 1)[0] if self.role else None

    @property
    def specialty_code(self) -> str | None:
        """The part of ``role`` after ``/`` (``SM26``), if any."""
        if self.role is None or "/" not in self.role.code:
            return None
        return self.role.code.split("/", 1)[1]


@dataclass(frozen=True)
class LegalAuthenticatorInfo:
    id: InstanceId | None
    family_name: str | None
    given_name: str | None
    time: datetime | None


@dataclass(frozen=True)
class CdaHeader:
    document_id: InstanceId
    set_id: InstanceId | None
    version_number: int | None
    code: Code
    title: str | None
    effective_time: datetime  # aware, UTC
    confidentiality: Code | None
    language: str | None
    template_ids: tuple[str, ...]
    patient: PatientInfo
    authors: tuple[AuthorInfo, ...]
    custodian: Organization | None
    legal_authenticator: LegalAuthenticatorInfo | None
    service_start: datetime | None
    service_stop: datetime | None
    practice_setting: Code | None
    facility_type: Code | None
    replaces: InstanceId | None  # relatedDocument[@typeCode='RPLC']/parentDocument/id
    body_kind: BodyKind | None
    body_media_type: str | None  # nonXMLBody/text/@mediaType


def parse_ts(value: str) -> datetime:
    """A CDA ``TS`` (``YYYY[MM[DD[HH[MM[SS[.S]]]]]][±ZZZZ]``) as an aware UTC datetime.

    Missing parts take their lowest value; a missing offset means Europe/Paris time.
    Raises ``ValueError`` on anything else, including a time whose UTC instant falls
    outside years 1-9999 (``00010101`` in Paris is still year 0 in UTC).
    """
    m = _TS.match(value.strip())
    if m is None:
        raise ValueError(f"not an HL7 TS: {value!r}")
    g = m.groupdict()
    tz: timezone | ZoneInfo = _DEFAULT_ZONE
    if g["tz"]:
        sign = -1 if g["tz"][0] == "-" else 1
        offset = timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][3:5]))
        tz = timezone(sign * offset)
    local = datetime(
        int(g["y"]),
        int(g["mo"] or 1),
        int(g["d"] or 1),
        int(g["h"] or 0),
        int(g["mi"] or 0),
        int(g["s"] or 0),
        int((g["f"] or "0").ljust(6, "0")),
        tzinfo=tz,
    )
    try:
        return local.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"HL7 TS out of range once in UTC: {value!r}") from None


def parse_header(data: bytes) -> CdaHeader:
    """Parse a CDA document and return its header metadata.

    Raises ``InvalidInput`` (``malformed-xml``, ``xml-doctype-refused`` or ``invalid-cda``).
    """
    root = parse_xml(data)
    _require_clinical_document(root)
    doc_id = _ii(_first(root, "cda:id"))
    if doc_id is None:
        raise _invalid("the document has no id/@root")
    code = _code(_first(root, "cda:code"))
    if code is None:
        raise _invalid("the document has no code/@code (document type)")
    effective = _ts_of(root, "cda:effectiveTime")
    if effective is None:
        raise _invalid("the document has no effectiveTime/@value")
    role = _first(root, "cda:recordTarget/cda:patientRole")
    if role is None:
        raise _invalid("the document has no recordTarget/patientRole")
    event = "cda:documentationOf/cda:serviceEvent"
    return CdaHeader(
        document_id=doc_id,
        set_id=_ii(_first(root, "cda:setId")),
        version_number=_version(root),
        code=code,
        title=_text(_first(root, "cda:title")),
        effective_time=effective,
        confidentiality=_code(_first(root, "cda:confidentialityCode")),
        language=_attr(root, "cda:languageCode/@code"),
        template_ids=tuple(_attrs(root, "cda:templateId/@root")),
        patient=_patient(role),
        authors=tuple(_author(a) for a in _all(root, "cda:author")),
        custodian=_organization(
            _first(root, "cda:custodian/cda:assignedCustodian/cda:representedCustodianOrganization")
        ),
        legal_authenticator=_legal_authenticator(_first(root, "cda:legalAuthenticator")),
        service_start=_ts_of(root, f"{event}/cda:effectiveTime/cda:low"),
        service_stop=_ts_of(root, f"{event}/cda:effectiveTime/cda:high"),
        practice_setting=_code(
            _first(
                root,
                f"{event}/cda:performer/cda:assignedEntity/cda:representedOrganization"
                "/cda:standardIndustryClassCode",
            )
        ),
        facility_type=_code(
            _first(
                root,
                "cda:componentOf/cda:encompassingEncounter/cda:location"
                "/cda:healthCareFacility/cda:code",
            )
        ),
        replaces=_ii(
            _first(root, "cda:relatedDocument[@typeCode='RPLC']/cda:parentDocument/cda:id")
        ),
        body_kind=_body_kind(root),
        body_media_type=_attr(root, "cda:component/cda:nonXMLBody/cda:text/@mediaType"),
    )


def extract_nonxml_body(data: bytes) -> tuple[str, bytes]:
    """The ``(mediaType, decoded bytes)`` of a level-1 (``nonXMLBody``) CDA document."""
    root = parse_xml(data)
    _require_clinical_document(root)
    text = _first(root, "cda:component/cda:nonXMLBody/cda:text")
    if text is None:
        raise _invalid("the document has no component/nonXMLBody/text")
    if text.get("reference") is not None or _first(text, "cda:reference") is not None:
        raise _invalid("a nonXMLBody that references external content is not accepted")
    media_type = text.get("mediaType") or "text/plain"
    raw = _joined_text(text)
    if text.get("representation", "TXT") != "B64":
        return media_type, raw.encode("utf-8")
    try:
        content = base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("the nonXMLBody text is not valid base64") from None
    return media_type, content


# --- helpers ---------------------------------------------------------------------------


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(f"invalid CDA: {message}", code="invalid-cda")


def _require_clinical_document(root: etree._Element) -> None:
    if root.tag == f"{{{HL7_V3}}}ClinicalDocument":
        return
    if root.tag == "{http://www.w3.org/1999/XSL/Transform}stylesheet":
        # CI-SIS "autoprésentable" documents: an XSLT stylesheet that carries the CDA.
        raise _invalid("self-presenting (xsl:stylesheet) documents are not accepted")
    raise _invalid(f"the root element must be ClinicalDocument in {HL7_V3}")


def _all(node: etree._Element, path: str) -> list[etree._Element]:
    found = node.xpath(path, namespaces=NS)
    if not isinstance(found, list):
        return []
    return [item for item in found if isinstance(item, etree._Element)]


def _attrs(node: etree._Element, path: str) -> list[str]:
    found = node.xpath(path, namespaces=NS)
    if not isinstance(found, list):
        return []
    return [str(item) for item in found if isinstance(item, str)]


def _first(node: etree._Element, path: str) -> etree._Element | None:
    found = _all(node, path)
    return found[0] if found else None


def _attr(node: etree._Element, path: str) -> str | None:
    found = _attrs(node, path)
    value = found[0].strip() if found else ""
    return value or None


def _joined_text(node: etree._Element) -> str:
    return "".join(str(part) for part in node.itertext())


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    value = " ".join(_joined_text(node).split())
    return value or None


def _ii(node: etree._Element | None) -> InstanceId | None:
    if node is None or not node.get("root"):
        return None
    return InstanceId(root=str(node.get("root")), extension=node.get("extension") or None)


def _code(node: etree._Element | None) -> Code | None:
    if node is None or not node.get("code"):
        return None
    return Code(
        code=str(node.get("code")),
        system=node.get("codeSystem") or None,
        display=node.get("displayName") or None,
    )


def _ts_of(node: etree._Element, path: str, *, strict: bool = True) -> datetime | None:
    """The TS at ``path``; ``strict=False`` turns a malformed value into ``None``.

    Strict for the times that index the document (creation, service period); lenient for
    signature and authoring times, which the examples themselves get wrong (``+100``).
    """
    element = _first(node, path)
    value = element.get("value") if element is not None else None
    if not value:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        if not strict:
            return None
        raise _invalid(f"{path.replace('cda:', '')} is not a valid timestamp") from None


def _version(root: etree._Element) -> int | None:
    value = _attr(root, "cda:versionNumber/@value")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise _invalid("versionNumber/@value is not an integer") from None


def _birth_date(value: str | None) -> date | None:
    if not value or len(value) < 8 or not value[:8].isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def _name_part(name: etree._Element | None, part: str, qualifier: str) -> str | None:
    """The ``part`` (family/given) with ``qualifier``, else the first unqualified one."""
    if name is None:
        return None
    qualified = _first(name, f"cda:{part}[@qualifier='{qualifier}']")
    return _text(qualified if qualified is not None else _first(name, f"cda:{part}"))


def _patient(role: etree._Element) -> PatientInfo:
    ids = [i for i in (_ii(e) for e in _all(role, "cda:id")) if i is not None]
    ins = next((i for i in ids if i.root in INS_OIDS and i.extension), None)
    patient = _first(role, "cda:patient")
    birth_time = sex = None
    name = given_names = used = None
    if patient is not None:
        birth_time = _attr(patient, "cda:birthTime/@value")
        sex = _attr(patient, "cda:administrativeGenderCode/@code")
        name = _first(patient, "cda:name")
    if name is not None:
        given_names = _text(_first(name, "cda:given[not(@qualifier)]"))
        used = _first(name, "cda:family[@qualifier='CL']")
    return PatientInfo(
        ins_value=ins.extension if ins else None,
        ins_oid=ins.root if ins else None,
        other_ids=tuple(i for i in ids if i is not ins),
        family_name=_name_part(name, "family", "BR"),
        given_name=_name_part(name, "given", "BR"),
        given_names=given_names,
        used_family_name=_text(used),
        birth_date=_birth_date(birth_time),
        sex=sex,
    )


def _person_names(person: etree._Element | None) -> tuple[str | None, str | None]:
    name = _first(person, "cda:name") if person is not None else None
    if name is None:
        return None, None
    return _text(_first(name, "cda:family")), _text(_first(name, "cda:given"))


def _organization(node: etree._Element | None) -> Organization | None:
    if node is None:
        return None
    return Organization(id=_ii(_first(node, "cda:id")), name=_text(_first(node, "cda:name")))


def _author(author: etree._Element) -> AuthorInfo:
    assigned = _first(author, "cda:assignedAuthor")
    if assigned is None:
        return AuthorInfo(
            None, None, None, None, None, _ts_of(author, "cda:time", strict=False), None
        )
    ident = _ii(_first(assigned, "cda:id"))
    family, given = _person_names(_first(assigned, "cda:assignedPerson"))
    return AuthorInfo(
        idnat=ident.extension if ident else None,
        idnat_root=ident.root if ident else None,
        family_name=family,
        given_name=given,
        role=_code(_first(assigned, "cda:code")),
        time=_ts_of(author, "cda:time", strict=False),
        organization=_organization(_first(assigned, "cda:representedOrganization")),
    )


def _legal_authenticator(node: etree._Element | None) -> LegalAuthenticatorInfo | None:
    if node is None:
        return None
    entity = _first(node, "cda:assignedEntity")
    family, given = _person_names(
        _first(entity, "cda:assignedPerson") if entity is not None else None
    )
    return LegalAuthenticatorInfo(
        id=_ii(_first(entity, "cda:id")) if entity is not None else None,
        family_name=family,
        given_name=given,
        time=_ts_of(node, "cda:time", strict=False),
    )


def _body_kind(root: etree._Element) -> BodyKind | None:
    if _first(root, "cda:component/cda:nonXMLBody") is not None:
        return "nonxml"
    if _first(root, "cda:component/cda:structuredBody") is not None:
        return "structured"
    return None
