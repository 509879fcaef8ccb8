"""``GET /fhir/metadata``: the CapabilityStatement, derived from the routes actually
registered on ``api.router`` so that it cannot claim what is not served, nor forget what is.

Route shapes understood (anything else is not FHIR-shaped and is left out):

- ``POST /fhir`` → system interaction ``transaction`` (ITI-65);
- ``GET /fhir/<Type>`` and ``POST /fhir/<Type>/_search`` → ``search-type``;
- ``POST /fhir/<Type>`` → ``create``; ``GET|PUT|PATCH|DELETE /fhir/<Type>/{id}`` →
  ``read | update | patch | delete``; ``PATCH /fhir/<Type>`` → ``patch`` (conditional).

A route's search parameters are the query parameters it declares (``_format``, ``_count``
and the like are result parameters, not search parameters); ``SEARCH_PARAMS`` gives their
FHIR type and definition. No authentication: the statement says how to authenticate.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fhir.resources.R4B import get_fhir_model_class

from opendmp import __version__
from opendmp.fhir.api import router
from opendmp.fhir.formats import fhir_response
from opendmp.fhir.identities import context
from opendmp.fhir.openapi import fhir_ok, format_only

MHD = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement"
PDQM = "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement"
RESULT_PARAMS = frozenset(
    {
        "_format",
        "_count",
        "_cursor",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
    }
)
# Search modules that parse their parameters themselves publish the names they accept:
# resource type -> (module, constant holding a mapping or set of parameter names).
PARAMETER_TABLES: dict[str, tuple[str, str]] = {
    "DocumentReference": ("opendmp.fhir.search", "DOCUMENT_PARAMETERS"),
    "List": ("opendmp.fhir.lists", "LIST_PARAMETERS"),
}
_CORE = "http://hl7.org/fhir/SearchParameter"

# name -> (type, definition or None): what a declared query parameter is.
SEARCH_PARAMS: dict[str, tuple[str, str | None]] = {
    "_id": ("token", f"{_CORE}/Resource-id"),
    "_lastUpdated": ("date", f"{_CORE}/Resource-lastUpdated"),
    "identifier": ("token", None),
    "patient": ("reference", None),
    "patient.identifier": ("token", None),
    "status": ("token", None),
    "category": ("token", f"{_CORE}/DocumentReference-category"),
    "type": ("token", f"{_CORE}/DocumentReference-type"),
    "setting": ("token", f"{_CORE}/DocumentReference-setting"),
    "facility": ("token", f"{_CORE}/DocumentReference-facility"),
    "event": ("token", f"{_CORE}/DocumentReference-event"),
    "security-label": ("token", f"{_CORE}/DocumentReference-security-label"),
    "format": ("token", f"{_CORE}/DocumentReference-format"),
    "date": ("date", None),
    "creation": (
        "date",
        "https://profiles.ihe.net/ITI/MHD/SearchParameter/DocumentReference-Creation",
    ),
    "period": ("date", f"{_CORE}/DocumentReference-period"),
    "period-start": ("date", None),
    "period-end": ("date", None),
    "related": ("reference", f"{_CORE}/DocumentReference-related"),
    "relatesto": ("reference", f"{_CORE}/DocumentReference-relatesto"),
    "author": ("reference", None),
    "author.given": ("string", None),
    "author.family": ("string", None),
    "isArchived": (
        "token",
        "https://interop.esante.gouv.fr/ig/fhir/pdsm/SearchParameter/isArchived",
    ),
    "code": ("token", None),
    "designationType": (
        "token",
        "https://profiles.ihe.net/ITI/MHD/SearchParameter/List-DesignationType",
    ),
    "sourceId": ("token", "https://profiles.ihe.net/ITI/MHD/SearchParameter/List-SourceId"),
    "source.given": ("string", None),
    "source.family": ("string", None),
    "agent.identifier": ("token", None),
}
_ITEM = re.compile(r"^/fhir(?:/(?P<type>[A-Z][A-Za-z]+)(?:/(?P<rest>.+))?)?$")
_ORDER = ("read", "update", "patch", "delete", "create", "search-type")


def _is_resource(name: str) -> bool:
    try:
        get_fhir_model_class(name)
    except (KeyError, ValueError):
        return False
    return True


def _params_of(route: APIRoute, resource: str) -> list[str]:
    names = [p.alias or p.name for p in route.dependant.query_params]
    # Routes that read their parameters themselves declare them in /openapi.json.
    declared = (route.openapi_extra or {}).get("parameters", [])
    names += [p["name"] for p in declared if p.get("in") == "query"]
    table = PARAMETER_TABLES.get(resource)
    if table is not None:
        # Loudly, if the module renamed its table: the capability test then fails.
        names += list(getattr(importlib.import_module(table[0]), table[1]))
    return [n for n in dict.fromkeys(names) if n not in RESULT_PARAMS]


_TYPE_VERBS = {"GET": "search-type", "POST": "create", "PATCH": "patch"}  # on /Type
_INSTANCE_VERBS = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _interactions(rest: str | None, methods: set[str]) -> set[str]:
    """The FHIR interactions a route on ``/Type`` + ``rest`` serves."""
    if rest is None:
        return {_TYPE_VERBS[m] for m in methods if m in _TYPE_VERBS}
    if rest == "_search" and "POST" in methods:
        return {"search-type"}
    if re.fullmatch(r"\{[A-Za-z_]+\}", rest):
        return {_INSTANCE_VERBS[m] for m in methods if m in _INSTANCE_VERBS}
    return set()


def _add_resource(
    resources: dict[str, dict[str, Any]], route: APIRoute, name: str, found: set[str]
) -> None:
    item = resources.setdefault(name, {"interactions": set(), "params": []})
    item["interactions"] |= found
    if "search-type" in found:
        for param in _params_of(route, name):
            if param not in item["params"]:
                item["params"].append(param)


def surface(routes: list[Any]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """(system interactions, {resource type: {"interactions": set, "params": list}})."""
    system: set[str] = set()
    resources: dict[str, dict[str, Any]] = {}
    for route in routes:
        match = _ITEM.match(route.path) if isinstance(route, APIRoute) else None
        if match is None:
            continue
        methods = set(route.methods or ())
        name, rest = match["type"], match["rest"]
        if name is None:
            if "POST" in methods:
                system.add("transaction")
            continue
        if not _is_resource(name):
            continue
        found = _interactions(rest, methods)
        if found:
            _add_resource(resources, route, name, found)
    return system, resources


def _search_param(name: str) -> dict[str, Any]:
    kind, definition = SEARCH_PARAMS.get(name, ("string" if "." in name else "token", None))
    param: dict[str, Any] = {"name": name, "type": kind}
    if definition:
        param["definition"] = definition
    return param


def instantiates(system: set[str], resources: dict[str, dict[str, Any]]) -> list[str]:
    """The IHE actors whose required transactions are all served."""
    found: list[str] = []
    docs = resources.get("DocumentReference", {}).get("interactions", set())
    if "transaction" in system:
        found.append(f"{MHD}/IHE.MHD.DocumentRecipient")
        found.append(f"{MHD}/IHE.MHD.DocumentRecipient.Comprehensive")
    if "create" in docs:
        found.append(f"{MHD}/IHE.MHD.DocumentRecipient.Simplified")
    lists = resources.get("List", {}).get("interactions", set())
    binary = resources.get("Binary", {}).get("interactions", set())
    if "search-type" in docs and "search-type" in lists and "read" in binary:
        found.append(f"{MHD}/IHE.MHD.DocumentResponder")
    if "search-type" in resources.get("Patient", {}).get("interactions", set()):
        found.append(f"{PDQM}/IHE.PDQm.PatientDemographicsSupplier")
    return found


def capability_statement(base_url: str, routes: list[Any], *, date: str) -> dict[str, Any]:
    system, resources = surface(routes)
    rest_resources = []
    for name in sorted(resources):
        item = resources[name]
        interactions = sorted(item["interactions"], key=_ORDER.index)
        entry: dict[str, Any] = {
            "type": name,
            "interaction": [{"code": code} for code in interactions],
        }
        if name == "Patient":
            entry["supportedProfile"] = [
                "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
            ]
        if item["params"]:
            entry["searchParam"] = [_search_param(p) for p in item["params"]]
        rest_resources.append(entry)
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "OpenDMP: the French shared health record (DMP) over IHE MHD, PDQm,"
        " BALP and PCF-style Consent. The patient is named by the INS "
        "(urn:oid:1.2.250.1.213.1.4.8|9|10|11).",
        "security": {
            "cors": False,
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "OAuth",
                        }
                    ],
                    "text": "IHE IUA",
                },
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "Certificates",
                        }
                    ]
                },
            ],
            "description": "IHE IUA bearer tokens (JWT, ITI-72: Authorization: Bearer) from a"
            " trusted issuer (Pro Santé Connect or the operator's), scopes named after the"
            " transactions: ITI-65, ITI-67, ITI-68, ITI-78, ITI-81 (AuditEvent), ITI-108"
            " (Consent); no SMART on FHIR. Or a CPS/CPE card certificate (mutual TLS), or an"
            " establishment certificate with a signed assertion naming its user (X-DMP-Assertion,"
            " VIHF-like). Every access is decided by the DMP rules and traced.",
        },
        "resource": rest_resources,
    }
    if "transaction" in system:
        rest["interaction"] = [
            {"code": "transaction", "documentation": "ITI-65 Provide Document Bundle"}
        ]
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "OpenDMP",
        "kind": "instance",
        "instantiates": instantiates(system, resources),
        "software": {"name": "OpenDMP", "version": __version__},
        "implementation": {
            "description": "OpenDMP FHIR R4 API",
            "url": f"{base_url.rstrip('/')}/fhir",
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml"],
        "rest": [rest],
    }
    if any("patch" in r["interactions"] for r in resources.values()):
        # JSON Patch, and FHIRPath Patch (a Parameters resource) in JSON or XML.
        statement["patchFormat"] = [
            "application/json-patch+json",
            "application/fhir+json",
            "application/fhir+xml",
        ]
    return statement


@router.get(
    "/metadata",
    summary="CapabilityStatement (no authentication)",
    responses=fhir_ok("CapabilityStatement", resource_type="CapabilityStatement"),
    openapi_extra=format_only(),
)
async def metadata(request: Request) -> Response:
    ctx = context(request)
    statement = capability_statement(
        ctx.base_url, list(router.routes), date=ctx.now().date().isoformat()
    )
    return fhir_response(request, statement)
