"""Helpers for the FHIR API tests that run on both databases over the ``runtime``/``app``
fixtures of ``tests/conftest.py`` (``ctx`` is the app's own: tests/api/conftest.py):
bearer tokens minted at the test clock's time for professionals (any access mode) and
patients, and R4B validation of every answer."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from opendmp.domain.actors import Professional
from opendmp.domain.identifiers import Ins
from tests.api.provide_support import codes_of, valid_fhir
from tests.auth_support import PSC
from tests.conftest import Clock

ALL_SCOPES = "ITI-65 ITI-67 ITI-68 ITI-78 ITI-81 ITI-108"
FHIR_JSON = "application/fhir+json"


class Api:
    """An HTTP client of the app; every FHIR body it receives is validated with R4B."""

    def __init__(self, app: FastAPI, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    def professional(self, pro: Professional, *, scope: str = ALL_SCOPES) -> dict[str, str]:
        claims: dict[str, Any] = {
            "sub": pro.idnat,
            "profession": pro.profession,
            "specialty": pro.specialty,
            "organization": pro.organization,
            "name": pro.name,
            "card_kind": pro.card_kind.value,
            "purpose": pro.access_mode.value,
            "reason": pro.justification,
        }
        token = PSC.token(self.clock.now, scope=scope, **claims)
        return {"Authorization": f"Bearer {token}"}

    def patient(self, ins: Ins, *, scope: str = ALL_SCOPES, **claims: Any) -> dict[str, str]:
        token = PSC.token(
            self.clock.now,
            sub=str(ins),
            kind="patient",
            profession=None,
            specialty=None,
            organization=None,
            name=None,
            scope=scope,
            **claims,
        )
        return {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[int, dict[str, Any]]:
        sent = dict(headers or {})
        if json_body is not None:
            kwargs["content"] = orjson.dumps(json_body)
            sent.setdefault("Content-Type", FHIR_JSON)
        transport = httpx.ASGITransport(app=self.app, client=("10.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
            response = await http.request(method, url, headers=sent, **kwargs)
        if not response.content:
            return response.status_code, {}
        return response.status_code, valid_fhir(
            response.content, response.headers.get("content-type", FHIR_JSON)
        )

    async def get(self, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        return await self.request("GET", url, **kwargs)


@pytest.fixture(name="api")
def api_fixture(app: FastAPI, clock: Clock) -> Api:
    return Api(app, clock)


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [e["resource"] for e in bundle.get("entry", [])]


def extension(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension", []) if e["url"] == url), None)


def error_codes(outcome: dict[str, Any]) -> set[str]:
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return codes_of(outcome)
