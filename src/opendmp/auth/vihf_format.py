"""What a VIHF says: the SAML 2.0 assertion's attributes, read and checked (no signature here).

The VIHF ("Vecteur d'Identification et d'Habilitation Formelle") is the DMP's profile of an
IHE XUA SAML 2.0 assertion. Attributes read (``saml:Attribute/@Name``), all mandatory but
the last two (docs/security.md, "VIHF"):

=====================================================  ===================================
``Identifiant_Structure``                              Struct_IdNat of the establishment
``Secteur_Activite``                                   e.g. ``SA07^1.2.250.1.71.4.2.4``
``Subject/NameID`` (element, not an attribute)         the user's IdNat_PS
``urn:oasis:names:tc:xspa:1.0:subject:subject-id``     the user's name
``urn:oasis:names:tc:xacml:2.0:subject:role``          profession and specialty (below)
``urn:oasis:names:tc:xspa:1.0:subject:purposeofuse``   normal, BRIS_DE_GLACE, CENTRE_DE_REGULATION
``urn:oasis:names:tc:xacml:2.0:resource:resource-id``  patient INS, ``VALUE^^^&OID&ISO``
``Authentification_Mode``                              how the software authenticated the user
``VIHF_Version``                                       e.g. ``3.0``
``LPS_Nom``, ``LPS_Version``                           the software
``Mode_Acces_Raison``                                  justification (required for break-glass)
``LPS_ID_HOMOLOGATION_DMP``                            DMP homologation number (optional)
=====================================================  ===================================

A role value is an HL7 ``CE`` element (``<Role code="10" codeSystem="1.2.250.1.71.1.2.7"/>``,
any namespace) or the text ``CODE^CODESYSTEM``: TRE_G15 (``1.2.250.1.71.1.2.7``) gives the
profession, TRE_R38 (``1.2.250.1.71.4.2.5``) the specialty; OpenDMP's own ``10/SM54`` text
form is accepted too. A purpose of use is a ``CE`` element or plain text; OpenDMP's own
``break-glass`` and ``regulation`` are accepted as synonyms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from opendmp.auth.tokens import CLOCK_SKEW, LATEST_TIME
from opendmp.domain.actors import AccessMode
from opendmp.domain.errors import InvalidIdentifier, Unauthenticated
from opendmp.domain.identifiers import parse_idnat_ps, parse_ins_reference, parse_struct_idnat

SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
STRUCTURE = "Identifiant_Structure"
SECTOR = "Secteur_Activite"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
AUTH_MODE = "Authentification_Mode"
VERSION = "VIHF_Version"
SOFTWARE_NAME = "LPS_Nom"
SOFTWARE_VERSION = "LPS_Version"
HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"
REASON = "Mode_Acces_Raison"
MANDATORY = (
    STRUCTURE,
    SECTOR,
    SUBJECT_ID,
    ROLE,
    PURPOSE,
    RESOURCE_ID,
    AUTH_MODE,
    VERSION,
    SOFTWARE_NAME,
    SOFTWARE_VERSION,
)
PROFESSION_SYSTEM = "1.2.250.1.71.1.2.7"  # TRE_G15-ProfessionSante
SPECIALTY_SYSTEM = "1.2.250.1.71.4.2.5"  # TRE_R38-SpecialiteOrdinale
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
PURPOSES = {
    "normal": AccessMode.NORMAL,
    "bris_de_glace": AccessMode.BREAK_GLASS,
    "break-glass": AccessMode.BREAK_GLASS,
    "centre_de_regulation": AccessMode.REGULATION,
    "regulation": AccessMode.REGULATION,
}
MAX_LIFETIME = dt.timedelta(hours=12)
MAX_VALUE_LENGTH = 256


class VihfError(Unauthenticated):
    """A VIHF that does not authenticate anyone: ``code`` says why, ``str()`` in English."""

    code = "invalid-vihf"

    def __str__(self) -> str:
        return self.message


def refuse(code: str, message: str) -> VihfError:
    return VihfError(message, code=code)


@dataclass(frozen=True, slots=True)
class Vihf:
    """What a verified VIHF says."""

    assertion_id: str
    issuer: str
    idnat: str  # Subject/NameID: IdNat_PS of the user
    subject_name: str  # subject-id
    structure: str  # Identifiant_Structure (Struct_IdNat)
    sector: str  # Secteur_Activite code (e.g. SA07)
    profession: str
    specialty: str | None
    purpose: AccessMode
    justification: str | None
    patient_ins: str  # "OID|VALUE"
    auth_mode: str
    version: str
    software_name: str
    software_version: str
    homologation: str | None
    not_before: dt.datetime | None
    not_on_or_after: dt.datetime
    signed: bool


def _q(name: str) -> str:
    return f"{{{SAML2}}}{name}"


def _short(text: str | None, what: str) -> str | None:
    value = (text or "").strip()
    if len(value) > MAX_VALUE_LENGTH:
        raise refuse("vihf-value-too-long", f"the VIHF's {what} is too long")
    return value or None


def _attribute_values(assertion: etree._Element, name: str) -> list[etree._Element]:
    found = [
        attribute
        for statement in assertion.iterchildren(_q("AttributeStatement"))
        for attribute in statement.iterchildren(_q("Attribute"))
        if attribute.get("Name") == name
    ]
    if len(found) > 1:
        raise refuse("vihf-duplicate-attribute", f"the VIHF has the attribute {name} twice")
    return list(found[0].iterchildren(_q("AttributeValue"))) if found else []


def _text_of(assertion: etree._Element, name: str) -> str | None:
    values = _attribute_values(assertion, name)
    if len(values) > 1:
        raise refuse("vihf-duplicate-attribute", f"the VIHF's {name} has several values")
    return _short(values[0].text, name) if values else None


def _required(assertion: etree._Element, name: str) -> str:
    value = _text_of(assertion, name)
    if value is None:
        raise refuse("vihf-missing-attribute", f"the VIHF lacks the attribute {name}")
    return value


def _coded(value: etree._Element) -> tuple[str, str | None]:
    """(code, code system) of a ``CE`` child element or of ``CODE^SYSTEM`` text."""
    children = [child for child in value if isinstance(child.tag, str)]
    if children:
        code, system = children[0].get("code"), children[0].get("codeSystem")
    else:
        code, _, system = (value.text or "").strip().partition("^")
    code = _short(code, "code")
    if code is None:
        raise refuse("vihf-invalid-code", "a coded VIHF attribute has no code")
    return code, _short(system, "code system")


def _roles(values: list[etree._Element]) -> Iterator[tuple[str, str]]:
    """("profession" | "specialty", code) for each role value."""
    for value in values:
        code, system = _coded(value)
        if system == PROFESSION_SYSTEM:
            yield "profession", code
        elif system == SPECIALTY_SYSTEM:
            yield "specialty", code
        elif system is None:
            profession, _, specialty = code.partition("/")
            yield "profession", profession
            if specialty:
                yield "specialty", specialty
        else:
            raise refuse("vihf-unknown-role", f"role code system {system} is not TRE_G15/R38")


def read_role(assertion: etree._Element) -> tuple[str, str | None]:
    """(profession, specialty) of the role attribute."""
    values = _attribute_values(assertion, ROLE)
    if not values:
        raise refuse("vihf-missing-attribute", f"the VIHF lacks the attribute {ROLE}")
    found: dict[str, list[str]] = {"profession": [], "specialty": []}
    for kind, code in _roles(values):
        found[kind].append(code)
    if len(found["profession"]) != 1 or len(found["specialty"]) > 1:
        raise refuse(
            "vihf-invalid-role", "the VIHF's role has one profession and at most one specialty"
        )
    specialty = found["specialty"][0] if found["specialty"] else None
    return found["profession"][0], specialty


def read_purpose(assertion: etree._Element) -> tuple[AccessMode, str | None]:
    values = _attribute_values(assertion, PURPOSE)
    if len(values) != 1:
        raise refuse("vihf-missing-attribute", f"the VIHF needs one {PURPOSE}")
    code, _ = _coded(values[0])
    mode = PURPOSES.get(code.lower())
    if mode is None:
        raise refuse("vihf-invalid-purpose", f"purpose of use {code!r} is not known")
    reason = _text_of(assertion, REASON)
    if mode is AccessMode.BREAK_GLASS and reason is None:
        # CSP R1111-45: an emergency access is justified in writing, before the access.
        raise refuse("justification-required", "a break-glass access needs a justification")
    return mode, reason


def read_patient(assertion: etree._Element) -> str:
    """The INS of ``resource-id``: HL7 CX ``VALUE^^^&OID&ISO`` (or ``OID|VALUE``)."""
    text = _required(assertion, RESOURCE_ID)
    if "^" in text:
        value, _, authority = text.partition("^^^")
        parts = authority.split("&")
        if len(parts) < 2 or not parts[1]:
            raise refuse("vihf-invalid-patient", "resource-id is not VALUE^^^&OID&ISO")
        text = f"{parts[1]}|{value}"
    elif "|" not in text:
        raise refuse("vihf-invalid-patient", "resource-id is not VALUE^^^&OID&ISO")
    try:
        return str(parse_ins_reference(text, ""))
    except InvalidIdentifier as error:
        raise refuse("vihf-invalid-patient", error.message) from None


def _instant(text: str | None, what: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
        utc = moment.astimezone(dt.UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):  # not a date, or moved beyond year 1..9999 by its zone
        raise refuse("vihf-invalid-time", f"the VIHF's {what} is not an xs:dateTime") from None
    if utc is None:
        raise refuse("vihf-invalid-time", f"the VIHF's {what} has no time zone (UTC: 'Z')")
    if utc > LATEST_TIME:  # could not take the clock skew added to it
        raise refuse("vihf-invalid-time", f"the VIHF's {what} is out of range")
    return utc


@dataclass(frozen=True, slots=True)
class Window:
    not_before: dt.datetime | None
    not_on_or_after: dt.datetime


def check_conditions(assertion: etree._Element, now: dt.datetime, audience: str) -> Window:
    """Validity window (with clock skew), lifetime at most 12 h, audience when restricted."""
    conditions = assertion.find(_q("Conditions"))
    if conditions is None:
        raise refuse("vihf-missing-conditions", "the VIHF has no Conditions")
    start = _instant(conditions.get("NotBefore"), "NotBefore")
    end = _instant(conditions.get("NotOnOrAfter"), "NotOnOrAfter")
    issued = _instant(assertion.get("IssueInstant"), "IssueInstant")
    if end is None or issued is None:
        raise refuse("vihf-missing-conditions", "the VIHF has no IssueInstant or NotOnOrAfter")
    if now >= end + CLOCK_SKEW:
        raise refuse("vihf-expired", "the VIHF has expired")
    if (start or issued) > now + CLOCK_SKEW:
        raise refuse("vihf-not-yet-valid", "the VIHF is not valid yet")
    if end - (start or issued) > MAX_LIFETIME:
        raise refuse("vihf-too-long", "a VIHF lives at most 12 hours")
    for restriction in conditions.iterchildren(_q("AudienceRestriction")):
        audiences = {(a.text or "").strip() for a in restriction.iterchildren(_q("Audience"))}
        if audience not in audiences:
            raise refuse("wrong-audience", "the VIHF is meant for another audience")
    return Window(start, end)


def read_name_id(assertion: etree._Element) -> str:
    name_ids = assertion.findall(f"{_q('Subject')}/{_q('NameID')}")
    if len(name_ids) != 1:
        raise refuse("vihf-missing-attribute", "the VIHF needs one Subject/NameID")
    text = _short(name_ids[0].text, "NameID")
    if text is None:
        raise refuse("vihf-missing-attribute", "the VIHF's Subject/NameID is empty")
    try:
        return parse_idnat_ps(text).idnat
    except InvalidIdentifier as error:
        raise refuse("vihf-invalid-subject", error.message) from None


def read_structure(assertion: etree._Element) -> str:
    try:
        return parse_struct_idnat(_required(assertion, STRUCTURE)).idnat
    except InvalidIdentifier as error:
        raise refuse("vihf-invalid-structure", error.message) from None


def read_vihf(assertion: etree._Element, *, now: dt.datetime, audience: str, signed: bool) -> Vihf:
    """Read and check a VIHF assertion (already trusted: the signed tree, or a card's)."""
    if assertion.tag != _q("Assertion") or assertion.get("Version") != "2.0":
        raise refuse("vihf-not-an-assertion", "the VIHF is not a SAML 2.0 Assertion")
    assertion_id = _short(assertion.get("ID"), "ID")
    issuer = _short(assertion.findtext(_q("Issuer")), "Issuer")
    if assertion_id is None or issuer is None:
        raise refuse("vihf-missing-attribute", "the VIHF has no ID or no Issuer")
    window = check_conditions(assertion, now, audience)
    for name in MANDATORY:
        if name not in (ROLE, PURPOSE):  # both read below, with their own checks
            _required(assertion, name)
    profession, specialty = read_role(assertion)
    purpose, reason = read_purpose(assertion)
    return Vihf(
        assertion_id=assertion_id,
        issuer=issuer,
        idnat=read_name_id(assertion),
        subject_name=_required(assertion, SUBJECT_ID),
        structure=read_structure(assertion),
        sector=_required(assertion, SECTOR).partition("^")[0],
        profession=profession,
        specialty=specialty,
        purpose=purpose,
        justification=reason,
        patient_ins=read_patient(assertion),
        auth_mode=_required(assertion, AUTH_MODE),
        version=_required(assertion, VERSION),
        software_name=_required(assertion, SOFTWARE_NAME),
        software_version=_required(assertion, SOFTWARE_VERSION),
        homologation=_text_of(assertion, HOMOLOGATION),
        not_before=window.not_before,
        not_on_or_after=window.not_on_or_after,
        signed=signed,
    )
