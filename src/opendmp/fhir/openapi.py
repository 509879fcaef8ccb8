"""What ``/openapi.json`` says about the FHIR API's errors.

Every FHIR route answers its errors with an ``OperationOutcome`` (see ``api.install``). The
router carries ``FHIR_ERRORS`` as its default ``responses``, so each route documents the
statuses below with this schema without repeating it; a route module may add its own.
The model describes the shape we send (``outcome.issue``); it validates nothing at runtime.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

FHIR_MEDIA_TYPES = ("application/fhir+json", "application/fhir+xml")


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
    413: "Request body too large",
    422: "Business rule failed (unprocessable resource)",
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


def fhir_ok(description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer in FHIR JSON or XML (the routes build the body themselves)."""
    return {
        200: {
            "description": description,
            "content": {media: {"schema": {"type": "object"}} for media in FHIR_MEDIA_TYPES},
        }
    }
