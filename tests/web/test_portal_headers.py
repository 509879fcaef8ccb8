"""The portals' security headers: on every portal answer (pages, static files, errors),
never on the API's (``/fhir``, ``/xds``, probes), which the portal middleware passes
straight through (docs/benchmarks.md, framework floor)."""

from __future__ import annotations

import httpx
import pytest

from opendmp.web import SECURITY_HEADERS


@pytest.mark.parametrize(
    ("path", "no_store"),
    [
        ("/pro/connexion", True),
        ("/accueil", True),
        ("/patient/page-qui-n-existe-pas", True),
        ("/static/portal/portal.css", False),
    ],
)
async def test_portal_answers_carry_the_security_headers(
    client: httpx.AsyncClient, path: str, no_store: bool
) -> None:
    response = await client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (path, name)
    assert (response.headers.get("cache-control") == "no-store") is no_store
    assert (response.headers.get("pragma") == "no-cache") is no_store


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/fhir/metadata", "/fhir/Binary/x", "/xds/x"]
)
async def test_api_answers_do_not(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    for name in SECURITY_HEADERS:
        assert name.lower() not in response.headers, (path, name)
    assert response.headers.get("pragma") is None
