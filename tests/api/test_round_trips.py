"""Database round trips of the read paths (behaviour, not timing: docs/benchmarks.md,
"fewer round trips"): an ITI-68 retrieval and an ITI-67 search page cost at most a fixed
number of statements, the same for every document and whatever the page size, on SQLite
and PostgreSQL. A change that adds a statement to these paths must say why here."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import AUTHOR, auth, body_of, deposit, fhir_search, ins_token
from tests.services.document_support import counted_statements

POSTGRES = bool(os.environ.get("OPENDMP_TEST_DATABASE_URL"))
# Measured, SQLite: ITI-68 = BEGIN, locate the document, the opening (record, patient, facts
# and document in one statement: services/core/opening.py), BEGIN IMMEDIATE, the audit event
# (written at the commit); ITI-67 the same without the locate, with the page instead of the
# document. PostgreSQL: 3 and 3 (no BEGIN statements). Before the opening: 7 and 6 on SQLite,
# 5 and 4 on PostgreSQL (docs/benchmarks.md, "The access check in one statement").
ITI68_STATEMENTS = 5
ITI67_STATEMENTS = 5


async def measured(engine: AsyncEngine, send: Callable[[], Awaitable[httpx.Response]]) -> int:
    """Statements of one request (its answer must be a success)."""
    with counted_statements(engine) as statements:
        response = await send()
    assert response.status_code == 200, response.text
    if os.environ.get("SHOW_STATEMENTS"):
        print("\n---\n".join(statements))
    return len(statements)


async def test_a_retrieval_costs_a_fixed_number_of_statements(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, engine: AsyncEngine
) -> None:
    docs = [await deposit(ctx, ins) for _ in range(3)]
    headers = {**auth(ctx, AUTHOR), "Accept": "*/*"}
    # Warm up: the first request of a professional registers them and notifies the patient,
    # the second finds that message (services/documents/consultation.py).
    for _ in range(2):
        assert (await http.get(f"/fhir/Binary/{docs[0].id}", headers=headers)).status_code == 200
    counts = [
        await measured(engine, partial(http.get, f"/fhir/Binary/{doc.id}", headers=headers))
        for doc in docs
    ]
    assert len(set(counts)) == 1, counts
    assert counts[0] <= ITI68_STATEMENTS, counts


async def test_a_search_page_costs_a_fixed_number_of_statements(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, engine: AsyncEngine
) -> None:
    for _ in range(12):
        await deposit(ctx, ins)
    params = {"patient.identifier": ins_token(ins), "status": "current"}
    search = partial(fhir_search, http, ctx, path="/fhir/DocumentReference")
    for _ in range(2):  # warm up, as above
        assert (await search(params | {"_count": "1"})).status_code == 200
    counts = [await measured(engine, partial(search, params | {"_count": n})) for n in ("2", "10")]
    assert len(body_of(await search(params | {"_count": "10"}))["entry"]) == 10
    assert len(set(counts)) == 1, counts
    assert counts[0] <= ITI67_STATEMENTS, counts
