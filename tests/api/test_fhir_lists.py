"""ITI-66 Find Document Lists over HTTP (SubmissionSets; Folders unsupported), GET and POST,
JSON and XML, on SQLite and PostgreSQL. Refusals first; then: a List names only the members
the caller may read and a set without one is not listed; every parameter; paging."""

from __future__ import annotations

import copy
import uuid
from functools import partial
from typing import Any

import httpx
import orjson
import pytest

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import (
    AUTHOR,
    BLOCKED,
    DOCTOR,
    FHIR_XML,
    PHARMACIST,
    PSYCHIATRIC_SYNTHESIS,
    STRANGER,
    auth,
    body_of,
    codes_of,
    deposit,
    entry_id,
    events,
    fhir_search,
    ins_token,
    resources,
)
from tests.api.provide_support import ans_iti65, b64, cda, entries_of, sha1_b64
from tests.factories import make_ins

LISTS = "/fhir/List"
MHD_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"


def base(ins: Ins, **more: str) -> dict[str, str]:
    return {
        "patient.identifier": ins_token(ins),
        "code": "submissionset",
        "status": "current",
        **more,
    }


find = partial(fhir_search, path=LISTS)


def lists(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return resources(bundle, "List")


def members(resource: dict[str, Any]) -> list[str]:
    return [e["item"]["reference"].removeprefix("DocumentReference/") for e in resource["entry"]]


def mixed_bundle(ins: Ins) -> dict[str, Any]:
    """The ANS ITI-65 example with a second document, a psychiatric synthesis."""
    bundle = ans_iti65(ins)
    doc = copy.deepcopy(entries_of(bundle, "DocumentReference")[0])
    binary = copy.deepcopy(entries_of(bundle, "Binary")[0])
    doc["fullUrl"], binary["fullUrl"] = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    unique_id = "1.2.250.1.213.1.4.8.99999.77"
    resource = doc["resource"]
    resource.pop("id", None)
    resource["masterIdentifier"]["value"] = f"urn:oid:{unique_id}"
    resource["type"]["coding"][0] = {"system": "http://loinc.org", "code": PSYCHIATRIC_SYNTHESIS}
    content = cda(
        unique_id=unique_id, ins=ins, type_code=PSYCHIATRIC_SYNTHESIS, author_idnat="899700218896"
    )
    attachment = resource["content"][0]["attachment"]
    attachment.update(url=binary["fullUrl"], size=len(content), hash=sha1_b64(content))
    binary["resource"]["data"] = b64(content)
    submission = entries_of(bundle, "List")[0]["resource"]
    submission["entry"].append({"item": {"reference": doc["fullUrl"]}})
    bundle["entry"] += [doc, binary]
    return bundle


async def provide(
    http: httpx.AsyncClient, ctx: ServiceContext, bundle: dict[str, Any]
) -> list[str]:
    """POST an ITI-65 bundle as the author; the ids of the stored DocumentReferences."""
    headers = {**auth(ctx, AUTHOR), "Content-Type": "application/fhir+json"}
    response = await http.post("/fhir", content=orjson.dumps(bundle), headers=headers)
    assert response.status_code == 200, response.text
    locations = [e["response"].get("location") or "" for e in response.json()["entry"]]
    return [loc.rsplit("/", 1)[1] for loc in locations if "/DocumentReference/" in loc]


# --- refusals -------------------------------------------------------------------------------


async def test_a_token_without_the_iti66_scope_is_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    response = await http.get(LISTS, params=base(ins), headers=auth(ctx, AUTHOR, scope="ITI-67"))
    assert response.status_code == 403
    assert "insufficient-scope" in codes_of(body_of(response))


@pytest.mark.parametrize("missing", ["patient.identifier", "code", "status"])
async def test_patient_code_and_status_are_required(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, missing: str
) -> None:
    params = base(ins)
    del params[missing]
    response = await find(http, ctx, params)
    assert response.status_code == 400
    assert "missing-parameter" in codes_of(body_of(response))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("code", "urn:x|submissionset"),
        ("code", "basket"),
        ("date", "ge2026-02-30"),
        ("status", "ok"),
    ],
)
async def test_a_malformed_value_is_400(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, name: str, value: str
) -> None:
    response = await find(http, ctx, {**base(ins), name: value})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("reader", "reason"), [(BLOCKED, "blocked-by-patient"), (STRANGER, "not-authorized")]
)
async def test_a_reader_refused_by_the_record_rules_gets_403(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, reader: Any, reason: str
) -> None:
    await deposit(ctx, ins)
    response = await find(http, ctx, base(ins), actor=reader)
    assert response.status_code == 403
    assert reason in codes_of(body_of(response))
    [refused] = await events(ctx, ins, "document:submission-set:search")
    assert (refused.outcome, refused.reason) == ("denied", reason)


async def test_a_list_names_only_readable_members_and_hides_sets_without_one(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    consult, synthesis = await provide(http, ctx, mixed_bundle(ins))
    alone = await deposit(ctx, ins, type_code=PSYCHIATRIC_SYNTHESIS, title="Synthèse")
    doctor = body_of(await find(http, ctx, base(ins), actor=DOCTOR))
    assert doctor["total"] == 2
    assert sorted(len(members(r)) for r in lists(doctor)) == [1, 2]
    pharmacist = body_of(await find(http, ctx, base(ins), actor=PHARMACIST))
    assert pharmacist["total"] == 1
    [only] = lists(pharmacist)
    assert members(only) == [consult]
    assert synthesis not in members(only) and entry_id(alone) not in members(only)


async def test_folders_are_not_supported(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    await deposit(ctx, ins)
    bundle = body_of(await find(http, ctx, base(ins, code=f"{MHD_TYPES}|folder")))
    assert (bundle["total"], lists(bundle)) == (0, [])
    [warning] = resources(bundle, "OperationOutcome")
    assert "folders-unsupported" in codes_of(warning)
    both = body_of(await find(http, ctx, base(ins, code="submissionset,folder")))
    assert (both["total"], len(resources(both, "OperationOutcome"))) == (1, 1)


async def test_an_unknown_ins_answers_an_empty_bundle(
    http: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    bundle = body_of(await find(http, ctx, base(make_ins()), actor=STRANGER))
    assert (bundle["total"], lists(bundle)) == (0, [])
    assert "XDSUnknownPatientId" in codes_of(resources(bundle, "OperationOutcome")[0])


# --- the List and the parameters ----------------------------------------------------------------


@pytest.mark.parametrize("post", [False, True])
@pytest.mark.parametrize("accept", ["application/fhir+json", FHIR_XML])
async def test_the_submission_set_as_an_mhd_list(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, post: bool, accept: str
) -> None:
    [doc_id] = await provide(http, ctx, ans_iti65(ins))
    response = await find(http, ctx, base(ins), post=post, Accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    [resource] = lists(body_of(response))
    assert resource["code"]["coding"][0] == {"system": MHD_TYPES, "code": "submissionset"}
    assert (resource["status"], resource["mode"]) == ("current", "working")
    assert resource["subject"]["identifier"]["value"] == ins.value
    assert members(resource) == [doc_id]
    uses = {i["use"]: i["value"] for i in resource["identifier"]}
    assert uses["official"] == f"urn:uuid:{resource['id']}"
    assert uses["usual"].startswith("urn:oid:")
    urls = {e["url"].rsplit("/", 1)[1]: e for e in resource["extension"]}
    assert urls["ihe-sourceId"]["valueIdentifier"]["value"] == "urn:oid:1.2.3.4.5.6.7.8"
    assert urls["ihe-designationType"]["valueCodeableConcept"]["coding"][0]["code"] == "11"
    assert resource["source"] == {"reference": "#practitioner-author"}
    assert resource["date"]


async def test_each_parameter(http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins) -> None:
    await provide(http, ctx, ans_iti65(ins))  # sourceId 1.2.3.4.5.6.7.8, designation 11
    await deposit(ctx, ins)  # a submission set made by the deposit service
    everything = body_of(await find(http, ctx, base(ins)))
    assert everything["total"] == 2
    ans_list = next(r for r in lists(everything) if r.get("source", {}).get("reference"))
    other = next(r for r in lists(everything) if r is not ans_list)
    unique_id = next(i["value"] for i in ans_list["identifier"] if i["use"] == "usual")
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"identifier": f"urn:ietf:rfc:3986|{unique_id}"}, [ans_list["id"]]),
        ({"identifier": f"urn:uuid:{other['id']}"}, [other["id"]]),
        ({"sourceId": "urn:oid:1.2.3.4.5.6.7.8"}, [ans_list["id"]]),
        ({"designationType": "11"}, [ans_list["id"]]),
        ({"date": "ge2026-06-12T08:00:00Z"}, [ans_list["id"]]),
        ({"date": "lt2026-06-12T08:00:00Z"}, [other["id"]]),
        # Both were submitted by the author (the ITI-65 one through the API).
        ({"source.family": "TESTPRO21"}, [ans_list["id"], other["id"]]),
        ({"source.given": "dominique"}, [ans_list["id"], other["id"]]),
        ({"source.family": "AUTRE"}, []),
        ({"status": "superseded"}, []),
        ({"color": "blue"}, [ans_list["id"], other["id"]]),
    ]
    for extra, expected in cases:
        bundle = body_of(await find(http, ctx, base(ins, **extra)))
        assert sorted(r["id"] for r in lists(bundle)) == sorted(expected), extra
        assert bundle["total"] == len(expected)


async def test_paging_with_count_and_next(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    for _ in range(5):
        await deposit(ctx, ins)
    seen: list[str] = []
    response = await find(http, ctx, base(ins, _count="2"))
    while True:
        bundle = body_of(response)
        assert bundle["total"] == 5
        seen += [r["id"] for r in lists(bundle)]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        response = await http.get(
            following[0].removeprefix("http://127.0.0.1:8080"), headers=auth(ctx, AUTHOR)
        )
        assert response.status_code == 200, response.text
    assert len(seen) == len(set(seen)) == 5


async def test_break_glass_is_audited_in_that_mode(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    await deposit(ctx, ins)
    headers = auth(ctx, STRANGER, purpose="break-glass", reason="unconscious, no relative")
    response = await http.get(LISTS, params=base(ins), headers=headers)
    assert response.status_code == 200
    assert body_of(response)["total"] == 1
    [found] = await events(ctx, ins, "document:submission-set:search")
    assert (found.outcome, found.access_mode) == ("success", "break-glass")
