"""Fixtures of the FHIR read/search/update API tests (tests/api/fhir_read_support.py): the
real app over ASGI on the test database — SQLite, and PostgreSQL when
``OPENDMP_TEST_DATABASE_URL`` is set (the ``engine``/``ctx`` fixtures of tests/conftest.py) —
and a record with its access grants. Modules that define fixtures of the same names (the
ITI-65 tests) keep theirs.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, create_app
from opendmp.config import load_settings
from opendmp.domain.identifiers import Ins
from opendmp.services import records
from opendmp.services.context import ServiceContext
from tests.api.fhir_read_support import AUTHOR, BLOCKED, DOCTOR, PHARMACIST, TREATING
from tests.api.provide_support import PSC
from tests.auth_support import PSC_ISSUER
from tests.factories import OPERATOR, make_ins, new_record
from tests.integration.document_support import grant, name_treating_doctor


@pytest.fixture
def _only_the_test_database_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_") and name != "OPENDMP_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def fhir_runtime(
    ctx: ServiceContext,
    engine: AsyncEngine,
    tmp_path: Path,
    _only_the_test_database_is_configured: None,
) -> Runtime:
    jwks = tmp_path / "psc-jwks.json"
    jwks.write_text(json.dumps(PSC.public_jwks()))
    settings = load_settings(
        home=tmp_path,
        mode="development",
        oidc_issuers=[{"issuer": PSC_ISSUER, "audience": "https://dmp.test", "jwks_file": jwks}],
        run_worker_in_process=False,
    )
    ctx.base_url = settings.base_url
    return Runtime(settings, engine, ctx)


@pytest.fixture
def fhir_app(fhir_runtime: Runtime) -> FastAPI:
    return create_app(fhir_runtime.settings, fhir_runtime)


@pytest.fixture
async def http(fhir_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fhir_app, client=("10.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as client:
        yield client


@pytest.fixture
async def ins(ctx: ServiceContext) -> Ins:
    """A record with its treating doctor, the authorised author, doctor and pharmacist, and a
    blocked professional."""
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    await grant(ctx, ins, AUTHOR)
    await grant(ctx, ins, DOCTOR)
    await grant(ctx, ins, PHARMACIST)
    await grant(ctx, ins, BLOCKED, state="blocked")
    await name_treating_doctor(ctx, ins, TREATING)
    return ins
