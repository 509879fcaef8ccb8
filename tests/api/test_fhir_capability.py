"""``GET /fhir/metadata``: a valid R4 CapabilityStatement that lists every FHIR route the
router serves and nothing it does not."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from opendmp import __version__
from opendmp.fhir.api import router
from opendmp.fhir.capability import capability_statement
from tests.api.fhir_support import (  # noqa: F401 - the fixture api
    Api,
    api_fixture,
)

MHD_RESOURCES = Path("/work/shared/testdata/ihe-mhd/resources")
PDQM_SUPPLIER = (
    "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier"
)
_ITEM = re.compile(r"^/fhir/(?P<type>[A-Z][A-Za-z]+)(?:/(?P<rest>.+))?$")


def served() -> tuple[set[str], set[tuple[str, str]]]:
    """(system interactions, {(type, interaction)}) read from the router independently."""
    system: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for route in router.routes:
        assert isinstance(route, APIRoute)
        methods = route.methods or set()
        if route.path == "/fhir" and "POST" in methods:
            system.add("transaction")
        match = _ITEM.match(route.path)
        if match is None:
            continue
        kind, rest = match["type"], match["rest"]
        for method in methods:
            if rest is None:
                verb = {"GET": "search-type", "POST": "create", "PATCH": "patch"}.get(method)
            elif rest == "_search":
                verb = "search-type" if method == "POST" else None
            else:
                verb = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
                    method
                )
            if verb:
                pairs.add((kind, verb))
    return system, pairs


def claimed(statement: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (r["type"], i["code"])
        for r in statement["rest"][0]["resource"]
        for i in r.get("interaction", [])
    }


async def test_metadata_needs_no_credential_and_is_valid(api: Api) -> None:
    for accept in ("application/fhir+json", "application/fhir+xml"):
        status, statement = await api.get("/fhir/metadata", headers={"Accept": accept})
        assert status == 200  # the body was validated with R4B by the client
        assert statement["resourceType"] == "CapabilityStatement"
        assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
        assert statement["format"] == ["application/fhir+json", "application/fhir+xml"]
        assert statement["software"] == {"name": "OpenDMP", "version": __version__}
        assert statement["implementation"]["url"] == "http://127.0.0.1:8080/fhir"


async def test_every_route_is_declared_and_nothing_else(api: Api) -> None:
    _, statement = await api.get("/fhir/metadata")
    system, pairs = served()
    assert claimed(statement) == pairs
    declared = {i["code"] for i in statement["rest"][0].get("interaction", [])}
    assert declared == system == {"transaction"}
    assert {("Patient", "search-type"), ("Patient", "read")} <= pairs
    assert {("Consent", "create"), ("Consent", "delete"), ("AuditEvent", "search-type")} <= pairs


async def test_search_parameters_are_those_the_routes_take(api: Api) -> None:
    _, statement = await api.get("/fhir/metadata")
    params = {
        r["type"]: {p["name"]: p["type"] for p in r.get("searchParam", [])}
        for r in statement["rest"][0]["resource"]
    }
    assert params["Patient"] == {"identifier": "token", "_id": "token"}
    assert params["Consent"] == {"patient.identifier": "token", "patient": "reference"}
    assert params["AuditEvent"] == {
        "patient.identifier": "token",
        "date": "date",
        "agent.identifier": "token",
    }
    for resource in params.values():
        assert not {"_format", "_count", "_cursor"} & set(resource)
    if "DocumentReference" in params:  # ITI-67 (IHE MHD ITI-67 parameters)
        assert {"patient.identifier", "status", "identifier", "creation"} <= set(
            params["DocumentReference"]
        )


async def test_instantiated_actors_are_published_canonicals(api: Api) -> None:
    _, statement = await api.get("/fhir/metadata")
    published = {
        json.loads(path.read_text())["url"]
        for path in MHD_RESOURCES.glob("CapabilityStatement-*.json")
    }
    published.add(PDQM_SUPPLIER)
    assert set(statement["instantiates"]) <= published
    assert PDQM_SUPPLIER in statement["instantiates"]
    assert (
        "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient"
        in statement["instantiates"]
    )


def test_an_actor_is_not_claimed_without_its_transactions() -> None:
    only_patient = [r for r in router.routes if getattr(r, "path", "").startswith("/fhir/Patient")]
    statement = capability_statement("https://dmp.test", only_patient, date="2026-03-01")
    assert statement["instantiates"] == [PDQM_SUPPLIER]
    assert {r["type"] for r in statement["rest"][0]["resource"]} == {"Patient"}
    assert "interaction" not in statement["rest"][0]
