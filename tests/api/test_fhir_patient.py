"""TD0.2 existence test as PDQm ITI-78 (``GET /fhir/Patient?identifier=…``): refusals first,
then what each caller learns (nothing but existence, status and their own access unless
they may read the record). Runs on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from opendmp.domain.identifiers import INS_NIA_OID, Ins, parse_ins, with_ins_key
from opendmp.domain.records import ClosureReason
from opendmp.fhir.identities import (
    DMP_AUTHORIZATION_STATUS,
    DMP_CLOSURE,
    DMP_TREATING_DOCTOR,
)
from opendmp.services.access import authorisations as access
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from tests.api.fhir_read_support import ins_token
from tests.api.fhir_support import (  # noqa: F401 - the fixture api
    Api,
    api_fixture,
    error_codes,
    extension,
    resources,
)
from tests.conftest import Clock
from tests.factories import make_ins, patient_actor
from tests.services.access_support import CPE, DOCTOR, STRANGER, create

URL = "/fhir/Patient"
DEMOGRAPHICS = ("name", "gender", "birthDate")


async def lookup(api: Api, ins: Ins, headers: dict[str, str]) -> dict[str, Any] | None:
    status, bundle = await api.get(URL, params={"identifier": ins_token(ins)}, headers=headers)
    assert status == 200, bundle
    found = resources(bundle)
    assert len(found) <= 1
    return found[0] if found else None


def state_of(patient: dict[str, Any]) -> str | None:
    ext = extension(patient, DMP_AUTHORIZATION_STATUS)
    return None if ext is None else str(ext["valueCode"])


# --- refusals --------------------------------------------------------------------------------


async def test_no_credential_is_refused_with_401(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    status, outcome = await api.get(URL, params={"identifier": ins_token(ins)})
    assert status == 401
    assert outcome["resourceType"] == "OperationOutcome"


async def test_a_token_without_the_iti78_scope_is_refused(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    headers = api.professional(DOCTOR, scope="ITI-65 ITI-67")
    status, outcome = await api.get(URL, params={"identifier": ins_token(ins)}, headers=headers)
    assert status == 403
    assert "insufficient-scope" in error_codes(outcome)


@pytest.mark.parametrize(
    "identifier",
    [
        "urn:oid:1.2.250.1.213.1.4.10|280017512300100",  # wrong key
        "urn:oid:1.2.3.4|280017512300142",  # not an INS system
        "280017512300142",  # no system
        "urn:oid:1.2.250.1.213.1.4.10|",  # no value
    ],
)
async def test_an_invalid_ins_is_a_400(api: Api, identifier: str) -> None:
    status, outcome = await api.get(
        URL, params={"identifier": identifier}, headers=api.professional(DOCTOR)
    )
    assert status == 400, outcome
    assert "invalid-ins" in error_codes(outcome)


async def test_searching_without_an_ins_is_a_400(api: Api) -> None:
    status, outcome = await api.get(
        URL, params={"family": "FICTIF"}, headers=api.professional(DOCTOR)
    )
    assert status == 400
    assert "invalid-search" in error_codes(outcome)


async def test_a_patient_may_not_look_up_someone_else(api: Api, ctx: ServiceContext) -> None:
    mine, other = await create(ctx), await create(ctx)
    for ins in (other, make_ins()):  # existing or not: the same refusal
        status, outcome = await api.get(
            URL, params={"identifier": ins_token(ins)}, headers=api.patient(mine)
        )
        assert status == 403
        assert "not-own-record" in error_codes(outcome)


async def test_a_caller_without_access_learns_no_names(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    patient = await lookup(api, ins, api.professional(STRANGER))
    assert patient is not None
    assert patient["active"] is True
    assert state_of(patient) == "NON_EXISTE"
    assert extension(patient, DMP_TREATING_DOCTOR) == {
        "url": DMP_TREATING_DOCTOR,
        "valueBoolean": False,
    }
    assert not any(key in patient for key in DEMOGRAPHICS)
    assert extension(patient, DMP_CLOSURE) is None


async def test_a_cpe_with_a_valid_authorisation_learns_no_names(
    api: Api, ctx: ServiceContext
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=CPE, ins=ins)
    patient = await lookup(api, ins, api.professional(CPE))
    assert patient is not None and state_of(patient) == "VALIDE"
    assert not any(key in patient for key in DEMOGRAPHICS)


# --- existence and states --------------------------------------------------------------------


async def test_no_record_is_an_empty_searchset(api: Api) -> None:
    status, bundle = await api.get(
        URL, params={"identifier": ins_token(make_ins())}, headers=api.professional(DOCTOR)
    )
    assert status == 200
    assert bundle["total"] == 0 and "entry" not in bundle


async def test_a_valid_authorisation_shows_the_ins_identity(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    patient = await lookup(api, ins, api.professional(DOCTOR))
    assert patient is not None
    assert patient["id"] == f"ins-{ins.oid}-{ins.value}"
    assert state_of(patient) == "VALIDE"
    assert patient["identifier"] == [
        {
            "use": "official",
            "type": {
                "coding": [
                    {
                        "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                        "code": "INS-NIR-TEST",
                        "display": "NIR de test",
                    }
                ]
            },
            "system": ins.system,
            "value": ins.value,
        }
    ]
    [name] = patient["name"]
    assert name["use"] == "official" and name["family"] == "FICTIF"
    assert name["given"] == ["Alex"]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1980-01-15")


async def test_an_expired_authorisation_is_expire(
    api: Api, ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    clock.advance(days=366)
    patient = await lookup(api, ins, api.professional(DOCTOR))
    assert patient is not None and state_of(patient) == "EXPIRE"
    assert not any(key in patient for key in DEMOGRAPHICS)


async def test_a_blocked_professional_is_interdit(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins, treating_doctor=True)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat=DOCTOR.idnat)
    patient = await lookup(api, ins, api.professional(DOCTOR))
    assert patient is not None and state_of(patient) == "INTERDIT"
    assert not any(key in patient for key in DEMOGRAPHICS)


async def test_a_treating_doctor_sees_the_flag(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins, treating_doctor=True)
    patient = await lookup(api, ins, api.professional(DOCTOR))
    assert patient is not None
    flag = extension(patient, DMP_TREATING_DOCTOR)
    assert flag is not None and flag["valueBoolean"] is True


async def test_a_closed_record_is_inactive_with_its_closure(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    await records.close_record(
        ctx, actor=patient_actor(ins), ins=ins, reason=ClosureReason.PATIENT_REQUEST, text="private"
    )
    patient = await lookup(api, ins, api.professional(DOCTOR))
    assert patient is not None
    assert patient["active"] is False
    closure = extension(patient, DMP_CLOSURE)
    assert closure is not None
    parts = {e["url"]: e for e in closure["extension"]}
    assert set(parts) == {"dateFermeture", "motifFermeture", "raisonFermeture"}
    assert parts["motifFermeture"]["valueCode"] == "FERMETURE_DEMANDE_PATIENT"
    assert "private" not in str(patient)  # the patient's own words stay with the record
    assert not any(key in patient for key in DEMOGRAPHICS)  # a closed record is not read


async def test_a_patient_token_sees_its_own_record(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    patient = await lookup(api, ins, api.patient(ins))
    assert patient is not None
    assert patient["active"] is True and patient["gender"] == "female"
    assert state_of(patient) is None  # the authorisation state is a professional's


async def test_an_nia_is_a_temp_identifier(api: Api, ctx: ServiceContext) -> None:
    nia = parse_ins(with_ins_key("2800175123999"), INS_NIA_OID)
    status, bundle = await api.get(
        URL, params={"identifier": ins_token(nia)}, headers=api.professional(DOCTOR)
    )
    assert status == 200 and bundle["total"] == 0


# --- read, POST _search, XML -----------------------------------------------------------------


async def test_the_patient_id_reads_back(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    headers = api.professional(STRANGER)
    status, patient = await api.get(f"{URL}/ins-{ins.oid}-{ins.value}", headers=headers)
    assert status == 200 and patient["identifier"][0]["value"] == ins.value
    status, _outcome = await api.get(f"{URL}/ins-{ins.oid}-{make_ins().value}", headers=headers)
    assert status == 404
    status, _ = await api.get(f"{URL}/not-an-id", headers=headers)
    assert status == 404


async def test_post_search_and_xml(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    headers = {**api.professional(STRANGER), "Accept": "application/fhir+xml"}
    status, bundle = await api.request(
        "POST",
        f"{URL}/_search",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        content=f"identifier={ins_token(ins)}".encode(),
    )
    assert status == 200
    assert resources(bundle)[0]["identifier"][0]["value"] == ins.value
