"""Schemathesis over the app's own ``/openapi.json`` (docs/security.md, "Fuzzing"): every
documented operation, bodies included, fed with generated parameters and bodies (valid and
invalid) under a professional's token and under a patient's, never answers a 5xx, and its
answers keep to the schema (status codes, content types, headers, JSON shapes).

The app runs in-process (``schemathesis.openapi.from_asgi``), on SQLite and on PostgreSQL
when ``OPENDMP_TEST_DATABASE_URL`` is set. Schemathesis drives it through Starlette's
synchronous test client, which runs each call in an event loop of its own: the database
engine therefore keeps no connection between calls (``NullPool``), since a connection
belongs to the loop that opened it.

The seed is fixed (``derandomize``); each operation gets ``4 × FUZZ_EXAMPLES`` cases,
valid and invalid, from both callers (``FUZZ_EXAMPLES`` is 3 in the suite, about a minute
per database; ``make fuzz`` raises it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from opendmp.app import Runtime, create_app
from opendmp.domain.identifiers import Ins
from opendmp.storage.db import _configure_sqlite
from opendmp.storage.migrate import upgrade
from tests.api.provide_support import now
from tests.auth_support import PSC
from tests.conftest import BACKENDS, PG_URL, _create_schema, app_settings, runtime_on, wall_clock
from tests.services.access_support import DOCTOR, create
from tests.services.document_support import deposit, grant

SCOPES = "ITI-65 ITI-66 ITI-67 ITI-68 ITI-78 ITI-81 ITI-105 ITI-108"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PG_SCHEMA = f"opendmp_fuzz_{os.getpid()}"


@dataclasses.dataclass
class Target:
    app: FastAPI
    callers: dict[str, dict[str, str]]


def _engine(backend: str, home: Path) -> AsyncEngine:
    if backend == "postgresql":
        assert PG_URL is not None
        return create_async_engine(
            PG_URL,
            poolclass=NullPool,
            connect_args={"server_settings": {"search_path": PG_SCHEMA}},
        )
    engine = create_async_engine(f"sqlite+aiosqlite:///{home}/fuzz.db", poolclass=NullPool)
    _configure_sqlite(engine)
    return engine


def _token(**claims: Any) -> dict[str, str]:
    # Valid for the longest run (make fuzz), not the issuer's default ten minutes.
    expires = int((now() + dt.timedelta(hours=3)).timestamp())
    return {"Authorization": f"Bearer {PSC.token(now(), scope=SCOPES, exp=expires, **claims)}"}


def _callers(ins: Ins) -> dict[str, dict[str, str]]:
    professional = _token(
        sub=DOCTOR.idnat,
        profession=DOCTOR.profession,
        specialty=DOCTOR.specialty,
        organization=DOCTOR.organization,
        name=DOCTOR.name,
    )
    patient = _token(
        sub=str(ins), kind="patient", profession=None, specialty=None, organization=None, name=None
    )
    return {"professional": professional, "patient": patient}


async def _prepare(rt: Runtime) -> Ins:
    """A record with a document and an authorised professional: generated lookups and
    updates may meet something real."""
    await upgrade(rt.engine)
    ins = await create(rt.ctx)
    await grant(rt.ctx, ins, DOCTOR)
    await deposit(rt.ctx, ins, actor=DOCTOR)
    return ins


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    backend = request.param
    if backend == "postgresql":
        assert PG_URL is not None
        asyncio.run(_create_schema(PG_URL, PG_SCHEMA))
    engine = _engine(backend, tmp_path)
    rt = asyncio.run(runtime_on(engine, app_settings(tmp_path), wall_clock))
    ins = asyncio.run(_prepare(rt))
    yield Target(create_app(rt.settings, rt), _callers(ins))
    asyncio.run(engine.dispose())
    if backend == "postgresql":
        assert PG_URL is not None
        asyncio.run(_create_schema(PG_URL, PG_SCHEMA, drop=True))


@dataclasses.dataclass
class Tally:
    requests: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: list[str] = dataclasses.field(default_factory=list)


def _cases(operation: Any) -> st.SearchStrategy[Any]:
    modes = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    with contextlib.suppress(Unsatisfiable, InvalidArgument):  # nothing invalid to generate
        modes.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    return st.one_of(modes)


def _fuzz(operation: Any, callers: dict[str, dict[str, str]], tally: Tally) -> None:
    """One Hypothesis run per operation: valid and invalid cases, from each caller."""

    @given(case=_cases(operation), caller=st.sampled_from(sorted(callers)))
    @settings(
        max_examples=EXAMPLES * 2 * len(callers),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the fixed seed: the same requests on every run
        database=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
    )
    def run(case: Any, caller: str) -> None:
        headers = callers[caller]
        response = case.call(headers=headers)
        tally.requests[operation.label] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, FailureGroup) as exc:  # a group: one per distinct failure
            tally.failures.append(f"{operation.label} ({caller}): {exc}")

    run()


def _operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    return operations


def test_every_operation_keeps_to_its_schema_and_never_fails_with_a_server_error(
    target: Target,
) -> None:
    # schemathesis.pytest.from_fixture does not run under pytest 9 (it reads a private
    # attribute of the test node): the operations are walked here instead, one Hypothesis
    # run per operation, caller and generation mode.
    operations = _operations(target.app)
    tally = Tally()
    for operation in operations:
        _fuzz(operation, target.callers, tally)
    total = sum(tally.requests.values())
    print(f"schemathesis: {total} requests over {len(operations)} operations")
    assert not tally.failures, "\n\n".join(tally.failures[:10])
    labels = {operation.label for operation in operations}
    assert {"POST /fhir", "PATCH /fhir/DocumentReference/{document_id}"} <= labels
    assert labels == set(tally.requests), "every operation was called"


def test_the_schema_describes_every_body_and_search_parameter(target: Target) -> None:
    spec = target.app.openapi()
    operations = {
        f"{method.upper()} {path}": op
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    bodies = {label for label, op in operations.items() if "requestBody" in op}
    assert bodies == {label for label in operations if label.split()[0] in ("POST", "PATCH")}
    patch = operations["PATCH /fhir/DocumentReference/{document_id}"]["requestBody"]["content"]
    assert set(patch) == {
        "application/json-patch+json",
        "application/fhir+json",
        "application/fhir+xml",
    }
    consent = operations["POST /fhir/Consent"]["requestBody"]["content"]["application/fhir+json"]
    assert set(consent["schema"]["required"]) >= {"resourceType", "status", "patient"}
    search = {p["name"]: p for p in operations["GET /fhir/DocumentReference"]["parameters"]}
    assert search["patient.identifier"]["required"] and search["status"]["required"]
    assert {"category", "type", "date", "author.family", "isArchived", "_count"} <= set(search)
    lists = {p["name"]: p for p in operations["GET /fhir/List"]["parameters"]}
    assert lists["code"]["required"] and {"designationType", "sourceId"} <= set(lists)
    metadata = operations["GET /fhir/metadata"]["responses"]["200"]["content"]
    assert set(metadata) == {"application/fhir+json", "application/fhir+xml"}


def _undocumented(methods: set[str]) -> str:
    return next(m for m in ("PUT", "DELETE", "PATCH", "POST", "GET") if m not in methods)


def test_a_405_names_every_method_the_path_takes(target: Target) -> None:
    spec = target.app.openapi()
    transport = httpx.ASGITransport(app=target.app)

    async def probe(method: str, url: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
            return await http.request(method, url)

    for path, item in spec["paths"].items():
        documented = {method.upper() for method in item}
        url = path.replace("{logical_id}", "ins-x").replace("{document_id}", "x")
        response = asyncio.run(probe(_undocumented(documented), url))
        assert response.status_code == 405, (path, response.text)
        allowed = set(response.headers["allow"].split(", "))
        # /fhir/DocumentReference/_search also matches /fhir/DocumentReference/{document_id}.
        assert documented <= allowed, path
