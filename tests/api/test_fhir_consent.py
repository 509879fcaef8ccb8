"""Authorisations, blocks and emergency choices through ``/fhir/Consent`` (DMP TD0.3/TD0.4,
docs/rules.md §3.1, §3.3, §3.4): refusals first, then each write and what it changes. Runs on
both databases."""

from __future__ import annotations

from typing import Any

import pytest

from opendmp.domain.actors import Professional
from opendmp.domain.errors import AccessDenied
from opendmp.domain.identifiers import Ins
from opendmp.fhir.api import router
from opendmp.fhir.consent import EMERGENCY_CHOICE_SYSTEM
from opendmp.fhir.identities import DMP_AUTHORIZATION_STATUS
from opendmp.services.access import authorisations as access
from opendmp.services.access.emergency import open_emergency_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.criteria import DocumentQuery
from opendmp.services.documents.search import search_documents
from tests.api.fhir_read_support import ins_token
from tests.api.fhir_support import (  # noqa: F401 - the fixture api
    Api,
    api_fixture,
    error_codes,
    extension,
    resources,
)
from tests.services.access_support import (
    BREAK_GLASS,
    DOCTOR,
    ORG,
    OTHER_DOCTOR,
    STRANGER,
    create,
    snapshot,
)

URL = "/fhir/Consent"
IDNAT = "urn:oid:1.2.250.1.71.4.2.1"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def consent(
    ins: Ins,
    provision_type: str,
    *,
    idnat: str | None = None,
    organization: str | None = None,
    treating: bool = False,
) -> dict[str, Any]:
    party: dict[str, Any] = (
        {
            "resourceType": "Organization",
            "id": "who",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": organization}],
        }
        if organization
        else {
            "resourceType": "Practitioner",
            "id": "who",
            "identifier": [{"system": IDNAT, "value": idnat}],
        }
    )
    role = (
        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PCP"}
        if treating
        else {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP",
        }
    )
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": ins.system, "value": ins.value}},
        "contained": [party],
        "provision": {
            "type": provision_type,
            "actor": [{"role": {"coding": [role]}, "reference": {"reference": "#who"}}],
        },
    }


def emergency(
    ins: Ins, *, etreat: bool = True, btg: bool = True, masked: bool = True
) -> dict[str, Any]:
    body = consent(ins, "permit", idnat=DOCTOR.idnat)
    del body["contained"]
    codes = (
        (ACT_REASON, "ETREAT", etreat),
        (ACT_REASON, "BTG", btg),
        (EMERGENCY_CHOICE_SYSTEM, "MASKED", masked),
    )
    body["provision"] = {
        "type": "permit",
        "provision": [
            {"type": "permit" if allowed else "deny", "purpose": [{"system": s, "code": c}]}
            for s, c, allowed in codes
        ],
    }
    return body


async def post(
    api: Api, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    return await api.request("POST", URL, headers=headers, json_body=body)


async def state(api: Api, ins: Ins, pro: Professional) -> str:
    status, bundle = await api.get(
        "/fhir/Patient", params={"identifier": ins_token(ins)}, headers=api.professional(pro)
    )
    assert status == 200, bundle
    ext = extension(resources(bundle)[0], DMP_AUTHORIZATION_STATUS)
    assert ext is not None
    return str(ext["valueCode"])


def _search_route() -> bool:
    return any(
        getattr(r, "path", "") == "/fhir/DocumentReference" and "GET" in getattr(r, "methods", ())
        for r in router.routes
    )


async def search_status(api: Api, ctx: ServiceContext, pro: Professional, ins: Ins) -> int:
    """What the professional gets when searching the record's documents (ITI-67)."""
    if _search_route():
        status, _ = await api.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": ins_token(ins), "status": "current"},
            headers=api.professional(pro),
        )
        return status
    try:
        await search_documents(ctx, actor=pro, ins=ins, query=DocumentQuery())
    except AccessDenied:
        return 403
    return 200


# --- refusals --------------------------------------------------------------------------------


async def test_a_patient_cannot_declare_a_professionals_consent(
    api: Api, ctx: ServiceContext
) -> None:
    ins = await create(ctx)
    before = await snapshot(ctx)
    status, outcome = await post(api, consent(ins, "permit", idnat=DOCTOR.idnat), api.patient(ins))
    assert status == 403
    assert "declaration-by-professional-only" in error_codes(outcome)
    assert await snapshot(ctx) == before


async def test_a_professional_declares_for_themself_only(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await state(api, ins, DOCTOR)  # signed in once: known to the directory
    before = await snapshot(ctx)
    body = consent(ins, "permit", idnat=OTHER_DOCTOR.idnat)
    status, outcome = await post(api, body, api.professional(DOCTOR))
    assert status == 403
    assert "declaration-for-oneself-only" in error_codes(outcome)
    assert await snapshot(ctx) == before


async def test_a_professional_cannot_block(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins, treating_doctor=True)
    body = consent(ins, "deny", idnat=OTHER_DOCTOR.idnat)
    status, outcome = await post(api, body, api.professional(DOCTOR))
    assert status == 403, outcome
    assert await state(api, ins, OTHER_DOCTOR) == "NON_EXISTE"


async def test_a_professional_cannot_set_the_emergency_choices(
    api: Api, ctx: ServiceContext
) -> None:
    ins = await create(ctx)
    status, _ = await post(api, emergency(ins, btg=False), api.professional(DOCTOR))
    assert status == 403
    await open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)  # still permitted


async def test_a_professional_cannot_revoke_or_unblock(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    consent_id = f"permit-pro-10-{ins.value}-{DOCTOR.idnat}"
    status, _ = await api.request("DELETE", f"{URL}/{consent_id}", headers=api.professional(DOCTOR))
    assert status == 403
    assert await state(api, ins, DOCTOR) == "VALIDE"


async def test_only_the_patient_and_treating_doctors_list_consents(
    api: Api, ctx: ServiceContext
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)  # not treating
    for headers in (api.professional(DOCTOR), api.professional(STRANGER)):
        status, outcome = await api.get(
            URL, params={"patient.identifier": ins_token(ins)}, headers=headers
        )
        assert status == 403, outcome


async def test_the_scope_iti108_is_required(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    status, outcome = await api.get(
        URL, params={"patient.identifier": ins_token(ins)}, headers=api.patient(ins, scope="ITI-78")
    )
    assert status == 403
    assert "insufficient-scope" in error_codes(outcome)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b.update(resourceType="Patient"), 400),  # not a Consent (and not valid)
        (lambda b: b.update(status="inactive"), 422),
        (lambda b: b.pop("provision"), 422),
        (lambda b: b["provision"]["provision"].pop(), 422),  # MASKED missing
        (lambda b: b["provision"]["provision"][0].update(type="maybe"), 422),
    ],
)
async def test_malformed_consents_are_refused(
    api: Api, ctx: ServiceContext, mutate: Any, expected: int
) -> None:
    ins = await create(ctx)
    body = emergency(ins)
    mutate(body)
    status, outcome = await post(api, body, api.patient(ins))
    assert status == expected, outcome
    assert outcome["resourceType"] == "OperationOutcome"


# --- declare, revoke ---------------------------------------------------------------------------


async def test_declaring_makes_the_professional_valide(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    assert await state(api, ins, DOCTOR) == "NON_EXISTE"
    status, created = await post(
        api, consent(ins, "permit", idnat=DOCTOR.idnat, treating=True), api.professional(DOCTOR)
    )
    assert status == 201, created
    assert created["id"] == f"permit-pro-10-{ins.value}-{DOCTOR.idnat}"
    assert created["provision"]["type"] == "permit"
    assert created["provision"]["actor"][0]["role"]["coding"][0]["code"] == "PCP"
    assert extension(created, DMP_AUTHORIZATION_STATUS)["valueCode"] == "VALIDE"  # type: ignore[index]
    assert await state(api, ins, DOCTOR) == "VALIDE"
    assert await search_status(api, ctx, DOCTOR, ins) == 200
    # The treating doctor sees the record's consents, with the emergency choices.
    status, bundle = await api.get(
        URL, params={"patient.identifier": ins_token(ins)}, headers=api.professional(DOCTOR)
    )
    assert status == 200
    ids = [r["id"] for r in resources(bundle)]
    assert ids == [f"emergency-10-{ins.value}", created["id"]]
    status, read = await api.get(f"{URL}/{created['id']}", headers=api.patient(ins))
    assert status == 200 and read["id"] == created["id"]


async def test_the_patient_revokes(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    entry = await access.declare_authorization(ctx, actor=DOCTOR, ins=ins, treating_doctor=True)
    assert entry.state is access.AccessState.VALIDE
    consent_id = f"permit-pro-10-{ins.value}-{DOCTOR.idnat}"
    status, _ = await api.request("DELETE", f"{URL}/{consent_id}", headers=api.patient(ins))
    assert status == 204
    assert await state(api, ins, DOCTOR) == "NON_EXISTE"  # treating doctor no more either
    status, outcome = await api.request("DELETE", f"{URL}/{consent_id}", headers=api.patient(ins))
    assert status == 404, outcome


# --- block, unblock ------------------------------------------------------------------------------


async def test_a_blocked_professional_is_refused_then_unblocked(
    api: Api, ctx: ServiceContext
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    status, blocked = await post(api, consent(ins, "deny", idnat=DOCTOR.idnat), api.patient(ins))
    assert status == 201, blocked
    assert blocked["id"] == f"deny-pro-10-{ins.value}-{DOCTOR.idnat}"
    assert await search_status(api, ctx, DOCTOR, ins) == 403
    assert await state(api, ins, DOCTOR) == "INTERDIT"
    status, _again = await post(api, consent(ins, "deny", idnat=DOCTOR.idnat), api.patient(ins))
    assert status == 200  # already blocked: nothing changed
    status, bundle = await api.get(
        URL, params={"patient.identifier": ins_token(ins)}, headers=api.patient(ins)
    )
    listed = {r["id"]: r for r in resources(bundle)}
    assert listed[blocked["id"]]["provision"]["type"] == "deny"
    status, _ = await api.request("DELETE", f"{URL}/{blocked['id']}", headers=api.patient(ins))
    assert status == 204
    assert await state(api, ins, DOCTOR) == "VALIDE"  # the authorisation comes back
    assert await search_status(api, ctx, DOCTOR, ins) == 200


async def test_the_patient_blocks_a_structure(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    status, blocked = await post(api, consent(ins, "deny", organization=ORG), api.patient(ins))
    assert status == 201, blocked
    assert blocked["id"] == f"deny-org-10-{ins.value}-{ORG}"
    assert await state(api, ins, DOCTOR) == "INTERDIT"  # DOCTOR acts for ORG


# --- emergency choices ---------------------------------------------------------------------------


async def test_btg_denied_refuses_break_glass(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    status, saved = await post(api, emergency(ins, btg=False), api.patient(ins))
    assert status == 200, saved
    nested = {p["purpose"][0]["code"]: p["type"] for p in saved["provision"]["provision"]}
    assert nested == {"ETREAT": "permit", "BTG": "deny", "MASKED": "permit"}
    assert await search_status(api, ctx, BREAK_GLASS, ins) == 403
    with pytest.raises(AccessDenied):
        await open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
    status, _ = await post(api, emergency(ins), api.patient(ins))
    assert status == 200
    await open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
    status, bundle = await api.get(
        URL, params={"patient.identifier": ins_token(ins)}, headers=api.patient(ins)
    )
    emergency_entry = next(r for r in resources(bundle) if r["id"].startswith("permit-"))
    assert emergency_entry["provision"]["purpose"] == [{"system": ACT_REASON, "code": "BTG"}]
    status, _outcome = await api.request(
        "DELETE", f"{URL}/emergency-10-{ins.value}", headers=api.patient(ins)
    )
    assert status == 405
