"""What ``/openapi.json`` says about the FHIR API: errors, answers, request bodies and
search parameters (docs/api.md, introduction).

Every FHIR route answers its errors with an ``OperationOutcome`` (see ``api.install``). The
router carries ``FHIR_ERRORS`` as its default ``responses``, so each route documents the
statuses below with this schema without repeating it; a route module may add its own.
The model describes the shape we send (``outcome.issue``); it validates nothing at runtime.

The routes read their bodies and search parameters themselves (FHIR rules: unknown
parameters ignored, repeats ANDed, OperationOutcome errors), so FastAPI cannot infer them:
each route passes what the builders below make as ``openapi_extra``. A search's parameters
are declared once, as a ``dict[str, SearchParameter]`` in its module, which both the parser
(the names it knows) and this description read. A body's schema is the FHIR resource's
shape with the elements OpenDMP requires; the R4B models and the routes' checks stay the
authority (an answer 400/422 says what is wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

FHIR_MEDIA_TYPES = ("application/fhir+json", "application/fhir+xml")
FORM = "application/x-www-form-urlencoded"
JSON_PATCH = "application/json-patch+json"
FHIR_NAMESPACE = "http://hl7.org/fhir"


class Coding(BaseModel):
    system: str | None = None
    code: str | None = None


class IssueDetails(BaseModel):
    coding: list[Coding] = Field(default_factory=list)
    text: str | None = None


class Issue(BaseModel):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str = Field(description="FHIR issue-type (invalid, forbidden, not-found, …)")
    details: IssueDetails | None = Field(
        None,
        description="OpenDMP's stable error code (urn:opendmp:error) and, where ITI TF-3 "
        "has one, the XDS error code (urn:oid:1.3.6.1.4.1.19376.1.2.27.1)",
    )
    diagnostics: str | None = None
    expression: list[str] | None = None


class OperationOutcome(BaseModel):
    """FHIR R4 OperationOutcome (the subset OpenDMP sends)."""

    resourceType: Literal["OperationOutcome"] = "OperationOutcome"
    issue: list[Issue]


_REASONS: dict[int, str] = {
    400: "Invalid request (malformed parameter, identifier or resource)",
    401: "Authentication required or credential refused",
    403: "Refused by the access policy or the token's scopes",
    404: "Unknown resource or record",
    409: "Conflict with the current state",
    410: "Gone (deleted or destroyed)",
    405: "Method not allowed on this path (``Allow`` names those that are)",
    406: "The asked format (``_format`` or ``Accept``) is not produced",
    412: "``If-Match`` names another version",
    413: "Request body too large",
    415: "The body's Content-Type is not read here",
    422: "Business rule failed (unprocessable resource)",
    429: "Too many requests (``Retry-After``)",
    500: "Unexpected error: never on purpose; names an incident number, nothing else",
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/OperationOutcome"}
    return {
        "description": description,
        "model": OperationOutcome,
        "content": {media: {"schema": schema} for media in FHIR_MEDIA_TYPES},
    }


FHIR_ERRORS: dict[int | str, dict[str, Any]] = {
    status: _error(reason) for status, reason in _REASONS.items()
}


def _resource_schema(resource_type: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": ["resourceType"]}
    if resource_type is not None:
        schema["properties"] = {"resourceType": {"type": "string", "enum": [resource_type]}}
    return schema


def fhir_ok(
    description: str, *, resource_type: str | None = None, statuses: tuple[int, ...] = (200,)
) -> dict[int | str, dict[str, Any]]:
    """A successful answer in FHIR JSON or XML (the routes build the body themselves)."""
    content = {media: {"schema": _resource_schema(resource_type)} for media in FHIR_MEDIA_TYPES}
    return {status: {"description": description, "content": content} for status in statuses}


def no_content(description: str) -> dict[int | str, dict[str, Any]]:
    return {204: {"description": description}}


# --- search parameters -----------------------------------------------------------------------

STRING: Mapping[str, Any] = {"type": "string"}
INS_TOKEN: Mapping[str, Any] = {
    "type": "string",
    "pattern": r"^urn:oid:1\.2\.250\.1\.213\.1\.4\.(8|9|10|11)\|[0-9]{15}$",
    "example": "urn:oid:1.2.250.1.213.1.4.10|279035121518989",
}
COUNT: Mapping[str, Any] = {"type": "integer", "minimum": 1}
FORMAT_DESCRIPTION = "json or xml (or a FHIR media type); wins over Accept"


@dataclass(frozen=True)
class SearchParameter:
    """One search parameter as /openapi.json shows it."""

    description: str
    required: bool = False
    repeated: bool = False  # may be given several times (ANDed), e.g. date=ge…&date=lt…
    schema: Mapping[str, Any] = field(default_factory=lambda: STRING)

    def value_schema(self) -> dict[str, Any]:
        one = dict(self.schema)
        return {"type": "array", "items": one} if self.repeated else one


def _query(name: str, parameter: SearchParameter) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": parameter.required,
        "description": parameter.description,
        "schema": parameter.value_schema(),
        "style": "form",
        "explode": True,
    }


FORMAT_PARAMETER = _query(
    "_format",
    SearchParameter(
        FORMAT_DESCRIPTION,
        schema={"type": "string", "enum": ["json", "xml", *FHIR_MEDIA_TYPES]},
    ),
)


def search_get(parameters: Mapping[str, SearchParameter]) -> dict[str, Any]:
    """``openapi_extra`` of a GET search: its query parameters, and ``_format``."""
    return {"parameters": [*(_query(n, p) for n, p in parameters.items()), FORMAT_PARAMETER]}


def search_post(parameters: Mapping[str, SearchParameter]) -> dict[str, Any]:
    """``openapi_extra`` of a ``POST …/_search``: the same parameters as a form body (FHIR
    also reads them from the query string), and ``_format`` in the query."""
    schema = {
        "type": "object",
        "properties": {name: p.value_schema() for name, p in parameters.items()},
        "required": [name for name, p in parameters.items() if p.required],
    }
    encoding = {name: {"explode": True} for name, p in parameters.items() if p.repeated}
    return {
        "parameters": [FORMAT_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {FORM: {"schema": schema, "encoding": encoding}},
        },
    }


def format_only() -> dict[str, Any]:
    return {"parameters": [FORMAT_PARAMETER]}


# --- request bodies --------------------------------------------------------------------------

FHIR_STRING: Mapping[str, Any] = {"type": "string", "minLength": 1}
CODING: Mapping[str, Any] = {
    "type": "object",
    "properties": {"system": FHIR_STRING, "code": FHIR_STRING, "display": FHIR_STRING},
}
CODEABLE_CONCEPT: Mapping[str, Any] = {
    "type": "object",
    "properties": {"coding": {"type": "array", "items": CODING}, "text": FHIR_STRING},
}
IDENTIFIER: Mapping[str, Any] = {
    "type": "object",
    "properties": {"system": FHIR_STRING, "value": FHIR_STRING},
}
REFERENCE: Mapping[str, Any] = {
    "type": "object",
    "properties": {"reference": FHIR_STRING, "identifier": IDENTIFIER, "display": FHIR_STRING},
}


def resource_schema(
    resource_type: str, properties: Mapping[str, Any], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A FHIR resource's JSON shape: ``resourceType`` and the elements given (others are
    allowed: the R4B model is the authority)."""
    return {
        "type": "object",
        "required": ["resourceType", *required],
        "properties": {"resourceType": {"type": "string", "enum": [resource_type]}, **properties},
        "xml": {"name": resource_type, "namespace": FHIR_NAMESPACE},
    }


def resource_body(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a route taking one FHIR resource, in FHIR JSON or XML."""
    content = {media: {"schema": dict(schema)} for media in FHIR_MEDIA_TYPES}
    return {
        "parameters": [FORMAT_PARAMETER],
        "requestBody": {"required": True, "description": description, "content": content},
    }


JSON_PATCH_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace", "test", "move", "copy"]},
            "path": {"type": "string", "example": "/securityLabel"},
            "from": {"type": "string"},
            "value": {},
        },
    },
}
FHIRPATH_PATCH_SCHEMA = resource_schema(
    "Parameters",
    {
        "parameter": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "part"],
                "properties": {
                    "name": {"type": "string", "enum": ["operation"]},
                    "part": {"type": "array", "items": {"type": "object"}},
                },
            },
        }
    },
    ("parameter",),
)


def patch_body(description: str) -> dict[str, Any]:
    """``openapi_extra`` of a PATCH: JSON Patch (RFC 6902) or FHIRPath Patch (Parameters)."""
    content: dict[str, Any] = {JSON_PATCH: {"schema": dict(JSON_PATCH_SCHEMA)}}
    content.update({media: {"schema": dict(FHIRPATH_PATCH_SCHEMA)} for media in FHIR_MEDIA_TYPES})
    return {
        "parameters": [FORMAT_PARAMETER],
        "requestBody": {"required": True, "description": description, "content": content},
    }
