"""Schemathesis over the app's own ``/openapi.json``: every documented GET operation, fed
with generated parameters and a valid bearer token, never answers a 5xx.

The app runs in-process (``schemathesis.openapi.from_asgi``). Schemathesis drives it through
Starlette's synchronous test client, which runs each call in an event loop of its own: the
database engine therefore keeps no connection between calls (``NullPool``), since an
aiosqlite connection belongs to the loop that opened it. A few examples per operation keep
the whole run well under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from opendmp.app import Runtime, build_runtime, create_app
from opendmp.config import load_settings
from opendmp.services import records
from opendmp.storage.db import _configure_sqlite, make_sessionmaker
from opendmp.storage.migrate import upgrade
from tests.api.provide_support import PSC, now
from tests.auth_support import AUDIENCE, PSC_ISSUER
from tests.factories import OPERATOR, make_ins, new_record

SCOPES = "ITI-65 ITI-66 ITI-67 ITI-68 ITI-78 ITI-81 ITI-108"
EXAMPLES_PER_OPERATION = 8


async def _prepare(rt: Runtime) -> None:
    await upgrade(rt.engine)
    ins = make_ins()  # one record, so that some generated lookups find something
    await records.create_record(rt.ctx, actor=OPERATOR, request=new_record(ins, now()))


@pytest.fixture
def fuzzed_app(tmp_path: Path) -> Iterator[FastAPI]:
    jwks = tmp_path / "psc-jwks.json"
    jwks.write_text(json.dumps(PSC.public_jwks()))
    config = load_settings(
        home=tmp_path,
        mode="development",
        oidc_issuers=[{"issuer": PSC_ISSUER, "audience": AUDIENCE, "jwks_file": jwks}],
        run_worker_in_process=False,
    )
    built = build_runtime(config, create_key=True)
    engine = create_async_engine(config.effective_database_url, poolclass=NullPool)
    _configure_sqlite(engine)
    rt = Runtime(config, engine, dataclasses.replace(built.ctx, sessions=make_sessionmaker(engine)))
    asyncio.run(built.engine.dispose())
    asyncio.run(_prepare(rt))
    yield create_app(config, rt)
    asyncio.run(engine.dispose())


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    run()


def test_get_operations_never_fail_with_a_server_error(fuzzed_app: FastAPI) -> None:
    # schemathesis.pytest.from_fixture does not run under pytest 9 (it reads a private
    # attribute of the test node): the operations are walked here instead, one Hypothesis
    # run per operation and generation mode.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app).include(method="GET")
    headers = {"Authorization": f"Bearer {PSC.token(now(), scope=SCOPES)}"}
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        _fuzz(operation, GenerationMode.POSITIVE, headers)
        # An operation without parameters has no invalid input to generate.
        with contextlib.suppress(Unsatisfiable):
            _fuzz(operation, GenerationMode.NEGATIVE, headers)
    assert "GET /fhir/Patient" in labels and "GET /fhir/metadata" in labels
