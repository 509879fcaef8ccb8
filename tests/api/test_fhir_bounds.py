"""Bounded work per request (docs/security.md): each OPENDMP_MAX_* bound is refused with a
413 (bytes) or 422 (too many) OperationOutcome naming the limit, before the costly work, and
leaves nothing behind (no row, no blob, no audit event); a request at the bound is served.
Then the other half of the promise: while a large allowed deposit is processed, another
professional's search is served — on both databases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore
from opendmp.domain.identifiers import Ins
from opendmp.domain.limits import LimitExceeded, RequestLimits
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.deposit import DocumentInput, SubmissionSetInput, provide_documents
from opendmp.storage import models as m
from tests.api.bounds_support import cda_of_size, large_bundle
from tests.api.fhir_read_support import AUTHOR, DOCTOR, auth, body_of, codes_of, deposit, ins_token
from tests.api.provide_support import FHIR_JSON, FHIR_XML, ans_iti105, b64, sha1_b64, to_xml
from tests.record_scope import whole_database

SEARCH = "/fhir/DocumentReference"
SMALL = RequestLimits(
    max_bundle_entries=7,
    max_documents=3,
    max_document_bytes=4096,
    max_search_values=5,
    max_patch_operations=2,
)


@pytest.fixture
def small(ctx: ServiceContext) -> RequestLimits:
    """The app of ``http`` (tests/api/conftest.py) runs with small bounds."""
    ctx.limits = SMALL
    return SMALL


async def footprint(ctx: ServiceContext, blob_root: Path) -> tuple[int, int, int, int]:
    """(documents, submission sets, audit events, blob files)."""
    async with ctx.sessions() as session:
        counted = [
            (
                await session.execute(whole_database(select(func.count()).select_from(table)))
            ).scalar_one()
            for table in (m.Document, m.SubmissionSet, m.AuditEvent)
        ]
    blobs = sum(1 for p in blob_root.rglob("*") if p.is_file())
    return counted[0], counted[1], counted[2], blobs


async def refused(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    blob_root: Path,
    request: dict[str, Any],
    status: int,
    code: str,
    limit: int,
) -> dict[str, Any]:
    """Send ``request`` (httpx.request arguments); check the refusal and that it left nothing."""
    before = await footprint(ctx, blob_root)
    response = await http.request(**request)
    body = body_of(response)
    assert (response.status_code, body["resourceType"]) == (status, "OperationOutcome"), body
    assert code in codes_of(body), body
    assert f"the {limit} accepted" in body["issue"][0]["diagnostics"], body
    assert await footprint(ctx, blob_root) == before, "a refused request changed something"
    return body


def post_bundle(
    ctx: ServiceContext, bundle: dict[str, Any], *, xml: bool = False
) -> dict[str, Any]:
    content = to_xml(bundle) if xml else orjson.dumps(bundle)
    headers = {**auth(ctx, AUTHOR), "Content-Type": FHIR_XML if xml else FHIR_JSON}
    return {"method": "POST", "url": "/fhir", "content": content, "headers": headers}


# --- ITI-65: entries, documents, bytes -------------------------------------------------------


@pytest.mark.parametrize("xml", [False, True], ids=["json", "xml"])
async def test_a_bundle_beyond_the_entry_bound_is_422_before_it_is_validated(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    blob_root: Path,
    ins: Ins,
    small: RequestLimits,
    xml: bool,
) -> None:
    bundle = large_bundle(ins, 3, 500)  # 7 entries: at the bound
    bundle["entry"].append(dict(bundle["entry"][-1]))  # 8
    if not xml:
        # Counted before the R4B validation: an invalid entry does not change the answer.
        bundle["entry"][-1] = {"resource": {"resourceType": "Binary", "data": False}}
    request = post_bundle(ctx, bundle, xml=xml)
    await refused(http, ctx, blob_root, request, 422, "too-many-entries", 7)


async def test_a_bundle_at_the_bounds_is_stored(
    http: httpx.AsyncClient, ctx: ServiceContext, blob_root: Path, ins: Ins, small: RequestLimits
) -> None:
    bundle = large_bundle(ins, 3, 4096)  # 7 entries, 3 documents of exactly 4096 bytes
    sizes = {e["resource"]["content"][0]["attachment"]["size"] for e in bundle["entry"][1::2]}
    assert sizes == {4096}
    response = await http.request(**post_bundle(ctx, bundle))
    assert response.status_code == 200, response.text
    assert (await footprint(ctx, blob_root))[0::3] == (3, 3)


async def test_a_bundle_beyond_the_document_bound_is_422(
    http: httpx.AsyncClient, ctx: ServiceContext, blob_root: Path, ins: Ins, small: RequestLimits
) -> None:
    ctx.limits = dataclasses.replace(SMALL, max_bundle_entries=100)
    request = post_bundle(ctx, large_bundle(ins, 4, 500))
    await refused(http, ctx, blob_root, request, 422, "too-many-documents", 3)


async def test_a_document_beyond_the_byte_bound_is_413(
    http: httpx.AsyncClient, ctx: ServiceContext, blob_root: Path, ins: Ins, small: RequestLimits
) -> None:
    bundle = large_bundle(ins, 2, 500)
    binary = bundle["entry"][4]["resource"]
    binary["data"] = b64(cda_of_size("1.2.3", ins, 4097))  # decoded size is what counts
    await refused(http, ctx, blob_root, post_bundle(ctx, bundle), 413, "document-too-large", 4096)


async def test_iti105_beyond_the_byte_bound_is_413_and_at_it_is_stored(
    http: httpx.AsyncClient, ctx: ServiceContext, blob_root: Path, ins: Ins, small: RequestLimits
) -> None:
    doc = ans_iti105(ins)
    unique_id = doc["masterIdentifier"]["value"].removeprefix("urn:oid:")
    headers = {**auth(ctx, AUTHOR), "Content-Type": FHIR_JSON}
    request: dict[str, Any] = {"method": "POST", "url": SEARCH, "headers": headers}
    for size, status in ((4097, 413), (4096, 201)):
        content = cda_of_size(unique_id, ins, size)
        attachment = doc["content"][0]["attachment"]
        attachment.update(data=b64(content), size=len(content), hash=sha1_b64(content))
        sent = {**request, "content": orjson.dumps(doc)}
        if status == 413:
            await refused(http, ctx, blob_root, sent, 413, "document-too-large", 4096)
        else:
            response = await http.request(**sent)
            assert response.status_code == 201, response.text


async def test_the_service_bounds_every_deposit_path(
    ctx: ServiceContext, blob_root: Path, ins: Ins, small: RequestLimits
) -> None:
    """The portals' deposits go through the same service: it checks the bounds itself."""
    before = await footprint(ctx, blob_root)
    one = DocumentInput(
        unique_id="1.2.3.1",
        type_code="11490-0",
        mime_type="application/pdf",
        content=b"%PDF-1.4 " + b"x" * 4087,  # 4096 bytes
        creation_time=ctx.now(),
    )
    many = [dataclasses.replace(one, unique_id=f"1.2.3.{n}") for n in range(4)]
    big = dataclasses.replace(one, content=one.content + b"x")
    sub = SubmissionSetInput(unique_id="2.25.1", source_id="1.2.3")
    cases = ((many, 422, "too-many-documents"), ([many[0], big], 413, "document-too-large"))
    for documents, status, code in cases:
        with pytest.raises(LimitExceeded) as caught:
            await provide_documents(ctx, actor=AUTHOR, ins=ins, submission=sub, documents=documents)
        assert (caught.value.http_status, caught.value.code) == (status, code)
    assert await footprint(ctx, blob_root) == before
    stored = await provide_documents(ctx, actor=AUTHOR, ins=ins, submission=sub, documents=many[:3])
    assert stored.created == [True, True, True]


# --- searches and PATCH ----------------------------------------------------------------------


@pytest.mark.parametrize("post", [False, True], ids=["get", "post"])
async def test_a_search_parameter_beyond_the_value_bound_is_422(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    blob_root: Path,
    ins: Ins,
    small: RequestLimits,
    post: bool,
) -> None:
    params = {"patient.identifier": ins_token(ins), "status": "current"}
    at_bound = {**params, "type": ",".join(["11488-4"] * 5)}
    response = await http.get(SEARCH, params=at_bound, headers=auth(ctx, AUTHOR))
    assert response.status_code == 200, response.text
    beyond = {**params, "identifier": ",".join(f"1.2.3.{n}" for n in range(6))}
    request: dict[str, Any] = {"headers": auth(ctx, AUTHOR)}
    if post:
        request.update(method="POST", url=f"{SEARCH}/_search", data=beyond)
    else:
        request.update(method="GET", url=SEARCH, params=beyond)
    await refused(http, ctx, blob_root, request, 422, "too-many-values", 5)
    # Repeats count too, and the other searches (PDQm Patient) are bounded alike.
    repeated = [("identifier", ins_token(ins))] * 6
    request = {"method": "GET", "url": "/fhir/Patient", "params": repeated}
    request["headers"] = auth(ctx, AUTHOR, scope="ITI-78")
    await refused(http, ctx, blob_root, request, 422, "too-many-values", 5)


async def test_a_patch_beyond_the_operation_bound_is_422_and_changes_nothing(
    http: httpx.AsyncClient, ctx: ServiceContext, blob_root: Path, ins: Ins, small: RequestLimits
) -> None:
    view = await deposit(ctx, ins)
    # Each copy doubles the list: the work of a PATCH grows exponentially with its operations.
    doubling = {"op": "copy", "from": "/securityLabel", "path": "/securityLabel/0"}
    headers = {**auth(ctx, AUTHOR, scope="ITI-65"), "Content-Type": "application/json-patch+json"}
    url = f"{SEARCH}/{view.entry_uuid.removeprefix('urn:uuid:')}"
    request: dict[str, Any] = {"method": "PATCH", "url": url, "headers": headers}
    sent = {**request, "content": orjson.dumps([doubling] * 3)}
    before = await footprint(ctx, blob_root)
    response = await http.request(**sent)
    body = body_of(response)
    assert (response.status_code, codes_of(body)) == (422, {"too-many-operations"}), body
    assert "the 2 accepted" in body["issue"][0]["diagnostics"]
    # The metadata read before the PATCH is applied is audited; nothing else changed.
    after = await footprint(ctx, blob_root)
    assert (after[0], after[1], after[3]) == (before[0], before[1], before[3])


# --- a large deposit does not stall the others ----------------------------------------------


class ObservedStore(FilesystemBlobStore):
    """The real blob store, telling when the first blob of a deposit is being written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.first_write = asyncio.Event()

    async def put(self, key: str, data: bytes) -> None:
        self.first_write.set()
        await super().put(key, data)


async def search_during_deposit(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, bundle: dict[str, Any]
) -> dict[str, Any]:
    """Another professional's search, sent while the deposit writes its first blob: what it
    found, and when each request ended."""
    store = ObservedStore(ctx.blobs.store.root)  # type: ignore[attr-defined]
    ctx.blobs = EncryptedBlobs(store)
    headers = {**auth(ctx, AUTHOR), "Content-Type": FHIR_JSON}
    found: dict[str, Any] = {}

    async def timed(name: str, request: Any) -> httpx.Response:
        response: httpx.Response = await request
        found[f"{name} ended"] = time.perf_counter()
        return response

    found["started"] = time.perf_counter()
    depositing = asyncio.create_task(
        timed("deposit", http.post("/fhir", content=orjson.dumps(bundle), headers=headers))
    )
    await store.first_write.wait()
    found["search asked"] = time.perf_counter()
    searched = await timed("search", search(http, ctx, ins))
    found["search"], found["deposit"] = searched, await depositing
    return found


def search(http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins) -> Any:
    params = {"patient.identifier": ins_token(ins), "status": "current"}
    return http.get(SEARCH, params=params, headers=auth(ctx, DOCTOR))


async def test_a_search_is_served_while_a_large_deposit_is_processed(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    """A deposit at the document bound (100 CDA documents of 100 kB, ~13 MB of JSON): another
    professional's search, sent while the deposit writes its blobs, is answered from the
    state before the deposit — it did not wait for the deposit's write transaction — and
    ends before the deposit does."""
    await deposit(ctx, ins)  # something to find
    before = (await search(http, ctx, ins)).json()["total"]
    bundle = large_bundle(ins, ctx.limits.max_documents, 100_000)
    found = await search_during_deposit(http, ctx, ins, bundle)
    assert (found["deposit"].status_code, found["search"].status_code) == (200, 200)
    took = found["deposit ended"] - found["started"]
    latency = found["search ended"] - found["search asked"]
    print(f"deposit {took:.2f} s, concurrent search {latency:.2f} s")  # docs/security.md
    assert found["search"].json()["total"] == before, "the search waited for the deposit"
    assert found["search ended"] < found["deposit ended"]
    assert (await search(http, ctx, ins)).json()["total"] == before + ctx.limits.max_documents
