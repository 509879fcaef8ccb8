"""DMP TD0.2 existence test as IHE PDQm ITI-78 (``GET /fhir/Patient?identifier=…``).

``GET /fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|<INS>`` (also ``.9``, ``.10``,
``.11``; or ``_id=ins-<oid>-<value>``; or ``POST /fhir/Patient/_search`` with the same
parameters as a form) answers a searchset Bundle: no entry when the INS has no record, else
one ``Patient`` (PDSm4DMP TD0.2):

- ``id``: ``ins-<oid>-<value>`` (see ``identities``); ``GET /fhir/Patient/<id>`` reads it,
  404 when the INS has no record;
- ``identifier``: the INS, FR Core INS slice (``INS-NIR`` official, ``INS-NIA`` temp, …);
- ``active``: the record is open (closed or destroyed: false);
- extension ``dmp-fermeture`` when the record is closed: ``dateFermeture`` (dateTime),
  ``motifFermeture`` (code, e.g. ``FERMETURE_DEMANDE_PATIENT``, ``DECES``) and
  ``raisonFermeture`` (the French label of the code; the patient's free text is not sent);
- for a professional: ``dmp-medecin-traitant`` (boolean: the caller is a treating doctor of
  the record) and ``DMP_AUTHORIZATION_STATUS`` (OpenDMP's extension, valueCode
  ``NON_EXISTE | VALIDE | EXPIRE | INTERDIT``: the caller's authorisation state);
- ``name``, ``gender``, ``birthDate`` only for those who may read the record: the patient,
  and a professional whose state is ``VALIDE`` on an open record (not a CPE, who never reads).
  Anyone else learns that the record exists, its status and their own access, nothing more.

The professional's answer comes from ``access.authorization_status_and_record`` (audited
``record:record:check-existence``); the demographics, when due, in the same transaction
as ``records.show_record`` gives them (audited ``record:record:read-status``). A patient
asking about another INS is refused (403) before any service is asked: the answer must not
differ with the existence of someone else's record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.domain.actors import CardKind, LegalRepresentative, Patient, Professional
from opendmp.domain.errors import AccessDenied, InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import ClosureReason, RecordStatus
from opendmp.fhir.api import router
from opendmp.fhir.formats import fhir_response
from opendmp.fhir.identities import (
    DMP_AUTHORIZATION_STATUS,
    DMP_CLOSURE,
    DMP_TREATING_DOCTOR,
    Params,
    context,
    ins_identifier,
    ins_of_patient_id,
    parse_ins_token,
    patient_id,
    search_params,
    searchset,
    single,
)
from opendmp.fhir.mapping import fhir_instant
from opendmp.fhir.openapi import (
    INS_TOKEN,
    SearchParameter,
    fhir_ok,
    format_only,
)
from opendmp.fhir.search_routes import add_search_routes
from opendmp.services.access import authorisations as access
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records

BIRTH_LIST_GIVEN_NAME = (
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
)
ITI78 = require_scope("ITI-78")

CLOSURE_LABELS: dict[str, str] = {
    ClosureReason.PATIENT_REQUEST.value: "Fermeture à la demande du patient",
    ClosureReason.DEATH.value: "Fermeture suite au décès du patient",
    ClosureReason.FRAUD.value: "Fermeture pour fraude",
    ClosureReason.OPERATOR.value: "Fermeture par l'hébergeur",
}
_GENDER = {"M": "male", "F": "female"}


# --- the resource ---------------------------------------------------------------------------


def _closure(closed_at: dt.datetime | None, reason: str | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if closed_at is not None:
        parts.append({"url": "dateFermeture", "valueDateTime": fhir_instant(closed_at)})
    if reason:
        parts.append({"url": "motifFermeture", "valueCode": reason})
        parts.append({"url": "raisonFermeture", "valueString": CLOSURE_LABELS.get(reason, reason)})
    return {"url": DMP_CLOSURE, "extension": parts} if parts else {"url": DMP_CLOSURE}


def patient_resource(
    ins: Ins,
    *,
    status: RecordStatus,
    closed_at: dt.datetime | None,
    closure_reason: str | None,
    state: access.AccessState | None = None,
    treating_doctor: bool | None = None,
    record: records.RecordView | None = None,
) -> dict[str, Any]:
    """The DMP's Patient; demographics only when ``record`` (the readable view) is given."""
    extensions: list[dict[str, Any]] = []
    if status is not RecordStatus.ACTIVE:
        extensions.append(_closure(closed_at, closure_reason))
    if treating_doctor is not None:
        extensions.append({"url": DMP_TREATING_DOCTOR, "valueBoolean": treating_doctor})
    if state is not None:
        extensions.append({"url": DMP_AUTHORIZATION_STATUS, "valueCode": state.value})
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id(ins)}
    if extensions:
        resource["extension"] = extensions
    resource["identifier"] = [ins_identifier(ins)]
    resource["active"] = status is RecordStatus.ACTIVE
    if record is not None:
        given = record.given_names.split()
        name: dict[str, Any] = {"use": "official", "family": record.birth_name}
        if given:
            name["given"] = given[:1]
            name["extension"] = [{"url": BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(given)}]
        resource["name"] = [name]
        resource["gender"] = _GENDER.get(record.sex, "unknown")
        resource["birthDate"] = record.birth_date.isoformat()
    return resource


# --- the use case ---------------------------------------------------------------------------


def _may_read(actor: Professional, status: access.AuthorizationStatus) -> bool:
    return (
        status.state is access.AccessState.VALIDE
        and status.record_status is RecordStatus.ACTIVE
        and actor.card_kind is not CardKind.CPE
    )


async def lookup(ctx: ServiceContext, auth: AuthContext, ins: Ins) -> dict[str, Any] | None:
    """The Patient of ``ins`` as ``auth`` may see it; None when the INS has no record."""
    actor = auth.actor
    auth.check_patient(str(ins))
    if isinstance(actor, Professional):
        status, view = await access.authorization_status_and_record(
            ctx, actor=actor, ins=ins, show_record_if=lambda found: _may_read(actor, found)
        )
        if status.record_status is None:
            return None
        return patient_resource(
            ins,
            status=status.record_status,
            closed_at=status.closed_at,
            closure_reason=status.closure_reason,
            state=status.state,
            treating_doctor=status.treating_doctor,
            record=view,
        )
    own = (isinstance(actor, Patient) and actor.ins == str(ins)) or (
        isinstance(actor, LegalRepresentative) and actor.patient_ins == str(ins)
    )
    if not own:
        raise AccessDenied("a patient may look up only their own record", code="not-own-record")
    try:
        view = await records.show_record(ctx, actor=actor, ins=ins)
    except NotFound:
        return None
    return patient_resource(
        ins,
        status=view.status,
        closed_at=view.closed_at,
        closure_reason=view.closure_reason,
        record=view,
    )


def _criteria(params: Params) -> Ins:
    identifier = single(params, "identifier")
    logical_id = single(params, "_id")
    if identifier is None and logical_id is None:
        raise InvalidInput(
            "the DMP is searched by INS only: give identifier=<INS system>|<INS> (or _id)",
            code="invalid-search",
        )
    found: Ins | None = None
    if identifier is not None:
        found = parse_ins_token(identifier, parameter="identifier")
    if logical_id is not None:
        by_id = ins_of_patient_id(logical_id)
        if by_id is None:
            raise InvalidInput(f"_id {logical_id!r} is not a Patient id", code="invalid-search")
        if found is not None and by_id != found:
            raise InvalidInput("identifier and _id name different patients", code="invalid-search")
        found = by_id
    assert found is not None
    return found


async def _search(request: Request, auth: AuthContext) -> Response:
    ctx = context(request)
    ins = _criteria(await search_params(request))
    found = await lookup(ctx, auth, ins)
    return fhir_response(request, searchset(ctx, request, [found] if found else []))


# --- routes ---------------------------------------------------------------------------------


PATIENT_SEARCH: dict[str, SearchParameter] = {
    "identifier": SearchParameter(
        "The INS: urn:oid:1.2.250.1.213.1.4.8|<NIR> (or .9 NIA, .10, .11); or give _id",
        required=True,
        schema=INS_TOKEN,
    ),
    "_id": SearchParameter("ins-<oid>-<value>, instead of identifier"),
}
add_search_routes(
    "Patient",
    PATIENT_SEARCH,
    ITI78,
    _search,
    get=("search_patients", "ITI-78 Mobile Patient Demographics Query (DMP TD0.2 existence test)"),
    post=("search_patients_by_post", "ITI-78 search by POST (form parameters)"),
)


@router.get(
    "/Patient/{logical_id}",
    summary="ITI-78 Patient read",
    responses=fhir_ok("Patient", resource_type="Patient"),
    openapi_extra=format_only(),
)
async def read_patient(
    request: Request, logical_id: str, auth: AuthContext = Depends(ITI78)
) -> Response:
    ins = ins_of_patient_id(logical_id)
    if ins is None:
        raise NotFound("no such Patient", code="not-found")
    found = await lookup(context(request), auth, ins)
    if found is None:
        raise NotFound("no record exists for this INS", code="record-not-found")
    return fhir_response(request, found)
