"""XDS metadata values <-> the FHIR-shaped JSON OpenDMP keeps in a document's ``extra``.

One store, two views (docs/xds.md §13): what the deposit keeps beside its columns
(contained author, authenticator, sourcePatientInfo, codings with their systems and displays,
referenceIdList) is FHIR-shaped JSON, as the MHD mapping (IHE MHD "DocumentEntry-Mapping")
writes it. ITI-41 writes it from ebRIM here, ITI-65 as given; the FHIR view and the XDS view
both read it back. Pure functions on dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opendmp.domain import codes
from opendmp.xds.hl7v2 import Coded, Cx, SourcePatient, Xcn, Xon, Xtn, is_oid

RFC3986 = "urn:ietf:rfc:3986"
# A second (third…) authorInstitution of one XDS author: PractitionerRole.organization is 0..1.
EXTRA_INSTITUTION_URL = "urn:opendmp:xds:authorInstitution"
# A SubmissionSet's second (third…) author: List.source is 0..1.
EXTRA_AUTHOR_URL = "urn:opendmp:xds:author"
DESIGNATION_TYPE_URL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
NOS_TYPE_URI = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
NOS_VISIBILITY_URI = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
    "TRE-A07-StatutVisibiliteDocument"
)
# Code systems FHIR names by URI and XDS by OID (STANDARDS: "Well-known URIs need an OID ↔ URI
# table"); every other OID is written urn:oid:… in FHIR.
_URI_OF_OID = {
    codes.LOINC_OID: codes.LOINC_URI,
    codes.HL7_CONFIDENTIALITY_SYSTEM: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
}
_OID_OF_URI = {uri: oid for oid, uri in _URI_OF_OID.items()} | {
    NOS_TYPE_URI: codes.PATIENT_TYPE_SYSTEM,
    NOS_VISIBILITY_URI: codes.DMP_CONFIDENTIALITY_SYSTEM,
}
_GENDERS = {"M": "male", "F": "female", "U": "unknown", "O": "other", "A": "other"}
_SEXES = {"male": "M", "female": "F", "unknown": "U", "other": "O"}
_ADDRESS = ("line0", "line1", "city", "state", "postalCode", "country")


def fhir_system(scheme: str | None) -> str | None:
    """XDS codingScheme / assigning authority -> FHIR system."""
    if scheme is None:
        return None
    if scheme in _URI_OF_OID:
        return _URI_OF_OID[scheme]
    return f"urn:oid:{scheme}" if is_oid(scheme) else scheme


def xds_scheme(system: str | None) -> str | None:
    """FHIR system -> XDS codingScheme (an OID when one is known)."""
    if system is None:
        return None
    if system in _OID_OF_URI:
        return _OID_OF_URI[system]
    return system.removeprefix("urn:oid:")


def concept(coded: Coded) -> dict[str, Any]:
    coding = {"system": fhir_system(coded.system), "code": coded.code, "display": coded.display}
    return {"coding": [{k: v for k, v in coding.items() if v is not None}]}


def coded_of(value: Any) -> Coded | None:
    """The first coding of a CodeableConcept (or a Coding) as a :class:`Coded`."""
    if not isinstance(value, dict):
        return None
    codings = value.get("coding") if "coding" in value else [value]
    for coding in codings or []:
        if isinstance(coding, dict) and coding.get("code"):
            display = coding.get("display")
            return Coded(
                str(coding["code"]),
                xds_scheme(coding.get("system")),
                str(display) if display else None,
            )
    text = value.get("text")
    return Coded(str(text)) if text else None


def _identifier(value: str, authority: str | None) -> dict[str, Any]:
    system = fhir_system(authority)
    return {"system": system, "value": value} if system else {"value": value}


def _of_identifier(identifier: Any) -> tuple[str, str | None] | None:
    if not isinstance(identifier, dict) or not identifier.get("value"):
        return None
    system = identifier.get("system")
    return str(identifier["value"]), xds_scheme(system) if system else None


# --- persons and organisations -------------------------------------------------------------------


def practitioner(person: Xcn, resource_id: str, telecoms: tuple[Xtn, ...] = ()) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Practitioner", "id": resource_id}
    if person.id:
        resource["identifier"] = [_identifier(person.id, person.authority)]
    name: dict[str, Any] = {}
    if person.family:
        name["family"] = person.family
    if person.given:
        name["given"] = [person.given]
    if person.prefix:
        name["prefix"] = [person.prefix]
    if name:
        resource["name"] = [name]
    if telecoms:
        resource["telecom"] = [{"system": t.system, "value": t.value} for t in telecoms]
    return resource


def person_of(resource: dict[str, Any]) -> Xcn | None:
    found = next(
        (i for i in map(_of_identifier, resource.get("identifier") or []) if i is not None), None
    )
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    name = names[0] if names else {}
    given, prefix = name.get("given") or [None], name.get("prefix") or [None]
    person = Xcn(
        id=found[0] if found else None,
        family=name.get("family"),
        given=given[0],
        prefix=prefix[0],
        authority=found[1] if found else None,
    )
    return person if person.id or person.family else None


def organization(org: Xon, resource_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Organization", "id": resource_id}
    if org.id:
        resource["identifier"] = [_identifier(org.id, org.authority)]
    if org.name:
        resource["name"] = org.name
    return resource


def institution_of(resource: dict[str, Any]) -> Xon | None:
    found = next(
        (i for i in map(_of_identifier, resource.get("identifier") or []) if i is not None), None
    )
    name = str(resource.get("name") or "")
    if found is None:
        return Xon(name) if name else None
    return Xon(name, found[0], found[1])


def telecoms_of(resource: dict[str, Any]) -> tuple[Xtn, ...]:
    return tuple(
        Xtn(str(t["system"]), str(t["value"]))
        for t in resource.get("telecom") or []
        if isinstance(t, dict) and t.get("system") in ("email", "phone") and t.get("value")
    )


# --- authors -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Author:
    """One XDS author classification (every slot optional, at least one given)."""

    person: Xcn | None = None
    institutions: tuple[Xon, ...] = ()
    roles: tuple[Coded, ...] = ()
    specialties: tuple[Coded, ...] = ()
    telecoms: tuple[Xtn, ...] = ()


def author_resources(author: Author, prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the author Reference, the resources to contain) of one XDS author."""
    contained: list[dict[str, Any]] = []
    if author.person is not None:
        contained.append(practitioner(author.person, prefix, author.telecoms))
    orgs = [organization(o, f"{prefix}-org-{j}") for j, o in enumerate(author.institutions)]
    contained += orgs
    needs_role = (
        author.roles
        or author.specialties
        or len(orgs) > 1
        or (author.person is not None and orgs)
        or (author.person is None and author.telecoms)
    )
    if not needs_role:
        return {"reference": f"#{contained[0]['id']}"}, contained
    role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": f"{prefix}-role"}
    if author.person is not None:
        role["practitioner"] = {"reference": f"#{prefix}"}
    if orgs:
        role["organization"] = {"reference": f"#{orgs[0]['id']}"}
    if orgs[1:]:
        role["extension"] = [
            {"url": EXTRA_INSTITUTION_URL, "valueReference": {"reference": f"#{o['id']}"}}
            for o in orgs[1:]
        ]
    if author.roles:
        role["code"] = [concept(c) for c in author.roles]
    if author.specialties:
        role["specialty"] = [concept(c) for c in author.specialties]
    if author.person is None and author.telecoms:
        role["telecom"] = [{"system": t.system, "value": t.value} for t in author.telecoms]
    contained.append(role)
    return {"reference": f"#{role['id']}"}, contained


def local(contained: list[Any], reference: Any) -> dict[str, Any] | None:
    """The contained resource ``#id`` designates."""
    if not isinstance(reference, dict) or not str(reference.get("reference", "")).startswith("#"):
        return None
    wanted = str(reference["reference"])[1:]
    return next(
        (r for r in contained if isinstance(r, dict) and r.get("id") == wanted),
        None,
    )


def _role_author(role: dict[str, Any], contained: list[Any]) -> Author:
    who = local(contained, role.get("practitioner"))
    org_refs = [role.get("organization")] + [
        e.get("valueReference")
        for e in role.get("extension") or []
        if isinstance(e, dict) and e.get("url") == EXTRA_INSTITUTION_URL
    ]
    institutions = tuple(
        i
        for i in (institution_of(o) for o in (local(contained, r) for r in org_refs) if o)
        if i is not None
    )
    return Author(
        person=person_of(who) if who else None,
        institutions=institutions,
        roles=tuple(c for c in map(coded_of, role.get("code") or []) if c),
        specialties=tuple(c for c in map(coded_of, role.get("specialty") or []) if c),
        telecoms=telecoms_of(who) if who else telecoms_of(role),
    )


def author_of(reference: Any, contained: list[Any]) -> Author | None:
    """The XDS author a FHIR author Reference designates (contained resources only)."""
    target = local(contained, reference)
    kind = target.get("resourceType") if target else None
    if target is None:
        return None
    if kind == "PractitionerRole":
        return _role_author(target, contained)
    if kind == "Practitioner":
        person = person_of(target)
        return Author(person=person, telecoms=telecoms_of(target)) if person else None
    if kind == "Organization":
        org = institution_of(target)
        return Author(institutions=(org,)) if org else None
    return None


# --- sourcePatientInfo ---------------------------------------------------------------------------


def _fhir_date(text: str) -> str:
    return "-".join(p for p in (text[:4], text[4:6], text[6:8]) if p)


def source_patient_resource(patient: SourcePatient, resource_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": resource_id}
    if patient.identifiers:
        resource["identifier"] = [_identifier(c.value, c.authority) for c in patient.identifiers]
    name: dict[str, Any] = {}
    if patient.family:
        name["family"] = patient.family
    if patient.given:
        name["given"] = [patient.given]
    if name:
        resource["name"] = [name]
    if patient.gender:
        resource["gender"] = _GENDERS.get(patient.gender.upper(), "unknown")
    if patient.birth_date:
        resource["birthDate"] = _fhir_date(patient.birth_date)
    if any(patient.address):
        parts = dict(zip(_ADDRESS, patient.address, strict=False))
        lines = [parts.pop(k) for k in ("line0", "line1") if parts.get(k)]
        parts = {k: v for k, v in parts.items() if v and not k.startswith("line")}
        resource["address"] = [{**({"line": lines} if lines else {}), **parts}]
    return resource


def source_patient_of(resource: dict[str, Any]) -> SourcePatient:
    ids = tuple(
        Cx(value, authority)
        for value, authority in (
            i for i in map(_of_identifier, resource.get("identifier") or []) if i is not None
        )
    )
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    name = names[0] if names else {}
    addresses = [a for a in resource.get("address") or [] if isinstance(a, dict)]
    address: tuple[str, ...] = ()
    if addresses:
        lines = [*(addresses[0].get("line") or []), "", ""][:2]
        address = (*lines, *(str(addresses[0].get(k) or "") for k in _ADDRESS[2:]))
    gender = resource.get("gender")
    return SourcePatient(
        identifiers=ids,
        family=name.get("family"),
        given=(name.get("given") or [None])[0],
        birth_date=str(resource["birthDate"]).replace("-", "")
        if resource.get("birthDate")
        else None,
        gender=_SEXES.get(str(gender)) if gender else None,
        address=address,
    )


# --- referenceIdList -----------------------------------------------------------------------------


def related_identifier(cx: Cx) -> dict[str, Any]:
    identifier = _identifier(cx.value, cx.authority)
    if cx.type_code:
        identifier["type"] = {"coding": [{"system": RFC3986, "code": cx.type_code}]}
    return {"identifier": identifier}


def reference_id_of(related: Any) -> Cx | None:
    identifier = related.get("identifier") if isinstance(related, dict) else None
    found = _of_identifier(identifier)
    if found is None or not isinstance(identifier, dict):
        return None
    type_code = coded_of(identifier.get("type"))
    return Cx(found[0], found[1], type_code.code if type_code else None)
