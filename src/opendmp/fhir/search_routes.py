"""The two routes of a FHIR search (FHIR R4 RESTful API, "search"): ``GET /<Type>`` with the
parameters in the query, and ``POST /<Type>/_search`` with them form-encoded; both answer
the same searchset, through the same handler and the same scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import Depends, Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext
from opendmp.fhir.api import router
from opendmp.fhir.openapi import SearchParameter, fhir_ok, search_get, search_post

SearchHandler = Callable[[Request, AuthContext], Awaitable[Response]]
Scope = Callable[..., Awaitable[AuthContext]]
Operation = tuple[str, str]  # the route's name (the OpenAPI operation id's stem), its summary


def add_search_routes(
    resource_type: str,
    parameters: Mapping[str, SearchParameter],
    scope: Scope,
    handler: SearchHandler,
    *,
    get: Operation,
    post: Operation,
) -> None:
    """Add ``GET /fhir/<resource_type>`` and ``POST /fhir/<resource_type>/_search``."""
    responses = fhir_ok(f"searchset Bundle of {resource_type}", resource_type="Bundle")

    async def search(request: Request, auth: AuthContext = Depends(scope)) -> Response:
        return await handler(request, auth)

    for method, path, (name, summary), extra in (
        ("GET", f"/{resource_type}", get, search_get(parameters)),
        ("POST", f"/{resource_type}/_search", post, search_post(parameters)),
    ):
        router.add_api_route(
            path,
            search,
            methods=[method],
            name=name,
            summary=summary,
            responses=responses,
            openapi_extra=extra,
        )
