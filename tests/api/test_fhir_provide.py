"""ITI-65 Provide Document Bundle and ITI-105 Simplified Publish over HTTP: the public
examples (IHE, ANS PDSm4DMP) and CI-SIS CDA documents are accepted, in JSON and in XML.

Adaptations of the examples (documented in provide_support):
- the IHE bundle's subject ``Patient/ex-patient`` is not an INS: it becomes a test INS;
- the ANS examples name ``123456789012345`` under the NIR OID, which is not a valid INS
  (month 45, key): it becomes a test INS (OID .10);
- the ANS examples' Binary is an 80-byte ``<ClinicalDocument xmlns="urn:hl7-org:v3"/>``
  with no header: OpenDMP refuses a CDA without header (``invalid-cda``, tested below as
  published), so the accepted variant carries a CDA header matching the metadata;
- the replacement's target ``DocumentReference/doc-x-id`` becomes the id of the document
  deposited first.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from opendmp.app import Runtime
from opendmp.domain.identifiers import Ins
from opendmp.storage import models as m
from tests.api.provide_support import (  # noqa: F401 - the fixtures clock and ins
    CISIS_INS,
    FHIR_JSON,
    FHIR_XML,
    ans_iti65,
    ans_iti105,
    ans_replacement,
    bearer,
    cisis_bundle,
    client,
    clock_fixture,
    codes_of,
    create_record_for,
    ihe_bundle,
    ins_fixture,
    state,
    to_xml,
    valid_fhir,
)
from tests.record_scope import whole_database

BASE = "http://127.0.0.1:8080/fhir"


async def post_bundle(
    app: FastAPI, bundle: dict[str, Any], *, xml: bool = False, accept: str = FHIR_JSON
) -> tuple[int, dict[str, Any]]:
    body = to_xml(bundle) if xml else orjson.dumps(bundle)
    headers = {**bearer(), "Content-Type": FHIR_XML if xml else FHIR_JSON, "Accept": accept}
    async with client(app) as http:
        response = await http.post("/fhir", content=body, headers=headers)
    return response.status_code, valid_fhir(response.content, response.headers["content-type"])


def statuses(body: dict[str, Any]) -> list[str]:
    return [e["response"]["status"] for e in body["entry"]]


def locations(body: dict[str, Any]) -> list[str | None]:
    return [e["response"].get("location") for e in body["entry"]]


def warning_codes(body: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for entry in body["entry"]:
        found |= codes_of(entry["response"].get("outcome") or {})
    return found


async def documents(rt: Runtime) -> list[m.Document]:
    async with rt.ctx.sessions() as session:
        return list((await session.execute(whole_database(select(m.Document)))).scalars().all())


# --- IHE MHD example ------------------------------------------------------------------------


async def test_the_ihe_example_bundle_is_accepted(app: FastAPI, runtime: Runtime, ins: Ins) -> None:
    status, body = await post_bundle(app, ihe_bundle(ins))
    assert status == 200, body
    assert body["type"] == "transaction-response"
    assert statuses(body) == ["201 Created"] * 3
    [doc] = await documents(runtime)
    assert locations(body) == [
        locations(body)[0],
        f"{BASE}/DocumentReference/{doc.entry_uuid.removeprefix('urn:uuid:')}",
        f"{BASE}/Binary/{doc.id}",
    ]
    assert locations(body)[0].startswith(f"{BASE}/List/")  # type: ignore[union-attr]
    assert (
        doc.unique_id == "1.2.840.113556.1.8000.2554.53432.348.12973.17740.34205.4355.50220.62012"
    )
    assert (doc.type_code, doc.class_code, doc.size, doc.mime_type) == (
        "60591-5",
        "11",
        11,
        "text/plain",
    )
    # Its hash is base64 of the hex string: tolerated, with a warning.
    assert "hash-encoding" in warning_codes(body)
    extra = orjson.loads(doc.extra or "{}")
    assert extra["category"][0]["coding"][0]["code"] == "11369-6"  # kept as given
    assert (await state(runtime))[:3] == (1, 1, 0)
    assert len((await state(runtime))[3]) == 1


async def test_the_ihe_example_is_accepted_in_xml_and_answered_in_xml(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    status, body = await post_bundle(app, ihe_bundle(ins), xml=True, accept=FHIR_XML)
    assert status == 200, body
    assert statuses(body) == ["201 Created"] * 3
    assert (await state(runtime))[:2] == (1, 1)


async def test_sending_the_same_bundle_twice_stores_it_once(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    first_status, first = await post_bundle(app, ihe_bundle(ins))
    status, again = await post_bundle(app, ihe_bundle(ins))
    assert (first_status, status) == (200, 200)
    assert statuses(again) == ["201 Created", "200 OK", "200 OK"] or statuses(again)[1] == "200 OK"
    assert locations(again)[1] == locations(first)[1]
    assert "already-stored" in warning_codes(again)
    assert (await state(runtime))[:2] == (1, 1)


# --- ANS PDSm4DMP examples ----------------------------------------------------------------


async def test_the_ans_iti65_example_is_accepted(app: FastAPI, runtime: Runtime, ins: Ins) -> None:
    status, body = await post_bundle(app, ans_iti65(ins))
    assert status == 200, body
    assert statuses(body) == ["201 Created"] * 3
    [doc] = await documents(runtime)
    assert doc.unique_id == "1.2.250.1.213.1.4.8.99999.2"
    assert doc.type_code == "11488-4"
    # PDSm requires custodian; the ANS example has none: a warning, not a refusal.
    assert "missing-custodian" in warning_codes(body)


async def test_the_ans_iti65_example_in_xml_is_accepted(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    status, body = await post_bundle(app, ans_iti65(ins), xml=True)
    assert status == 200, body
    assert (await state(runtime))[:2] == (1, 1)


async def test_the_ans_placeholder_cda_without_header_is_refused(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    status, body = await post_bundle(app, ans_iti65(ins, real_cda=False))
    assert status == 422
    assert {"invalid-cda", "InvalidDocumentContent"} <= codes_of(body)
    assert await state(runtime) == (0, 0, 0, [])


async def test_the_ans_replacement_example_supersedes_the_first_document(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    _, first = await post_bundle(app, ans_iti65(ins))
    old_entry_id = str(locations(first)[1]).rsplit("/", 1)[-1]
    status, body = await post_bundle(app, ans_replacement(ins, old_entry_id))
    assert status == 200, body
    # List, DocumentReference, PATCH (old -> superseded), Binary: in the request's order.
    assert statuses(body) == ["201 Created", "201 Created", "200 OK", "201 Created"]
    assert locations(body)[2] == f"{BASE}/DocumentReference/{old_entry_id}"
    by_uid = {d.unique_id: d for d in await documents(runtime)}
    old, new = by_uid["1.2.250.1.213.1.4.8.99999.2"], by_uid["1.2.250.1.213.1.4.8.99999.3"]
    assert (old.status, new.status, new.replaces_id) == ("superseded", "current", old.id)
    async with runtime.ctx.sessions() as session:
        actions = (
            (
                await session.execute(
                    whole_database(select(m.AuditEvent.action).order_by(m.AuditEvent.seq))
                )
            )
            .scalars()
            .all()
        )
    assert actions.count("document:document:replace") == 1


async def test_the_ans_replacement_in_xml_is_accepted(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    _, first = await post_bundle(app, ans_iti65(ins))
    old_entry_id = str(locations(first)[1]).rsplit("/", 1)[-1]
    status, body = await post_bundle(app, ans_replacement(ins, old_entry_id), xml=True)
    assert status == 200, body
    assert (await state(runtime))[:3] == (2, 2, 1)


async def test_the_ans_iti105_example_is_published(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    async with client(app) as http:
        response = await http.post(
            "/fhir/DocumentReference",
            content=orjson.dumps(ans_iti105(ins)),
            headers={**bearer(scope="ITI-105"), "Content-Type": FHIR_JSON},
        )
    assert response.status_code == 201, response.text
    body = valid_fhir(response.content)
    assert body["resourceType"] == "DocumentReference"
    assert response.headers["location"] == f"{BASE}/DocumentReference/{body['id']}"
    assert body["masterIdentifier"]["value"] == "urn:oid:1.2.250.1.213.1.4.8.99999.1"
    att = body["content"][0]["attachment"]
    [doc] = await documents(runtime)
    assert (att["size"], att["url"]) == (doc.size, f"http://127.0.0.1:8080/fhir/Binary/{doc.id}")
    async with runtime.ctx.sessions() as session:
        source = (
            await session.execute(whole_database(select(m.SubmissionSet.source_id)))
        ).scalar_one()
    assert source.startswith("1.2.250.1.71.4.2.2.")  # derived from the actor's structure


async def test_the_ans_iti105_example_is_published_in_xml(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    async with client(app) as http:
        response = await http.post(
            "/fhir/DocumentReference",
            content=to_xml(ans_iti105(ins)),
            headers={**bearer(scope="ITI-65"), "Content-Type": FHIR_XML, "Accept": FHIR_XML},
        )
    assert response.status_code == 201, response.text
    body = valid_fhir(response.content, response.headers["content-type"])
    assert body["status"] == "current"


# --- CI-SIS CDA documents -------------------------------------------------------------------

CISIS = [
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "LDL-SES_2022.01.xml",
    "VAC-NOTE_2023.01.xml",
    "IMG_CR_IMG_2024.01.xml",
]


@pytest.mark.parametrize("name", CISIS)
async def test_a_cisis_cda_document_is_accepted(app: FastAPI, runtime: Runtime, name: str) -> None:
    await create_record_for(runtime, CISIS_INS)
    status, body = await post_bundle(app, cisis_bundle(name))
    assert status == 200, body
    assert statuses(body) == ["201 Created"] * 3
    if name == "DOC_NON_STRUCTURE_CDA-R2-N1.xml":
        # Its author's RPPS 01234534765 has a wrong Luhn key: accepted with a warning.
        assert "invalid-rpps-key" in warning_codes(body)


async def test_three_cisis_documents_in_one_bundle_in_xml(app: FastAPI, runtime: Runtime) -> None:
    await create_record_for(runtime, CISIS_INS)
    status, body = await post_bundle(app, cisis_bundle(*CISIS[:3]), xml=True)
    assert status == 200, body
    assert statuses(body) == ["201 Created"] * 7
    assert (await state(runtime))[:2] == (3, 1)
    assert len((await state(runtime))[3]) == 3


async def test_a_deposit_queues_a_new_document_notice_when_the_patient_asked(
    app: FastAPI, runtime: Runtime, ins: Ins
) -> None:
    from sqlalchemy import update

    async with runtime.ctx.sessions() as session:
        await session.execute(
            update(m.Record).values(notify_on_new_document=True, mask_new_documents=True)
        )
        await session.commit()
    status, _ = await post_bundle(app, ihe_bundle(ins))
    assert status == 200
    async with runtime.ctx.sessions() as session:
        rows = (
            await session.execute(select(m.Outbox.payload).where(m.Outbox.kind == "new-document"))
        ).all()
        masked = (
            await session.execute(whole_database(select(m.Document.masked_by_patient)))
        ).scalar_one()
    assert len(rows) == 1
    assert set(orjson.loads(rows[0].payload)) == {"at"}
    assert masked is True
