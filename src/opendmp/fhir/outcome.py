"""OperationOutcome: the only error shape of the FHIR API.

Domain error codes map to FHIR issue types and, where ITI TF-3 Table 4.2.4.1-2 has one,
to the XDS error code MHD asks for (carried in ``issue.details.coding``).
"""

from __future__ import annotations

from typing import Any

from opendmp.domain.errors import OpenDMPError
from opendmp.domain.xds_codes import XDS_CODES

XDS_ERROR_SYSTEM = "urn:oid:1.3.6.1.4.1.19376.1.2.27.1"  # IHE XDS error codes (ITI TF-3)
OPENDMP_CODE_SYSTEM = "urn:opendmp:error"


_ISSUE_TYPES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "no-store",
    507: "no-store",
}


def issue(
    message: str,
    *,
    code: str,
    severity: str = "error",
    issue_type: str = "processing",
    expression: str | None = None,
) -> dict[str, Any]:
    codings = [{"system": OPENDMP_CODE_SYSTEM, "code": code}]
    xds = XDS_CODES.get(code)
    if xds is not None:
        codings.insert(0, {"system": XDS_ERROR_SYSTEM, "code": xds})
    item: dict[str, Any] = {
        "severity": severity,
        "code": issue_type,
        "details": {"coding": codings, "text": message},
        "diagnostics": message,
    }
    if expression:
        item["expression"] = [expression]
    return item


def outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def from_error(exc: OpenDMPError) -> dict[str, Any]:
    return outcome(
        issue(
            exc.message,
            code=exc.code,
            issue_type=_ISSUE_TYPES.get(exc.http_status, "processing"),
            expression=getattr(exc, "expression", None),
        )
    )


def information(message: str, *, code: str = "ok") -> dict[str, Any]:
    return outcome(issue(message, code=code, severity="information", issue_type="informational"))
