"""The HL7 v2 data types XDS metadata writes in slot values (IHE ITI TF-3 §4.2.3.1.7): CX
(patient ids), XCN (persons), XON (organisations), XTN (telecom), CXi (referenceIdList), DTM
(times in UTC), the ``code^display^system`` triples of authorRole/authorSpecialty (CI-SIS
convention) and the ``PID-n|…`` lines of sourcePatientInfo.

Pure parsing and formatting: a value that does not parse raises :class:`Hl7v2Error`, which
the metadata reader turns into ``XDSRegistryMetadataError`` with the object's id.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

ISO = "ISO"
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
# DTM: YYYY[MM[DD[hh[mm[ss]]]]], always UTC in XDS metadata.
_DTM = re.compile(r"[0-9]{4}(?:[0-9]{2}){0,5}")
_DTM_FORMAT = "%Y%m%d%H%M%S"


class Hl7v2Error(ValueError):
    """A slot value that is not the HL7 v2 data type XDS expects there."""


def is_oid(text: str) -> bool:
    return bool(_OID.fullmatch(text))


def _components(value: str) -> list[str]:
    return value.split("^")


def _at(parts: list[str], index: int) -> str:
    return parts[index] if len(parts) > index else ""


def _join(parts: list[str]) -> str:
    return "^".join(parts).rstrip("^")


def _authority(text: str) -> str | None:
    """``&OID&ISO`` -> OID (None when empty); anything else is refused."""
    if not text:
        return None
    sub = text.split("&")
    if len(sub) != 3 or not is_oid(sub[1]) or sub[2] != ISO:
        raise Hl7v2Error(f"assigning authority {text!r} is not &OID&ISO")
    return sub[1]


def _authority_text(oid: str | None) -> str:
    return f"&{oid}&{ISO}" if oid else ""


# --- DTM -----------------------------------------------------------------------------------------


def parse_dtm(value: str) -> dt.datetime:
    """An XDS DTM (UTC, truncation allowed) -> an aware datetime."""
    text = value.strip()
    if not _DTM.fullmatch(text):
        raise Hl7v2Error(f"{value!r} is not an XDS time (YYYY[MM[DD[hh[mm[ss]]]]], UTC)")
    padded = text + "0101000000"[len(text) - 4 :]
    try:
        return dt.datetime.strptime(padded, _DTM_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise Hl7v2Error(f"{value!r} is not a valid date or time") from None


def format_dtm(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(_DTM_FORMAT)


# --- CX: patient ids, sourcePatientId, referenceIdList (CXi) -------------------------------------


@dataclass(frozen=True, slots=True)
class Cx:
    value: str
    authority: str | None  # OID
    type_code: str | None = None  # CX.5, CXi's reference type


def parse_cx(text: str, *, authority_required: bool = True) -> Cx:
    parts = _components(text.strip())
    value = parts[0]
    if not value or any(_at(parts, i) for i in (1, 2)):
        raise Hl7v2Error("a CX is value^^^&OID&ISO")
    authority = _authority(_at(parts, 3))
    if authority_required and authority is None:
        raise Hl7v2Error("the CX has no assigning authority (&OID&ISO)")
    return Cx(value, authority, _at(parts, 4) or None)


def format_cx(cx: Cx) -> str:
    return _join([cx.value, "", "", _authority_text(cx.authority), cx.type_code or ""])


# --- XCN: authorPerson, legalAuthenticator -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Xcn:
    id: str | None
    family: str | None = None
    given: str | None = None
    prefix: str | None = None
    authority: str | None = None  # OID of the id


def parse_xcn(text: str) -> Xcn:
    parts = _components(text.strip())
    found = Xcn(
        id=parts[0] or None,
        family=_at(parts, 1) or None,
        given=_at(parts, 2) or None,
        prefix=_at(parts, 5) or None,
        authority=_authority(_at(parts, 8)),
    )
    if found.id is None and found.family is None:
        raise Hl7v2Error("an XCN needs an id (XCN.1) or a family name (XCN.2)")
    return found


def format_xcn(person: Xcn) -> str:
    return _join(
        [
            person.id or "",
            person.family or "",
            person.given or "",
            "",
            "",
            person.prefix or "",
            "",
            "",
            _authority_text(person.authority),
        ]
    )


# --- XON: authorInstitution ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Xon:
    name: str
    id: str | None = None
    authority: str | None = None


def parse_xon(text: str) -> Xon:
    parts = _components(text.strip())
    name, authority, ident = parts[0], _authority(_at(parts, 5)), _at(parts, 9) or None
    if not name and ident is None:
        raise Hl7v2Error("an XON needs a name (XON.1) or an id (XON.10)")
    return Xon(name, ident, authority)


def format_xon(org: Xon) -> str:
    if org.id is None:
        return org.name
    # CI-SIS: Name^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<id>
    return _join(
        [org.name, "", "", "", "", _authority_text(org.authority), "IDNST", "", "", org.id]
    )


# --- XTN: authorTelecommunication ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Xtn:
    system: str  # FHIR ContactPoint.system: email or phone
    value: str


def parse_xtn(text: str) -> Xtn:
    parts = _components(text.strip())
    if _at(parts, 2) == "Internet" and _at(parts, 3):
        return Xtn("email", parts[3])
    number = _at(parts, 11) or parts[0]
    if not number:
        raise Hl7v2Error("an XTN needs an e-mail address (XTN.4) or a number (XTN.12)")
    return Xtn("phone", number)


def format_xtn(telecom: Xtn) -> str:
    if telecom.system == "email":
        return f"^NET^Internet^{telecom.value}"
    return _join(["", "PRN", "PH", "", "", "", "", "", "", "", "", telecom.value])


# --- code^display^system (authorRole, authorSpecialty) -------------------------------------------


@dataclass(frozen=True, slots=True)
class Coded:
    """A code, its system (an OID or a name, as XDS gives it) and its display."""

    code: str
    system: str | None = None
    display: str | None = None


def parse_role(text: str) -> Coded:
    """``code^display^&OID&ISO`` or ``code^display^OID`` (CI-SIS), or plain text (a code)."""
    parts = _components(text.strip())
    system = _at(parts, 2) or None
    if system is not None and system.startswith("&"):
        system = _authority(system)
    if not parts[0]:
        raise Hl7v2Error("an author role or specialty needs a code")
    return Coded(parts[0], system, _at(parts, 1) or None)


def format_role(coded: Coded) -> str:
    if coded.system is None and coded.display is None:
        return coded.code
    system = _authority_text(coded.system) if coded.system and is_oid(coded.system) else ""
    return _join([coded.code, coded.display or "", system or (coded.system or "")])


# --- sourcePatientInfo ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourcePatient:
    """The PID fields of sourcePatientInfo OpenDMP keeps (PID-3, -5, -7, -8, -11)."""

    identifiers: tuple[Cx, ...] = ()
    family: str | None = None
    given: str | None = None
    birth_date: str | None = None  # YYYYMMDD as given
    gender: str | None = None  # HL7 v2 administrative sex: M, F, U, A, O, N
    address: tuple[str, ...] = ()  # XAD components: street, other, city, state, zip, country


def parse_source_patient(lines: list[str]) -> SourcePatient:
    fields: dict[str, list[str]] = {}
    for line in lines:
        name, bar, value = line.partition("|")
        if not bar or not name.startswith("PID-"):
            raise Hl7v2Error("a sourcePatientInfo value is PID-n|value")
        fields.setdefault(name.strip(), []).append(value)
    names = _components((fields.get("PID-5") or [""])[0])
    birth = (fields.get("PID-7") or [""])[0][:8] or None
    if birth is not None and not re.fullmatch(r"[0-9]{4}([0-9]{2}){0,2}", birth):
        raise Hl7v2Error("PID-7 is not a date (YYYYMMDD)")
    return SourcePatient(
        identifiers=tuple(parse_cx(v) for v in fields.get("PID-3") or []),
        family=names[0] or None,
        given=_at(names, 1) or None,
        birth_date=birth,
        gender=(fields.get("PID-8") or [""])[0] or None,
        address=tuple(_components((fields.get("PID-11") or [""])[0])[:6]),
    )


def format_source_patient(patient: SourcePatient) -> list[str]:
    lines = [f"PID-3|{format_cx(cx)}" for cx in patient.identifiers]
    if patient.family or patient.given:
        lines.append(f"PID-5|{_join([patient.family or '', patient.given or ''])}")
    if patient.birth_date:
        lines.append(f"PID-7|{patient.birth_date}")
    if patient.gender:
        lines.append(f"PID-8|{patient.gender}")
    if any(patient.address):
        lines.append(f"PID-11|{_join(list(patient.address))}")
    return lines
