"""The record's history as BALP AuditEvents (``GET /fhir/AuditEvent``): refused to anyone
but the patient and the treating doctors; each trace shaped with its transaction, outcome,
agent and access mode. Runs on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.fhir.audit import time_range
from opendmp.services.access import authorisations as access
from opendmp.services.access.emergency import open_emergency_access
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import ins_token
from tests.api.fhir_support import (  # noqa: F401 - the fixture api
    Api,
    api_fixture,
    error_codes,
    resources,
)
from tests.conftest import Clock
from tests.factories import patient_actor, store_foreign_event
from tests.services.access_support import BREAK_GLASS, DOCTOR, STRANGER, create

URL = "/fhir/AuditEvent"
IDNAT = "urn:oid:1.2.250.1.71.4.2.1"


def subtypes(event: dict[str, Any]) -> set[str]:
    return {c["code"] for c in event.get("subtype", [])}


def purpose(event: dict[str, Any]) -> str:
    user = event["agent"][0]
    return str(user["purposeOfUse"][0]["coding"][0]["code"])


# --- refusals --------------------------------------------------------------------------------


async def test_another_professional_is_refused(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)  # authorised, not treating
    for pro in (DOCTOR, STRANGER):
        status, outcome = await api.get(
            URL, params={"patient.identifier": ins_token(ins)}, headers=api.professional(pro)
        )
        assert status == 403, outcome


async def test_a_patient_cannot_read_another_history(api: Api, ctx: ServiceContext) -> None:
    mine, other = await create(ctx), await create(ctx)
    status, _ = await api.get(
        URL, params={"patient.identifier": ins_token(other)}, headers=api.patient(mine)
    )
    assert status == 403


async def test_the_scope_iti81_is_required(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    status, outcome = await api.get(
        URL, params={"patient.identifier": ins_token(ins)}, headers=api.patient(ins, scope="ITI-67")
    )
    assert status == 403 and "insufficient-scope" in error_codes(outcome)


@pytest.mark.parametrize(
    "params",
    [
        {"patient.identifier": ""},
        {"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|123"},
        {"date": "yesterday"},
        {"date": "ge2026-13-01"},
        {"agent.identifier": "urn:oid:1.2.3|810001234567"},
        {"_count": "0"},
    ],
)
async def test_bad_parameters_are_400(
    api: Api, ctx: ServiceContext, params: dict[str, str]
) -> None:
    ins = await create(ctx)
    query = {"patient.identifier": ins_token(ins), **params}
    status, outcome = await api.get(URL, params=query, headers=api.patient(ins))
    assert status == 400, outcome
    assert outcome["resourceType"] == "OperationOutcome"


# --- the history -----------------------------------------------------------------------------


async def test_the_patient_and_a_treating_doctor_read_the_history(
    api: Api, ctx: ServiceContext
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins, treating_doctor=True)
    with pytest.raises(AccessDenied):
        await access.list_access(ctx, actor=STRANGER, ins=ins)  # a refusal, traced
    for headers in (api.patient(ins), api.professional(DOCTOR)):
        status, bundle = await api.get(
            URL, params={"patient.identifier": ins_token(ins)}, headers=headers
        )
        assert status == 200, bundle
        events = resources(bundle)
        by_action = {
            c["code"]: e
            for e in events
            for c in e["subtype"]
            if c["system"] == "urn:opendmp:audit-action"
        }
        created = by_action["record:record:create"]
        assert created["type"]["code"] == "110110" and created["action"] == "C"
        declared = by_action["access:authorization:declare"]
        assert declared["outcome"] == "0" and declared["action"] == "C"
        assert declared["agent"][0]["who"]["identifier"] == {"system": IDNAT, "value": DOCTOR.idnat}
        assert declared["agent"][0]["role"][0]["coding"][0]["code"] == "10"
        assert purpose(declared) == "TREAT"
        assert declared["entity"][0]["what"]["identifier"] == {
            "system": ins.system,
            "value": ins.value,
        }
        denied = by_action["access:access-list:read"]
        assert denied["outcome"] == "4" and denied["outcomeDesc"]
        assert {"search-type", "ITI-108"} <= subtypes(denied)


async def test_a_break_glass_access_carries_btg(api: Api, ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
    status, bundle = await api.get(
        URL,
        params={
            "patient.identifier": ins_token(ins),
            "agent.identifier": f"{IDNAT}|{BREAK_GLASS.idnat}",
        },
        headers=api.patient(ins),
    )
    assert status == 200
    events = resources(bundle)
    assert events and all(
        e["agent"][0]["who"]["identifier"]["value"] == BREAK_GLASS.idnat for e in events
    )
    opened = next(e for e in events if "access:emergency:open" in subtypes(e))
    assert purpose(opened) == "BTG"
    assert "justification" not in str(opened).lower()


async def test_the_date_filter(api: Api, ctx: ServiceContext, clock: Clock) -> None:
    ins = await create(ctx)
    clock.advance(days=2)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat=STRANGER.idnat)
    later = clock.now.date().isoformat()
    status, bundle = await api.get(
        URL,
        params={"patient.identifier": ins_token(ins), "date": f"ge{later}"},
        headers=api.patient(ins),
    )
    assert status == 200
    actions = {c["code"] for e in resources(bundle) for c in e["subtype"]}
    assert "access:professional:block" in actions and "record:record:create" not in actions
    status, bundle = await api.get(
        URL,
        params=[("patient.identifier", ins_token(ins)), ("date", f"lt{later}")],
        headers={**api.patient(ins), "Accept": "application/fhir+xml"},
    )
    assert status == 200
    actions = {c["code"] for e in resources(bundle) for c in e["subtype"]}
    assert "record:record:create" in actions and "access:professional:block" not in actions


def test_date_parameters_make_half_open_ranges() -> None:
    day = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert time_range(["2026-03-01"]) == (day, day + dt.timedelta(days=1))
    assert time_range(["ge2026-03", "lt2026-04-01"]) == (
        day,
        dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
    )
    assert time_range(["gt2026"]) == (dt.datetime(2027, 1, 1, tzinfo=dt.UTC), None)
    assert time_range(["le2026-03-01T10:00:00+01:00"]) == (
        None,
        dt.datetime(2026, 3, 1, 9, 0, 1, tzinfo=dt.UTC),
    )
    with pytest.raises(InvalidInput):
        time_range(["2026-03-01T10:00:00"])  # no time zone


async def test_every_trace_is_mapped_and_a_foreign_code_is_shown_as_is(
    api: Api, ctx: ServiceContext
) -> None:
    """The vocabulary maps the account's traces too (no silent fallback); a code stored by
    another version is still served, generically typed, under its own name."""
    ins = await create(ctx)
    await store_foreign_event(ctx, ins, "record:record:teleport")
    status, bundle = await api.get(
        URL, params={"patient.identifier": ins_token(ins)}, headers=api.patient(ins)
    )
    assert status == 200, bundle
    by_action = {
        c["code"]: e
        for e in resources(bundle)
        for c in e["subtype"]
        if c["system"] == "urn:opendmp:audit-action"
    }
    account = by_action["auth:account:create"]
    assert (account["type"]["code"], account["action"]) == ("110137", "C")
    foreign = by_action["record:record:teleport"]
    assert (foreign["type"]["code"], foreign["action"]) == ("110110", "E")
    assert foreign["outcome"] == "0"
