"""ITI-67 Find Document References over HTTP (GET and POST ``_search``, JSON and XML), on
SQLite and PostgreSQL. Refusals first: credentials and scope, required parameters,
malformed values, the access rules (block, no basis, matrix, mask); then every parameter,
paging across deposits, break-glass, and the statement count of a page."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import (
    AUTHOR,
    BLOCKED,
    DOCTOR,
    FHIR_XML,
    PHARMACIST,
    PSYCHIATRIC_SYNTHESIS,
    STRANGER,
    TREATING,
    auth,
    body_of,
    codes_of,
    counted_statements,
    deposit,
    entry_id,
    events,
    fhir_search,
    ids_of,
    ins_token,
    patient,
    resources,
)
from tests.api.provide_support import ans_iti65, to_xml
from tests.conftest import Clock
from tests.factories import make_ins

SEARCH = "/fhir/DocumentReference"


def base(ins: Ins, **more: str) -> dict[str, str]:
    return {"patient.identifier": ins_token(ins), "status": "current", **more}


search = partial(fhir_search, path=SEARCH)


# --- refusals -------------------------------------------------------------------------------


async def test_a_search_without_credentials_is_401(http: httpx.AsyncClient, ins: Ins) -> None:
    response = await http.get(SEARCH, params=base(ins))
    assert response.status_code == 401
    assert "authentication-required" in codes_of(body_of(response))


async def test_a_token_without_the_iti67_scope_is_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    response = await http.get(SEARCH, params=base(ins), headers=auth(ctx, AUTHOR, scope="ITI-65"))
    assert response.status_code == 403
    assert "insufficient-scope" in codes_of(body_of(response))


@pytest.mark.parametrize("missing", ["patient.identifier", "status"])
@pytest.mark.parametrize("post", [False, True])
async def test_patient_and_status_are_required(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, missing: str, post: bool
) -> None:
    params = base(ins)
    del params[missing]
    response = await search(http, ctx, params, post=post)
    assert response.status_code == 400
    assert "missing-parameter" in codes_of(body_of(response))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("date", "yesterday"),
        ("date", "ap2026-01-01"),
        ("creation", "2026-13-01"),
        ("period", "ge2026-01,2027"),
        ("period-start", "2026-02-30"),
        ("date", "2026-01-01T10:00+25:00"),  # an offset beyond a day
        ("period-end", "2026-01-01T10:00-24:30"),
        ("_count", "ten"),
        ("_count", "-1"),
        ("_sort", "title"),
        ("isArchived", "yes"),
        ("status", "entered-in-error"),
        ("status", "http://hl7.org/fhir/document-reference-status|current"),
        ("security-label", "SECRET"),
        ("type", "http://loinc.org|"),
        ("identifier", "urn:opendmp:logical-id|not-a-uuid"),
        ("patient.identifier", "urn:oid:1.2.3|280017512300177"),
        ("type:text", "lettre"),
        ("_cursor", "forged.cursor"),
    ],
)
async def test_a_malformed_value_of_a_known_parameter_is_400(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, name: str, value: str
) -> None:
    params = {**base(ins), name: value}
    response = await search(http, ctx, params)
    assert response.status_code == 400, response.text
    assert body_of(response)["resourceType"] == "OperationOutcome"


async def test_a_patient_reference_that_is_not_a_patient_id_is_400(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    response = await search(http, ctx, {"patient": "Patient/123", "status": "current"})
    assert response.status_code == 400


@pytest.mark.parametrize("post", [False, True])
async def test_a_blocked_professional_gets_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, post: bool
) -> None:
    await deposit(ctx, ins)
    response = await search(http, ctx, base(ins), actor=BLOCKED, post=post)
    assert response.status_code == 403
    assert "blocked-by-patient" in codes_of(body_of(response))
    [refused] = await events(ctx, ins, "document:document:search")
    assert (refused.outcome, refused.reason) == ("denied", "blocked-by-patient")


async def test_a_blocked_professional_gets_403_even_in_break_glass(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    headers = auth(ctx, BLOCKED, purpose="break-glass", reason="unconscious patient")
    response = await http.get(SEARCH, params=base(ins), headers=headers)
    assert response.status_code == 403
    assert "blocked-by-patient" in codes_of(body_of(response))


async def test_a_professional_without_access_gets_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    response = await search(http, ctx, base(ins), actor=STRANGER)
    assert response.status_code == 403
    assert "not-authorized" in codes_of(body_of(response))


async def test_another_patient_gets_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    response = await search(http, ctx, base(ins), actor=patient(make_ins()))
    assert response.status_code == 403
    assert "not-own-record" in codes_of(body_of(response))


async def test_an_unknown_ins_answers_an_empty_bundle_with_a_warning(
    http: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    response = await search(http, ctx, base(make_ins()), actor=STRANGER)
    assert response.status_code == 200
    bundle = body_of(response)
    assert bundle["total"] == 0
    [warning] = resources(bundle, "OperationOutcome")
    assert warning["issue"][0]["severity"] == "warning"
    assert "XDSUnknownPatientId" in codes_of(warning)
    assert ids_of(bundle) == []


async def test_a_pharmacist_does_not_see_a_psychiatric_synthesis(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    letter = await deposit(ctx, ins)
    synthesis = await deposit(ctx, ins, type_code=PSYCHIATRIC_SYNTHESIS, title="Synthèse")
    seen = body_of(await search(http, ctx, base(ins), actor=PHARMACIST))
    assert ids_of(seen) == [entry_id(letter)]
    assert seen["total"] == 1
    by_type = body_of(
        await search(http, ctx, base(ins, type=PSYCHIATRIC_SYNTHESIS), actor=PHARMACIST)
    )
    assert (by_type["total"], ids_of(by_type)) == (0, [])
    doctor = body_of(await search(http, ctx, base(ins), actor=DOCTOR))
    assert set(ids_of(doctor)) == {entry_id(letter), entry_id(synthesis)}


async def test_a_masked_document_is_seen_by_its_author_and_the_treating_doctors_only(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    masked = await documents.mask_document(
        ctx, actor=patient(ins), ins=ins, document_id=doc.id, masked=True
    )
    assert ids_of(body_of(await search(http, ctx, base(ins), actor=DOCTOR))) == []
    assert ids_of(body_of(await search(http, ctx, base(ins), actor=PHARMACIST))) == []
    for reader in (AUTHOR, TREATING, patient(ins)):
        assert ids_of(body_of(await search(http, ctx, base(ins), actor=reader))) == [
            entry_id(masked)
        ]


async def test_break_glass_finds_the_documents_and_is_audited_in_that_mode(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    refused = await search(http, ctx, base(ins), actor=STRANGER)
    assert refused.status_code == 403
    headers = auth(ctx, STRANGER, purpose="break-glass", reason="unconscious, no relative")
    response = await http.get(SEARCH, params=base(ins), headers=headers)
    assert response.status_code == 200
    assert ids_of(body_of(response)) == [entry_id(doc)]
    search_events = await events(ctx, ins, "document:document:search")
    assert [(e.outcome, e.access_mode) for e in search_events][-1] == ("success", "break-glass")
    assert any(e.action.startswith("access:emergency") for e in await events(ctx, ins)), [
        e.action for e in await events(ctx, ins)
    ]


# --- the parameters ---------------------------------------------------------------------------


@pytest.fixture
async def corpus(ctx: ServiceContext, ins: Ins) -> dict[str, Any]:
    """Documents with distinct metadata, deposited an hour apart from 2026-03-01 09:00."""
    t0 = ctx.now()
    letter = await deposit(ctx, ins, advance=3600)
    consult = await deposit(
        ctx,
        ins,
        advance=3600,
        type_code="11488-4",
        title="Compte rendu de consultation",
        practice_setting="AMBULATOIRE",
        facility_type="SA07",
        event_codes=("GLQP012",),
        format_code="urn:ihe:iti:xds-sd:text:2008",
        mime_type="text/plain",
        content=b"consultation",
        creation_time=dt.datetime(2025, 6, 1, 8, tzinfo=dt.UTC),
        service_start=dt.datetime(2025, 6, 1, 8, tzinfo=dt.UTC),
        service_stop=dt.datetime(2025, 6, 3, 8, tzinfo=dt.UTC),
    )
    archived = await deposit(ctx, ins, advance=3600, title="Ancienne lettre")
    archived = await documents.archive_document(
        ctx, actor=AUTHOR, ins=ins, document_id=archived.id, archived=True
    )
    hidden = await deposit(ctx, ins, advance=3600, invisible_to_patient=True)
    return {"t0": t0, "letter": letter, "consult": consult, "archived": archived, "hidden": hidden}


CASES: list[tuple[str, str, set[str]]] = [
    ("type", "http://loinc.org|11488-4", {"consult"}),
    ("type", "11488-4,11490-0", {"letter", "consult", "archived", "hidden"}),
    ("category", "urn:oid:1.2.250.1.213.1.1.4.1|10", {"letter", "consult", "archived", "hidden"}),
    ("category", "11", set()),
    ("setting", "AMBULATOIRE", {"consult"}),
    ("facility", "SA07", {"consult"}),
    ("event", "GLQP012", {"consult"}),
    ("format", "urn:ihe:iti:xds-sd:text:2008", {"consult"}),
    ("security-label", "INVISIBLE_PATIENT", {"hidden"}),
    ("creation", "2025-06", {"consult"}),
    ("creation", "lt2026", {"consult"}),
    ("period", "2025-06-02", {"consult"}),
    ("period-start", "eq2025-06-01", {"consult"}),
    ("period-end", "ge2025-06-03T08:00:00Z", {"consult"}),
    ("date", "2026-03-01T10:00:00Z", {"consult"}),
    ("date", "ge2026-03-01T11:00:00Z", {"archived", "hidden"}),
    ("date", "gt2026-03-01T11:00:00Z", {"hidden"}),
    ("date", "le2026-03-01T09:00:00Z", {"letter"}),
    ("date", "lt2026-03-01T12:00:00+01:00", {"letter", "consult"}),
    ("author.family", "testpro21", {"letter", "consult", "archived", "hidden"}),
    ("author.given", "Dominique", {"letter", "consult", "archived", "hidden"}),
    ("author.family", "OTHER", set()),
    ("isArchived", "true", {"archived"}),
    ("isArchived", "false", {"letter", "consult", "hidden"}),
    ("related", "ACC-UNKNOWN", set()),
]


@pytest.mark.parametrize(("name", "value", "expected"), CASES)
async def test_each_parameter_selects_in_sql(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    ins: Ins,
    corpus: dict[str, Any],
    name: str,
    value: str,
    expected: set[str],
) -> None:
    response = await search(http, ctx, base(ins, **{name: value}))
    assert response.status_code == 200, response.text
    bundle = body_of(response)
    want = {entry_id(corpus[key]) for key in expected}
    assert set(ids_of(bundle)) == want
    assert bundle["total"] == len(want)


async def test_identifier_matches_the_unique_id_the_entry_uuid_and_the_logical_id(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, corpus: dict[str, Any]
) -> None:
    consult = corpus["consult"]
    for value in (
        f"urn:ietf:rfc:3986|urn:oid:{consult.unique_id}",
        f"urn:ietf:rfc:3986|{consult.entry_uuid}",
        f"urn:opendmp:logical-id|{consult.id}",
        entry_id(consult),
        f"{consult.id},urn:oid:1.2.3.4",
    ):
        bundle = body_of(await search(http, ctx, base(ins, identifier=value)))
        assert ids_of(bundle) == [entry_id(consult)], value


async def test_the_patient_reference_is_the_patient_id(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, corpus: dict[str, Any]
) -> None:
    for reference in (
        f"Patient/ins-{ins.oid}-{ins.value}",
        f"http://127.0.0.1:8080/fhir/Patient/ins-{ins.oid}-{ins.value}",
    ):
        params = {"patient": reference, "status": "current"}
        bundle = body_of(await search(http, ctx, params))
        assert bundle["total"] == 4


async def test_related_matches_the_reference_ids_given_at_deposit(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    bundle = ans_iti65(ins)
    doc = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    doc["resource"]["context"]["related"] = [
        {
            "identifier": {
                "type": {
                    "coding": [
                        {"system": "urn:ietf:rfc:3986", "code": "urn:ihe:iti:xds:2013:accession"}
                    ]
                },
                "value": "ACC-2026-0042",
            }
        }
    ]
    headers = {**auth(ctx, AUTHOR), "Content-Type": "application/fhir+json"}
    stored = await http.post("/fhir", content=orjson.dumps(bundle), headers=headers)
    assert stored.status_code == 200, stored.text
    await deposit(ctx, ins)
    found = body_of(await search(http, ctx, base(ins, related="ACC-2026-0042")))
    assert found["total"] == 1
    [resource] = resources(found, "DocumentReference")
    assert resource["context"]["related"][0]["identifier"]["value"] == "ACC-2026-0042"


async def test_superseded_versions_are_listed_on_request_with_their_replacement(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    from tests.api.provide_support import ans_replacement

    headers = {**auth(ctx, AUTHOR), "Content-Type": "application/fhir+json"}
    first = await http.post("/fhir", content=orjson.dumps(ans_iti65(ins)), headers=headers)
    assert first.status_code == 200, first.text
    old_id = first.json()["entry"][1]["response"]["location"].rsplit("/", 1)[1]
    second = await http.post(
        "/fhir", content=orjson.dumps(ans_replacement(ins, old_id)), headers=headers
    )
    assert second.status_code == 200, second.text
    current = body_of(await search(http, ctx, base(ins)))
    [new] = resources(current, "DocumentReference")
    assert new["relatesTo"] == [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}
    ]
    both = body_of(await search(http, ctx, base(ins, status="current,superseded")))
    assert {r["status"] for r in resources(both, "DocumentReference")} == {
        "current",
        "superseded",
    }
    only_old = body_of(await search(http, ctx, base(ins, status="superseded")))
    assert ids_of(only_old) == [old_id]


async def test_unknown_parameters_are_ignored_and_left_out_of_the_self_link(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, corpus: dict[str, Any]
) -> None:
    bundle = body_of(await search(http, ctx, base(ins, color="blue", _elements="id")))
    assert bundle["total"] == 4
    [self_link] = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
    assert self_link.startswith("http://127.0.0.1:8080/fhir/DocumentReference?")
    assert "color" not in self_link and "status=current" in self_link


@pytest.mark.parametrize("post", [False, True])
async def test_xml_and_json_answers_by_get_and_post(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, corpus: dict[str, Any], post: bool
) -> None:
    as_xml = await search(http, ctx, base(ins, type="11488-4"), post=post, Accept=FHIR_XML)
    assert as_xml.status_code == 200
    assert as_xml.headers["content-type"].startswith(FHIR_XML)
    assert ids_of(body_of(as_xml)) == [entry_id(corpus["consult"])]
    as_json = await search(http, ctx, base(ins, type="11488-4"), post=post)
    bundle = body_of(as_json)
    assert bundle["type"] == "searchset"
    [entry] = bundle["entry"]
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"] == (
        f"http://127.0.0.1:8080/fhir/DocumentReference/{entry_id(corpus['consult'])}"
    )
    by_format = await http.get(
        SEARCH, params=base(ins, type="11488-4", _format="xml"), headers=auth(ctx, AUTHOR)
    )
    assert by_format.headers["content-type"].startswith(FHIR_XML)
    assert "_format=xml" in body_of(by_format)["link"][0]["url"]


async def test_an_xml_search_body_is_415(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    response = await http.post(
        f"{SEARCH}/_search",
        content=to_xml({"resourceType": "Parameters"}),
        headers={**auth(ctx, AUTHOR), "Content-Type": FHIR_XML},
    )
    assert response.status_code == 400
    assert "unsupported-media-type" in codes_of(body_of(response))


async def test_paging_follows_next_without_duplicates_while_documents_arrive(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, clock: Clock
) -> None:
    deposited = [await deposit(ctx, ins) for _ in range(7)]
    seen: list[str] = []
    response = await search(http, ctx, base(ins, _count="3", _sort="-date"))
    pages = 0
    while True:
        bundle = body_of(response)
        pages += 1
        assert bundle["total"] == 7  # the snapshot of the first page
        assert len(ids_of(bundle)) <= 3
        seen += ids_of(bundle)
        clock.advance(seconds=1)
        await deposit(ctx, ins)  # arrives between two pages
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        assert following[0].startswith("http://127.0.0.1:8080/fhir/DocumentReference?")
        assert "_cursor=" in following[0] and "_count=3" in following[0]
        path = following[0].removeprefix("http://127.0.0.1:8080")
        response = await http.get(path, headers=auth(ctx, AUTHOR))
        assert response.status_code == 200, response.text
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert seen == [entry_id(d) for d in reversed(deposited)]


async def test_count_is_capped_at_100_and_zero_gives_the_total_only(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, corpus: dict[str, Any]
) -> None:
    zero = body_of(await search(http, ctx, base(ins, _count="0")))
    assert (zero["total"], ids_of(zero)) == (4, [])
    many = body_of(await search(http, ctx, base(ins, _count="1000")))
    assert len(ids_of(many)) == 4


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("date", ["letter", "consult", "archived", "hidden"]),
        ("-date", ["hidden", "archived", "consult", "letter"]),
        ("creation", ["consult", "letter", "archived", "hidden"]),
        ("period", ["consult", "letter", "archived", "hidden"]),
    ],
)
async def test_sort(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    ins: Ins,
    corpus: dict[str, Any],
    sort: str,
    order: list[str],
) -> None:
    bundle = body_of(await search(http, ctx, base(ins, _sort=sort)))
    assert ids_of(bundle) == [entry_id(corpus[key]) for key in order]


async def test_a_page_costs_a_constant_number_of_statements(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, engine: AsyncEngine
) -> None:
    for _ in range(12):
        await deposit(ctx, ins)
    # Warm up: the first request of a professional registers them and notifies the patient;
    # the second finds that message, remembered for the day (services/documents/consultation).
    for _ in range(2):
        assert (await search(http, ctx, base(ins, _count="1"))).status_code == 200
    counts = []
    for count in ("2", "10"):
        with counted_statements(engine) as statements:
            response = await search(http, ctx, base(ins, _count=count))
        assert response.status_code == 200
        assert len(ids_of(body_of(response))) == int(count)
        counts.append(len(statements))
    assert counts[0] == counts[1]
    assert counts[1] <= 15, counts  # measured: 13 on SQLite
