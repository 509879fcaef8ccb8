"""The professional view as a FHIR search option (``DocumentReference?…&_view=episodes``,
docs/api.md), over HTTP on a synthetic ten-year record. Refusals first (credentials, the
policy, malformed options — each an OperationOutcome), then what a doctor and a pharmacist
get, the search in titles and types, and paging that keeps the criteria."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from opendmp.devtools.history_seed import HistoryResult, seed_history
from opendmp.domain.identifiers import Ins
from opendmp.fhir.overview import OVERVIEW
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import (
    DOCTOR,
    PHARMACIST,
    STRANGER,
    auth,
    body_of,
    codes_of,
    fhir_search,
    ins_token,
)

SEARCH = "/fhir/DocumentReference"
search = partial(fhir_search, path=SEARCH)


@pytest.fixture
async def seeded(ctx: ServiceContext, ins: Ins) -> HistoryResult:
    return await seed_history(ctx, ins)


def view(ins: Ins, **more: str) -> dict[str, str]:
    return {"patient.identifier": ins_token(ins), "status": "current", "_view": "episodes", **more}


def place(entry: dict[str, Any]) -> dict[str, Any]:
    (found,) = [e for e in entry["search"]["extension"] if e["url"] == OVERVIEW]
    return {
        part["url"]: next(v for k, v in part.items() if k.startswith("value"))
        for part in found["extension"]
    }


def type_of(entry: dict[str, Any]) -> str:
    return str(entry["resource"]["type"]["coding"][0]["code"])


async def test_the_view_is_refused_without_credentials_or_access_basis(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, seeded: HistoryResult
) -> None:
    assert (await http.get(SEARCH, params=view(ins))).status_code == 401
    response = await http.get(SEARCH, params=view(ins), headers=auth(ctx, STRANGER))
    assert response.status_code == 403
    assert body_of(response)["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "bad",
    [
        {"_view": "timeline"},
        {"_sort": "-date"},
        {"status": "superseded"},
        {"_count": "0"},
        {"_count": "51"},
        {"_text": "x" * 101},
        {"_cursor": "forged.cursor"},
    ],
)
async def test_malformed_options_are_an_operation_outcome(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, bad: dict[str, str]
) -> None:
    response = await search(http, ctx, {**view(ins), **bad}, actor=DOCTOR)
    assert response.status_code == 400, response.text
    assert body_of(response)["resourceType"] == "OperationOutcome"
    assert codes_of(body_of(response))


async def test_text_without_the_view_is_refused(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    params = {"patient.identifier": ins_token(ins), "status": "current", "_text": "lettre"}
    response = await search(http, ctx, params, actor=DOCTOR)
    assert response.status_code == 400


async def test_a_doctor_gets_the_vsm_pinned_then_discharge_letters_then_episodes(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, seeded: HistoryResult
) -> None:
    response = await search(http, ctx, view(ins, _count="5"), actor=DOCTOR)
    assert response.status_code == 200, response.text
    bundle = body_of(response)
    assert bundle["total"] == seeded.documents
    entries = bundle["entry"]
    roles = [place(e)["role"] for e in entries]
    assert roles[0] == "pinned" and type_of(entries[0]) == "60591-5"
    # The earlier syntheses are folded under the pinned one.
    folded = [place(e) for e in entries[1 : 1 + seeded.superseded]]
    assert {(p["role"], p["foldReason"]) for p in folded} == {("folded", "version")}
    firsts = [type_of(e) for e, r in zip(entries, roles, strict=True) if r == "first"]
    assert set(firsts[:3]) <= {"11490-0", "34112-3"}
    keys = [place(e) for e in entries if place(e)["role"] == "key"]
    assert len(keys) == 5
    assert [k["episodeEnd"] for k in keys] == sorted((k["episodeEnd"] for k in keys), reverse=True)
    assert any(link["relation"] == "next" for link in bundle["link"])


async def test_a_pharmacist_gets_treatments_first_and_text_search_pages_with_its_criteria(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, seeded: HistoryResult
) -> None:
    response = await search(http, ctx, view(ins), actor=PHARMACIST)
    bundle = body_of(response)
    firsts = [type_of(e) for e in bundle["entry"] if place(e)["role"] == "first"]
    assert set(firsts[:3]) <= {"57833-6", "60593-1"} and firsts[3:] == ["11502-2"] * 3
    assert "68599-0" not in {type_of(e) for e in bundle["entry"]}

    searched = body_of(
        await search(http, ctx, view(ins, _text="biolog", _count="2"), actor=PHARMACIST)
    )
    assert {type_of(e) for e in searched["entry"]} == {"11502-2"}
    (following,) = [link["url"] for link in searched["link"] if link["relation"] == "next"]
    assert "_text=biolog" in following and "_view=episodes" in following
    more = await http.get(following, headers=auth(ctx, PHARMACIST))
    assert more.status_code == 200, more.text
    assert {type_of(e) for e in body_of(more)["entry"]} == {"11502-2"}
    assert {place(e)["role"] for e in body_of(more)["entry"]} <= {"key", "member", "folded"}
