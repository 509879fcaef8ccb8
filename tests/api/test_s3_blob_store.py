"""The app wired by the composition root with ``OPENDMP_BLOB_STORE=s3://…`` (moto's S3 server
on loopback), on both databases: a document deposited over FHIR (ITI-65) comes back
byte for byte over ITI-68, and what the bucket holds is ciphertext only
(docs/architecture.md §7, "Where blobs live")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, create_app
from opendmp.blobs.s3 import PART_SIZE, S3BlobStore
from opendmp.domain.identifiers import Ins
from opendmp.storage import models as m
from tests.api.fhir_read_support import auth, patient
from tests.api.provide_support import (
    FHIR_JSON,
    bearer,
    client,
    create_record_for,
    ihe_bundle,
    set_content,
)
from tests.conftest import app_settings, runtime_on, wall_clock
from tests.factories import make_ins
from tests.record_scope import whole_database
from tests.s3_support import REGION, s3_client

SMALL = b"Compte rendu fictif de M. Test Exemple: tension 12/8, rien a signaler.\n"
# Above one part: the store sends it as a multipart upload (its threshold lowered below).
LARGE = (SMALL * (PART_SIZE // len(SMALL) + 2))[: PART_SIZE + 4096]


@pytest.fixture
async def s3_runtime(
    engine: AsyncEngine,
    tmp_path: Path,
    s3_endpoint: str,
    s3_store_url: str,
    _only_the_test_database_is_configured: None,
) -> AsyncIterator[Runtime]:
    settings = app_settings(
        tmp_path, blob_store=s3_store_url, s3_endpoint_url=s3_endpoint, s3_region=REGION
    )
    rt = await runtime_on(engine, settings, wall_clock)  # the store the settings name
    yield rt
    await rt.ctx.blobs.store.close()


def s3_store(rt: Runtime) -> S3BlobStore:
    store = rt.ctx.blobs.store
    assert isinstance(store, S3BlobStore)
    return store


async def deposit_over_fhir(rt: Runtime, ins: Ins, content: bytes) -> m.Document:
    bundle = ihe_bundle(ins)
    set_content(bundle, content)
    headers = {**bearer(), "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    async with client(create_app(rt.settings, rt)) as http:
        response = await http.post("/fhir", content=orjson.dumps(bundle), headers=headers)
    assert response.status_code == 200, response.text
    async with rt.ctx.sessions() as session:
        [doc] = (await session.execute(whole_database(select(m.Document)))).scalars().all()
    return doc


async def test_the_composition_root_opens_the_s3_store_the_settings_name(
    s3_runtime: Runtime, s3_store_url: str, s3_endpoint: str
) -> None:
    store = s3_store(s3_runtime)
    assert store.url == s3_store_url + "/"
    assert store.endpoint_url == s3_endpoint
    assert not (s3_runtime.settings.home / "blobs").exists()  # nothing on the local disk
    async with client(create_app(s3_runtime.settings, s3_runtime)) as http:
        ready = await http.get("/readyz")
    assert (ready.status_code, ready.json()["blobs"]) == (200, "ok")


@pytest.mark.parametrize("content", [SMALL, LARGE], ids=["small", "multipart"])
async def test_a_document_deposited_over_fhir_comes_back_whole_and_is_ciphertext_in_s3(
    s3_runtime: Runtime, content: bytes
) -> None:
    store = s3_store(s3_runtime)
    store.multipart_threshold = 0
    ins = make_ins()
    await create_record_for(s3_runtime, ins)

    doc = await deposit_over_fhir(s3_runtime, ins, content)

    assert store.endpoint_url is not None
    stored = (
        s3_client(store.endpoint_url)
        .get_object(Bucket=store.bucket, Key=store.prefix + doc.blob_key)["Body"]
        .read()
    )
    assert len(stored) == len(content) + 29  # version, nonce, tag: the envelope of §7
    assert content not in stored
    assert b"Test Exemple" not in stored
    headers = {**auth(s3_runtime.ctx, patient(ins)), "Accept": "text/plain"}
    async with client(create_app(s3_runtime.settings, s3_runtime)) as http:
        response = await http.get(f"/fhir/Binary/{doc.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.content == content


async def test_an_object_store_out_of_reach_is_a_503_not_a_500(
    engine: AsyncEngine, tmp_path: Path, _only_the_test_database_is_configured: None
) -> None:
    settings = app_settings(
        tmp_path, blob_store="s3://opendmp-gone/blobs", s3_endpoint_url="http://127.0.0.1:9"
    )
    rt = await runtime_on(engine, settings, wall_clock)
    s3_store(rt).attempts = 1
    ins = make_ins()
    await create_record_for(rt, ins)
    bundle = ihe_bundle(ins)
    headers = {**bearer(), "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    async with client(create_app(rt.settings, rt)) as http:
        deposit = await http.post("/fhir", content=orjson.dumps(bundle), headers=headers)
        ready = await http.get("/readyz")
    assert deposit.status_code == 503, deposit.text
    assert "blob-store-unavailable" in deposit.text
    assert ready.status_code == 503
    async with rt.ctx.sessions() as session:
        assert (await session.execute(whole_database(select(m.Document)))).scalars().all() == []
