"""Fixtures of the API tests: ``ctx`` is that of the app of the
``runtime``/``app`` fixtures of tests/conftest.py (on SQLite, and PostgreSQL when
``OPENDMP_TEST_DATABASE_URL`` is set); an HTTP client of that app, and a record with its
access grants (tests/api/fhir_read_support.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from opendmp.app import Runtime
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from tests.api.fhir_read_support import AUTHOR, BLOCKED, DOCTOR, PHARMACIST, TREATING
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import grant, name_treating_doctor


@pytest.fixture(name="ctx")
def ctx_fixture(runtime: Runtime) -> ServiceContext:
    """The app's own service context (over the test database and clock)."""
    return runtime.ctx


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
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
