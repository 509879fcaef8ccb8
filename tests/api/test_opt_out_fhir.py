"""An announced record (opt-out opening, docs/rules.md §2) is neither fed nor read through
``/fhir`` until it opens: no record exists, so the policy answers ``record-not-found``
(ITI-65 refused with ``XDSUnknownPatientId``, ITI-67 an empty Bundle with that warning, the
existence test nothing). Once the worker opens it, deposits and searches work. Both
databases."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from opendmp.domain.identifiers import Ins
from opendmp.services.access import authorisations as access
from opendmp.services.core.context import ServiceContext
from opendmp.services.records.opt_out import announce, open_due_records
from tests.api.fhir_read_support import AUTHOR, auth, body_of, codes_of, fhir_search, ins_token
from tests.api.provide_support import FHIR_JSON, ihe_bundle
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins
from tests.services.records.test_opt_out import Letters, person


@pytest.fixture
def app_settings_overrides() -> dict[str, Any]:
    return {"creation_mode": "opt-out"}


async def provide(http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins) -> httpx.Response:
    return await http.post(
        "/fhir",
        content=orjson.dumps(ihe_bundle(ins)),
        headers={**auth(ctx, AUTHOR), "Content-Type": FHIR_JSON},
    )


async def search(http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins) -> dict[str, Any]:
    response = await fhir_search(
        http,
        ctx,
        {"patient.identifier": ins_token(ins), "status": "current"},
        path="/fhir/DocumentReference",
    )
    assert response.status_code == 200
    return body_of(response)


async def test_an_announced_record_is_neither_fed_nor_read_until_it_opens(
    http: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    assert ctx.opt_out.enabled, "the app's settings turn the mode on"
    ins = make_ins()
    await announce(ctx, actor=OPERATOR, person=person(ins), letters=Letters())

    refused = await provide(http, ctx, ins)
    assert refused.status_code == 404
    assert {"record-not-found", "XDSUnknownPatientId"} <= codes_of(body_of(refused))
    found = await search(http, ctx, ins)
    assert found["total"] == 0 and "XDSUnknownPatientId" in orjson.dumps(found).decode()
    existence = await http.get(
        "/fhir/Patient",
        params={"identifier": ins_token(ins)},
        headers=auth(ctx, AUTHOR, scope="ITI-78"),
    )
    assert existence.status_code == 200, existence.text
    assert body_of(existence)["total"] == 0

    clock.advance(days=42)
    assert await open_due_records(ctx) == 1
    stored = await provide(http, ctx, ins)
    assert stored.status_code == 200, stored.text
    await access.declare_authorization(ctx, actor=AUTHOR, ins=ins)  # a basis to read
    assert (await search(http, ctx, ins))["total"] == 1
