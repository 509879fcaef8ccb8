"""Authorisations, blocks and emergency choices as FHIR ``Consent`` (DMP TD0.3/TD0.4,
docs/rules.md §3.1, §3.3, §3.4). Scope: ``ITI-108`` (IHE PCF Access Consent).

One ``Consent`` per professional or structure with an entry on the record (what
``access.list_access`` lists), plus one for the patient's emergency choices. Shapes and ids
(documented with examples in docs/api.md):

- authorisation (``permit-pro-<oid>-<INS>-<IdNat>``, ``permit-org-…`` for a care team):
  ``provision.type=permit``, ``provision.actor`` = the contained Practitioner (IdNat_PS) or
  Organization (Struct_IdNat), role ``v3-ParticipationType#IRCP`` or, for a treating doctor,
  ``v3-RoleCode#PCP``; ``provision.period`` = granted … expires; an emergency access adds
  ``provision.purpose`` ``v3-ActReason#BTG`` or ``#ETREAT``. ``status`` is ``active`` while
  ``VALIDE``, ``inactive`` once ``EXPIRE``.
- block (``deny-pro-…``, ``deny-org-…``): ``provision.type=deny`` with the same actor.
- emergency choices (``emergency-<oid>-<INS>``): ``provision.type=permit`` with three nested
  provisions, each ``permit`` or ``deny``, whose ``purpose`` is ``v3-ActReason#ETREAT``
  (SAMU regulation), ``v3-ActReason#BTG`` (break-glass) and ``MASKED`` of
  ``EMERGENCY_CHOICE_SYSTEM`` (masked documents readable in an emergency).

Every Consent carries the ``dmp-authorization-status`` extension (the entry's state) and
``dmp-access-basis`` extensions (why it holds). ``<oid>`` is the last arc of the INS OID
(8, 9, 10 or 11) and ``/`` in an IdNat_PS becomes ``.``.

Writes: ``POST /fhir/Consent`` with a ``permit`` declares the patient's consent for the
calling professional (``access.declare_authorization``; role PCP also names them treating
doctor); with a ``deny`` the patient blocks (``access.block``); with the nested purposes the
patient sets the emergency choices. ``DELETE /fhir/Consent/<id>`` revokes (``permit-…``: the
authorisation and the treating-doctor naming) or unblocks (``deny-…``). The policy in the
services decides and audits every one; the route only refuses what has no service (a patient
declaring a professional's consent, a declaration for someone else).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.domain.actors import Professional
from opendmp.domain.errors import AccessDenied, InvalidInput, NotFound, OpenDMPError
from opendmp.domain.identifiers import (
    INS_NIR_OID,
    Ins,
    parse_idnat_ps,
    parse_ins,
    parse_struct_idnat,
)
from opendmp.fhir.api import router
from opendmp.fhir.formats import fhir_response, parse_resource, read_body
from opendmp.fhir.identities import (
    DMP_AUTHORIZATION_STATUS,
    IDNAT_PS_SYSTEM,
    STRUCT_IDNAT_SYSTEM,
    Params,
    context,
    ins_of_patient_id,
    ins_reference,
    parse_ins_token,
    search_params,
    searchset,
    single,
)
from opendmp.fhir.mapping import fhir_instant
from opendmp.fhir.openapi import (
    CODEABLE_CONCEPT,
    INS_TOKEN,
    REFERENCE,
    SearchParameter,
    fhir_ok,
    format_only,
    no_content,
    resource_body,
    resource_schema,
    search_get,
)
from opendmp.fhir.validation import validate_resource
from opendmp.services.access import authorisations as access
from opendmp.services.access import preferences
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records

ITI108 = require_scope("ITI-108")
MAX_CONSENT_BYTES = 256 * 1024

ACCESS_BASIS = "https://opendmp.example/fhir/StructureDefinition/dmp-access-basis"
EMERGENCY_CHOICE_SYSTEM = "https://opendmp.example/fhir/CodeSystem/dmp-emergency-choice"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"

RECIPIENT = {"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}
TREATING = {"system": ROLE_CODE, "code": "PCP", "display": "primary care physician"}
EMERGENCY_CODES = {"ETREAT": ACT_REASON, "BTG": ACT_REASON, "MASKED": EMERGENCY_CHOICE_SYSTEM}
_MODE_PURPOSE = {"break-glass": "BTG", "regulation": "ETREAT"}
_INS_OID_PREFIX = INS_NIR_OID.rsplit(".", 1)[0] + "."
_ID = re.compile(
    r"^(?:(?P<type>permit|deny)-(?P<kind>pro|org)-(?P<oid>8|9|10|11)-(?P<ins>[0-9A-Za-z]{15})"
    r"-(?P<idnat>[0-9A-Za-z.]{1,30})|emergency-(?P<eoid>8|9|10|11)-(?P<eins>[0-9A-Za-z]{15}))$"
)


# --- ids ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentId:
    ins: Ins
    type: str  # permit | deny | emergency
    kind: str = ""  # professional | organization
    idnat: str = ""

    def __str__(self) -> str:
        oid = self.ins.oid.rsplit(".", 1)[1]
        if self.type == "emergency":
            return f"emergency-{oid}-{self.ins.value}"
        kind = "pro" if self.kind == "professional" else "org"
        return f"{self.type}-{kind}-{oid}-{self.ins.value}-{self.idnat.replace('/', '.')}"


def parse_consent_id(text: str) -> ConsentId | None:
    match = _ID.match(text)
    if match is None:
        return None
    try:
        if match["eoid"]:
            return ConsentId(parse_ins(match["eins"], _INS_OID_PREFIX + match["eoid"]), "emergency")
        ins = parse_ins(match["ins"], _INS_OID_PREFIX + match["oid"])
        kind = "professional" if match["kind"] == "pro" else "organization"
        idnat = match["idnat"].replace(".", "/")
        parse = parse_idnat_ps if kind == "professional" else parse_struct_idnat
        return ConsentId(ins, match["type"], kind, parse(idnat).idnat)
    except OpenDMPError:
        return None


# --- resources ------------------------------------------------------------------------------


def _base(consent_id: ConsentId, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": str(consent_id),
        "status": status,
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": ins_reference(consent_id.ins),
    }


def _party(kind: str, idnat: str, name: str | None) -> dict[str, Any]:
    if kind == "organization":
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "id": "actor",
            "identifier": [{"system": STRUCT_IDNAT_SYSTEM, "value": idnat}],
        }
        if name and name != idnat:
            org["name"] = name
        return org
    practitioner: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": "actor",
        "identifier": [{"system": IDNAT_PS_SYSTEM, "value": idnat}],
    }
    if name and name != idnat:
        practitioner["name"] = [{"text": name}]
    return practitioner


def entry_consent(ins: Ins, entry: access.AccessEntry) -> dict[str, Any]:
    """An entry of the access list as a Consent (permit, or deny when blocked)."""
    blocked = entry.state is access.AccessState.INTERDIT
    consent_id = ConsentId(ins, "deny" if blocked else "permit", entry.kind, entry.idnat)
    active = entry.state in (access.AccessState.VALIDE, access.AccessState.INTERDIT)
    resource = _base(consent_id, "active" if active else "inactive")
    resource["extension"] = [
        {"url": DMP_AUTHORIZATION_STATUS, "valueCode": entry.state.value},
        *({"url": ACCESS_BASIS, "valueCode": basis.value} for basis in entry.bases),
    ]
    resource["contained"] = [_party(entry.kind, entry.idnat, entry.name)]
    when = entry.blocked_since if blocked else entry.granted_at
    if when is not None:
        resource["dateTime"] = fhir_instant(when)
    resource["policyRule"] = {
        "coding": [{"system": ACT_CODE, "code": "OPTOUT" if blocked else "OPTIN"}]
    }
    treating = access.AccessBasis.TREATING_DOCTOR in entry.bases
    provision: dict[str, Any] = {
        "type": "deny" if blocked else "permit",
        "actor": [
            {
                "role": {"coding": [TREATING if treating and not blocked else RECIPIENT]},
                "reference": {"reference": "#actor"},
            }
        ],
    }
    if not blocked:
        period = {
            k: v
            for k, v in (
                ("start", fhir_instant(entry.granted_at)),
                ("end", fhir_instant(entry.expires_at or entry.emergency_expires_at)),
            )
            if v
        }
        if period:
            provision["period"] = period
        purpose = _MODE_PURPOSE.get(entry.emergency_mode or "")
        if purpose:
            provision["purpose"] = [{"system": ACT_REASON, "code": purpose}]
    resource["provision"] = provision
    return resource


def emergency_consent(ins: Ins, choices: records.EmergencyChoices) -> dict[str, Any]:
    resource = _base(ConsentId(ins, "emergency"), "active")
    resource["policyRule"] = {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]}
    allowed = {
        "ETREAT": choices.allow_regulation,
        "BTG": choices.allow_break_glass,
        "MASKED": choices.allow_masked_in_emergency,
    }
    resource["provision"] = {
        "type": "permit",
        "provision": [
            {
                "type": "permit" if allowed[code] else "deny",
                "purpose": [{"system": system, "code": code}],
            }
            for code, system in EMERGENCY_CODES.items()
        ],
    }
    return resource


# --- reading --------------------------------------------------------------------------------


async def consents_of(ctx: ServiceContext, auth: AuthContext, ins: Ins) -> list[dict[str, Any]]:
    auth.check_patient(str(ins))
    entries = await access.list_access(ctx, actor=auth.actor, ins=ins)
    view = await records.show_record(ctx, actor=auth.actor, ins=ins)
    return [emergency_consent(ins, view.emergency), *(entry_consent(ins, e) for e in entries)]


def _patient_of(params: Params) -> Ins:
    identifier = single(params, "patient.identifier")
    reference = single(params, "patient")
    if identifier is None and reference is None:
        raise InvalidInput(
            "give patient.identifier=<INS system>|<INS> (or patient=Patient/<id>)",
            code="invalid-search",
        )
    if identifier is not None:
        return parse_ins_token(identifier, parameter="patient.identifier")
    assert reference is not None
    found = ins_of_patient_id(reference.removeprefix("Patient/"))
    if found is None:
        raise InvalidInput(f"patient {reference!r} is not a Patient id", code="invalid-search")
    return found


# --- writing --------------------------------------------------------------------------------


def _refuse(message: str, expression: str, code: str = "invalid-consent") -> OpenDMPError:
    error = OpenDMPError(message, code=code, http_status=422)
    error.expression = expression  # type: ignore[attr-defined]
    return error


def _consent_patient(resource: dict[str, Any]) -> Ins:
    patient = resource.get("patient") or {}
    identifier = patient.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
        return parse_ins_token(
            f"{identifier['system']}|{identifier['value']}", parameter="Consent.patient.identifier"
        )
    found = ins_of_patient_id(str(patient.get("reference") or "").removeprefix("Patient/"))
    if found is None:
        raise _refuse(
            "Consent.patient must name the INS (identifier) or Patient/ins-<oid>-<value>",
            "Consent.patient",
        )
    return found


def _target(resource: dict[str, Any], provision: dict[str, Any]) -> tuple[str, str, bool]:
    """(professional | organization, IdNat, role is PCP) of the one provision actor."""
    actors = provision.get("actor") or []
    if len(actors) != 1:
        raise _refuse("Consent.provision.actor must name one party", "Consent.provision.actor")
    actor = actors[0]
    roles = (actor.get("role") or {}).get("coding") or []
    treating = any(c.get("system") == ROLE_CODE and c.get("code") == "PCP" for c in roles)
    reference = actor.get("reference") or {}
    identifiers: list[dict[str, Any]] = []
    if isinstance(reference.get("identifier"), dict):
        identifiers = [reference["identifier"]]
    elif str(reference.get("reference") or "").startswith("#"):
        local = reference["reference"][1:]
        party = next((c for c in resource.get("contained") or [] if c.get("id") == local), None)
        if party is None:
            raise _refuse(
                f"Consent.provision.actor: no contained resource {local!r}",
                "Consent.provision.actor[0].reference",
            )
        identifiers = party.get("identifier") or []
    for identifier in identifiers:
        if identifier.get("system") == IDNAT_PS_SYSTEM and identifier.get("value"):
            return "professional", parse_idnat_ps(identifier["value"]).idnat, treating
        if identifier.get("system") == STRUCT_IDNAT_SYSTEM and identifier.get("value"):
            return "organization", parse_struct_idnat(identifier["value"]).idnat, treating
    raise _refuse(
        "Consent.provision.actor must be a Practitioner (IdNat_PS, urn:oid:1.2.250.1.71.4.2.1)"
        " or an Organization (Struct_IdNat, urn:oid:1.2.250.1.71.4.2.2)",
        "Consent.provision.actor[0]",
    )


def _emergency_choices(provision: dict[str, Any]) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for position, nested in enumerate(provision.get("provision") or []):
        where = f"Consent.provision.provision[{position}]"
        codes = [(p.get("system"), p.get("code")) for p in nested.get("purpose") or []]
        if len(codes) != 1 or codes[0][1] not in EMERGENCY_CODES:
            raise _refuse(f"{where}.purpose must be one of ETREAT, BTG, MASKED", f"{where}.purpose")
        system, code = codes[0]
        if system != EMERGENCY_CODES[str(code)]:
            raise _refuse(f"{where}.purpose: {code} belongs to {EMERGENCY_CODES[str(code)]}", where)
        if nested.get("type") not in ("permit", "deny") or str(code) in found:
            raise _refuse(f"{where}: one permit or deny per purpose", f"{where}.type")
        found[str(code)] = nested["type"] == "permit"
    missing = sorted(set(EMERGENCY_CODES) - set(found))
    if missing:
        raise _refuse(
            f"the emergency choices need ETREAT, BTG and MASKED; missing {', '.join(missing)}",
            "Consent.provision.provision",
        )
    return found


def _created(request: Request, resource: dict[str, Any], status: int) -> Response:
    base = context(request).base_url.rstrip("/")
    headers = {"Location": f"{base}/fhir/Consent/{resource['id']}"}
    return fhir_response(request, resource, status_code=status, headers=headers)


# --- routes ---------------------------------------------------------------------------------


CONSENT_SEARCH: dict[str, SearchParameter] = {
    "patient.identifier": SearchParameter(
        "The INS: <INS system>|<INS> (or give patient)", required=True, schema=INS_TOKEN
    ),
    "patient": SearchParameter("Patient/ins-<oid>-<value>, instead of patient.identifier"),
}
CONSENT_SCHEMA = resource_schema(
    "Consent",
    {
        "status": {"type": "string", "enum": ["active"]},
        "scope": CODEABLE_CONCEPT,
        "category": {"type": "array", "items": CODEABLE_CONCEPT},
        "patient": REFERENCE,
        "policyRule": CODEABLE_CONCEPT,
        "contained": {"type": "array", "items": {"type": "object"}},
        "provision": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["permit", "deny"]},
                "actor": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"role": CODEABLE_CONCEPT, "reference": REFERENCE},
                    },
                },
                "provision": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
    ("status", "scope", "category", "patient", "provision"),
)


@router.get(
    "/Consent",
    summary="Authorisations, blocks and emergency choices of a record",
    responses=fhir_ok("searchset Bundle of Consent", resource_type="Bundle"),
    openapi_extra=search_get(CONSENT_SEARCH),
)
async def search_consents(request: Request, auth: AuthContext = Depends(ITI108)) -> Response:
    ctx = context(request)
    ins = _patient_of(await search_params(request))
    return fhir_response(request, searchset(ctx, request, await consents_of(ctx, auth, ins)))


@router.get(
    "/Consent/{logical_id}",
    summary="One Consent of a record",
    responses=fhir_ok("Consent", resource_type="Consent"),
    openapi_extra=format_only(),
)
async def read_consent(
    request: Request, logical_id: str, auth: AuthContext = Depends(ITI108)
) -> Response:
    consent_id = parse_consent_id(logical_id)
    if consent_id is None:
        raise NotFound("no such Consent", code="not-found")
    for resource in await consents_of(context(request), auth, consent_id.ins):
        if resource["id"] == logical_id:
            return fhir_response(request, resource)
    raise NotFound("no such Consent", code="not-found")


@router.post(
    "/Consent",
    status_code=201,
    summary="Declare consent, block, or set emergency choices",
    responses=fhir_ok(
        "the Consent (201 created, 200 already so or emergency choices replaced)",
        resource_type="Consent",
        statuses=(200, 201),
    ),
    openapi_extra=resource_body("a Consent: permit, deny, or emergency choices", CONSENT_SCHEMA),
)
async def create_consent(request: Request, auth: AuthContext = Depends(ITI108)) -> Response:
    ctx = context(request)
    body = await read_body(request, limit=MAX_CONSENT_BYTES)
    resource = parse_resource(body, request.headers.get("content-type"))
    validate_resource(resource)
    if resource.get("resourceType") != "Consent":
        raise InvalidInput(
            f"expected a Consent, got {resource.get('resourceType')}", code="invalid-resource"
        )
    if resource.get("status") != "active":
        raise _refuse("only an active Consent can be posted", "Consent.status")
    ins = _consent_patient(resource)
    auth.check_patient(str(ins))
    provision = resource.get("provision")
    if not isinstance(provision, dict):
        raise _refuse("Consent.provision is required", "Consent.provision")
    if provision.get("provision"):
        choices = _emergency_choices(provision)
        saved = await preferences.set_emergency_choices(
            ctx,
            actor=auth.actor,
            ins=ins,
            allow_regulation=choices["ETREAT"],
            allow_break_glass=choices["BTG"],
            allow_masked_in_emergency=choices["MASKED"],
        )
        # The choices are one per record: posting them replaces them.
        return _created(request, emergency_consent(ins, saved), 200)
    kind, idnat, treating = _target(resource, provision)
    if provision.get("type") == "deny":
        changed = await access.block(
            ctx,
            actor=auth.actor,
            ins=ins,
            professional_idnat=idnat if kind == "professional" else None,
            organization_idnat=idnat if kind == "organization" else None,
        )
        consent_id = ConsentId(ins, "deny", kind, idnat)
        denied = _base(consent_id, "active")
        denied["extension"] = [
            {"url": DMP_AUTHORIZATION_STATUS, "valueCode": access.AccessState.INTERDIT.value}
        ]
        denied["contained"] = [_party(kind, idnat, None)]
        denied["policyRule"] = {"coding": [{"system": ACT_CODE, "code": "OPTOUT"}]}
        denied["provision"] = {
            "type": "deny",
            "actor": [{"role": {"coding": [RECIPIENT]}, "reference": {"reference": "#actor"}}],
        }
        return _created(request, denied, 201 if changed else 200)
    if provision.get("type") != "permit":
        raise _refuse("Consent.provision.type must be permit or deny", "Consent.provision.type")
    actor = auth.actor
    if not isinstance(actor, Professional):
        # DMP TD0.3: the professional's software records the consent the patient gave them.
        raise AccessDenied(
            "a consent is declared by the professional's software for its own user",
            code="declaration-by-professional-only",
        )
    if kind != "professional" or idnat != actor.idnat:
        raise AccessDenied(
            "a professional declares the patient's consent for themself only",
            code="declaration-for-oneself-only",
        )
    entry = await access.declare_authorization(ctx, actor=actor, ins=ins, treating_doctor=treating)
    return _created(request, entry_consent(ins, entry), 201)


@router.delete(
    "/Consent/{logical_id}",
    status_code=204,
    summary="Revoke or unblock",
    responses=no_content("revoked or unblocked"),
)
async def delete_consent(
    request: Request, logical_id: str, auth: AuthContext = Depends(ITI108)
) -> Response:
    consent_id = parse_consent_id(logical_id)
    if consent_id is None:
        raise NotFound("no such Consent", code="not-found")
    if consent_id.type == "emergency":
        raise OpenDMPError(
            "the emergency choices are not deleted: POST new ones",
            code="consent-not-deletable",
            http_status=405,
        )
    ctx, ins = context(request), consent_id.ins
    auth.check_patient(str(ins))
    professional = consent_id.idnat if consent_id.kind == "professional" else None
    organization = consent_id.idnat if consent_id.kind == "organization" else None
    if consent_id.type == "deny":
        changed = await access.unblock(
            ctx,
            actor=auth.actor,
            ins=ins,
            professional_idnat=professional,
            organization_idnat=organization,
        )
    else:
        changed = await access.revoke_authorization(
            ctx,
            actor=auth.actor,
            ins=ins,
            professional_idnat=professional,
            organization_idnat=organization,
        )
        if consent_id.kind == "professional":
            # The treating-doctor naming rests on the same consent: it goes with it.
            unset = await access.set_treating_doctor(
                ctx, actor=auth.actor, ins=ins, professional_idnat=consent_id.idnat, on=False
            )
            changed = changed or unset
    if not changed:
        raise NotFound("no such Consent", code="not-found")
    return Response(status_code=204)
