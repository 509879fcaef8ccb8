"""Identifiers on the FHIR side: the INS (FR Core slices), IdNat_PS, Struct_IdNat, the
``Patient`` logical id, and the searchset Bundle the search routes share.

The ``Patient`` logical id is ``ins-<oid>-<value>`` (e.g.
``ins-1.2.250.1.213.1.4.10-280017512300142``). It is computed, not stored: stable for the
person's whole life (a closed, reactivated or even destroyed record keeps it), readable back
into the INS without a lookup, and it discloses nothing the ``identifier`` query did not
already carry. The trade-off is that it is not opaque: it must be kept out of logs like the
INS itself (the access log records the route template, not the path).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from fastapi import Request

from opendmp.domain.errors import InvalidIdentifier, InvalidInput
from opendmp.domain.identifiers import (
    IDNAT_PS_OID,
    INS_NIA_OID,
    INS_NIR_DEMO_OID,
    INS_NIR_OID,
    INS_NIR_TEST_OID,
    STRUCT_IDNAT_OID,
    Ins,
    parse_ins,
)
from opendmp.domain.limits import check_value_counts
from opendmp.fhir.formats import read_body
from opendmp.services.core.context import ServiceContext

DMP_EXTENSIONS = "https://interop.esante.gouv.fr/ig/fhir/dmp/StructureDefinition"
DMP_CLOSURE = f"{DMP_EXTENSIONS}/dmp-fermeture"
DMP_TREATING_DOCTOR = f"{DMP_EXTENSIONS}/dmp-medecin-traitant"
# OpenDMP's own: PDSm4DMP leaves the access-authorisation status "to be specified".
DMP_AUTHORIZATION_STATUS = (
    "https://opendmp.example/fhir/StructureDefinition/dmp-authorization-status"
)
FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
IDNAT_PS_SYSTEM = f"urn:oid:{IDNAT_PS_OID}"
STRUCT_IDNAT_SYSTEM = f"urn:oid:{STRUCT_IDNAT_OID}"

# FR Core Patient INS identifier slices (FR Core, INS identifier): OID -> (use, type code, display).
INS_SLICES: dict[str, tuple[str, str, str]] = {
    INS_NIR_OID: ("official", "INS-NIR", "NIR définitif"),
    INS_NIA_OID: ("temp", "INS-NIA", "NIA"),
    INS_NIR_TEST_OID: ("official", "INS-NIR-TEST", "NIR de test"),
    INS_NIR_DEMO_OID: ("official", "INS-NIR-DEMO", "NIR de démonstration"),
}

_PATIENT_ID = re.compile(r"^ins-(?P<oid>[0-9.]{1,40})-(?P<value>[0-9A-Za-z]{15})$")


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.runtime.ctx
    return ctx


def parse_ins_token(text: str, *, parameter: str) -> Ins:
    """A FHIR token ``[system]|value`` naming an INS: the system is ``urn:oid:`` + one of the
    four INS OIDs (FR Core, INS identifier). Anything else is a 400."""
    system, separator, value = text.strip().partition("|")
    if not separator or not system or not value:
        raise InvalidInput(
            f"{parameter} must be <system>|<value> with an INS system (urn:oid:1.2.250.1.213.1.4.8"
            " .9 .10 or .11)",
            code="invalid-ins",
        )
    if not system.startswith("urn:oid:") or system.removeprefix("urn:oid:") not in INS_SLICES:
        raise InvalidIdentifier(f"{parameter}: {system!r} is not an INS system", code="invalid-ins")
    try:
        return parse_ins(value, system)
    except InvalidIdentifier as error:
        raise InvalidIdentifier(f"{parameter}: {error.message}", code="invalid-ins") from None


def ins_identifier(ins: Ins) -> dict[str, Any]:
    """The INS as a FR Core Patient INS identifier slice."""
    use, code, display = INS_SLICES[ins.oid]
    return {
        "use": use,
        "type": {"coding": [{"system": FR_CORE_V2_0203, "code": code, "display": display}]},
        "system": ins.system,
        "value": ins.value,
    }


def ins_reference(ins: Ins) -> dict[str, Any]:
    """A logical reference to the patient (the DMP's own way: the INS)."""
    return {"identifier": {"system": ins.system, "value": ins.value}}


def patient_id(ins: Ins) -> str:
    return f"ins-{ins.oid}-{ins.value}"


def ins_of_patient_id(logical_id: str) -> Ins | None:
    """The INS a ``Patient`` id names, or None when it is not one of ours."""
    match = _PATIENT_ID.match(logical_id)
    if match is None or match["oid"] not in INS_SLICES:
        return None
    try:
        return parse_ins(match["value"], match["oid"])
    except InvalidIdentifier:
        return None


Params = dict[str, list[str]]
MAX_SEARCH_BODY = 64 * 1024


async def search_params(request: Request) -> Params:
    """The search parameters: the query string, plus the form body of ``POST …/_search``."""
    params: Params = {}
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media and media != "application/x-www-form-urlencoded":
            raise InvalidInput(
                "POST _search takes application/x-www-form-urlencoded parameters",
                code="invalid-search",
            )
        body = await read_body(request, limit=MAX_SEARCH_BODY)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise InvalidInput("the search body is not UTF-8", code="invalid-search") from None
        pairs += urllib.parse.parse_qsl(text, keep_blank_values=True)
    check_value_counts(pairs, request.app.state.runtime.ctx.limits.max_search_values)
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def single(params: Params, name: str) -> str | None:
    """The one value of a search parameter; repeating it (AND) is not supported here."""
    values = params.get(name, [])
    if len(values) > 1:
        raise InvalidInput(f"{name} may be given only once", code="invalid-search")
    return values[0] if values else None


def searchset(
    ctx: ServiceContext, request: Request, resources: list[dict[str, Any]]
) -> dict[str, Any]:
    base = f"{ctx.base_url.rstrip('/')}/fhir"
    self_url = f"{base}{request.url.path.removeprefix('/fhir')}"
    if request.url.query:
        self_url += f"?{request.url.query}"
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
    }
    if resources:  # FHIR JSON has no empty arrays
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ]
    return bundle
