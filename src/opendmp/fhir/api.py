"""The FHIR R4 API at ``/fhir``: one router assembling the transaction modules, and the
error handlers that make ``OperationOutcome`` the only error shape under ``/fhir``.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from opendmp.asgi import LastLine, log_incident
from opendmp.domain.errors import OpenDMPError
from opendmp.fhir.formats import NotAcceptable, fhir_response
from opendmp.fhir.openapi import FHIR_ERRORS
from opendmp.fhir.outcome import from_error, issue, outcome

log = logging.getLogger("opendmp.fhir")

# FHIR_ERRORS: every route documents its OperationOutcome errors in /openapi.json.
router = APIRouter(prefix="/fhir", responses=FHIR_ERRORS, default_response_class=Response)

# Transaction modules add their routes to ``router`` (import them below).


def _error_response(request: Request, body: dict[str, object], status: int) -> Response:
    try:
        return fhir_response(request, body, status_code=status)
    except NotAcceptable:
        return fhir_response(request, body, status_code=status, fmt="json")


def is_fhir_path(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


def is_fhir(request: Request) -> bool:
    return is_fhir_path(request.url.path)


def fhir_error(request: Request, exc: OpenDMPError) -> Response:
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(int(retry_after))
    response = _error_response(request, from_error(exc), exc.http_status)
    response.headers.update(headers)
    if exc.http_status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="opendmp"'
    return response


class UnexpectedErrors(LastLine):
    """The last line of defence under /fhir (docs/security.md, "No input produces a server
    error"): an exception no handler knows becomes a 500 ``OperationOutcome`` naming only an
    incident number; the log gets that number, the route, the exception's type and its stack
    (code lines only: never the exception's message or local values, which may carry health
    data).

    A plain ASGI middleware inside the metrics one, so that the 500 is counted. Every
    expected refusal is an ``OpenDMPError`` handled below it; reaching this is a defect.
    """

    def applies(self, path: str) -> bool:
        return is_fhir_path(path)

    def answer(self, exc: Exception, scope: Scope) -> Response:
        incident = log_incident(log, exc, scope)
        message = f"internal error (incident {incident})"
        body = outcome(issue(message, code="internal-error", issue_type="exception"))
        return _error_response(Request(scope), body, 500)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, request: Request) -> str:
    """RFC 9110: a 405 names every method the path takes. Starlette names only those of the
    first route matching the path, while several routes share some paths (GET, POST and
    PATCH of /fhir/DocumentReference; /fhir/DocumentReference/_search and .../{id}): each
    method is tried against the app's routes."""
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    """Include the router and the OperationOutcome handlers for FHIR paths."""
    app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}"
        body = outcome(issue(message, code="invalid-request", issue_type="invalid"))
        if is_fhir(request):
            return _error_response(request, body, 400)
        return JSONResponse({"error": "invalid-request", "message": message}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(app, request)
        if is_fhir(request):
            code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "error")
            issue_type = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
            body = outcome(issue(str(exc.detail), code=code, issue_type=issue_type))
            response = _error_response(request, body, exc.status_code)
            response.headers.update(headers)
            return response
        return JSONResponse(
            {"error": f"http-{exc.status_code}", "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=headers,
        )


# Transaction modules (they register their routes on ``router``).
from opendmp.fhir import audit as _audit  # noqa: E402, F401
from opendmp.fhir import capability as _capability  # noqa: E402, F401
from opendmp.fhir import consent as _consent  # noqa: E402, F401
from opendmp.fhir import lists as _lists  # noqa: E402, F401
from opendmp.fhir import patient as _patient  # noqa: E402, F401
from opendmp.fhir import provide as _provide  # noqa: E402, F401
from opendmp.fhir import retrieve as _retrieve  # noqa: E402, F401
from opendmp.fhir import search as _search  # noqa: E402, F401
from opendmp.fhir import update as _update  # noqa: E402, F401
