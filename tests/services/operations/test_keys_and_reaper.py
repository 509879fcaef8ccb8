"""Master-key rotation (re-wraps data keys, never touches blobs) and the orphan-blob reaper
(removes only old blobs of ours that no document references), on both databases and on
both blob stores (filesystem, S3)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import orjson
import pytest
from sqlalchemy import select

from opendmp.audit.sequencer import sequence_all
from opendmp.blobs import BlobStore, FilesystemBlobStore, MasterKey, new_data_key
from opendmp.domain.errors import KeyFailure
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.documents import DocumentView
from opendmp.services.operations.health import check_master_key
from opendmp.services.operations.maintenance import (
    reap_leftovers,
    reap_orphan_blobs,
    rotate_master_key,
    verify_audit,
)
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.blob_support import (
    exists,
    leave_crash_leftover,
    open_uploads,
    set_mtime,
    stored_names,
)
from tests.factories import (
    OPERATOR,
    make_ins,
    make_professional,
    new_record,
    patient_actor,
    submission,
)
from tests.record_scope import document_by_id

GRACE = dt.timedelta(hours=24)

pytestmark = pytest.mark.blob_backends

# --- helpers --------------------------------------------------------------------------------


async def record_with_document(ctx: ServiceContext, content: bytes) -> tuple[Ins, DocumentView]:
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    doc = await documents.deposit_document(
        ctx, actor=make_professional(), ins=ins, submission=submission(ctx.now(), content)
    )
    return ins, doc


async def snapshot(store: BlobStore) -> dict[str, tuple[bytes, float]]:
    """Every blob's bytes and modification time, by key."""
    return {key: (await store.get(key), mtime) async for key, mtime in store.iter_keys()}


def set_age(store: BlobStore, key: str, ctx: ServiceContext, age: dt.timedelta) -> None:
    """Make the blob ``key`` look ``age`` old relative to the service clock."""
    set_mtime(store, key, ctx.now() - age)


async def orphan_blob(ctx: ServiceContext, record_id: uuid.UUID) -> str:
    """A blob as a crashed deposit would leave it: written, never referenced."""
    return await ctx.blobs.put_document(
        data_key=new_data_key(),
        record_id=str(record_id),
        document_id=str(uuid.uuid4()),
        content=b"left behind by a failed deposit",
    )


async def blob_key(ctx: ServiceContext, document_id: uuid.UUID) -> str:
    async with ctx.sessions() as session:
        doc = await document_by_id(session, document_id)
    assert doc is not None
    return doc.blob_key


# --- master-key rotation ----------------------------------------------------------------------


async def test_after_rotation_the_old_key_no_longer_opens_anything(
    ctx: ServiceContext,
) -> None:
    ins, doc = await record_with_document(ctx, b"written under the old key")
    old_ctx = dataclasses.replace(ctx)
    persisted: list[MasterKey] = []

    await rotate_master_key(
        ctx, actor=OPERATOR, new_key=MasterKey.generate(), persist=persisted.append
    )

    with pytest.raises(KeyFailure) as caught:
        await documents.read_document(
            old_ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
        )
    assert caught.value.code == "master-key-mismatch"
    with pytest.raises(KeyFailure) as at_start:
        await check_master_key(old_ctx)
    assert at_start.value.code == "master-key-mismatch"


async def test_rotation_rewraps_every_record_and_old_documents_still_read(
    ctx: ServiceContext, blob_store: BlobStore
) -> None:
    contents = [b"first document, old key", b"second document, old key"]
    deposited = [await record_with_document(ctx, c) for c in contents]
    old_key = ctx.master_key
    new_key = MasterKey.generate()
    blobs_before = await snapshot(blob_store)
    assert len(blobs_before) == 2
    persisted: list[MasterKey] = []

    count = await rotate_master_key(ctx, actor=OPERATOR, new_key=new_key, persist=persisted.append)

    assert count == 2
    assert persisted == [new_key]
    assert ctx.master_key == new_key
    async with ctx.sessions() as session:
        key_ids = (await session.execute(select(m.Record.master_key_id))).scalars().all()
    assert list(key_ids) == [new_key.key_id, new_key.key_id]
    assert old_key.key_id not in key_ids
    for (ins, doc), content in zip(deposited, contents, strict=True):
        _, read = await documents.read_document(
            ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
        )
        assert read == content
    # Rotation re-wraps the small data keys only: blob files are byte-identical, untouched.
    assert await snapshot(blob_store) == blobs_before
    await check_master_key(ctx)


async def test_rotation_is_audited_on_the_system_chain(ctx: ServiceContext) -> None:
    await record_with_document(ctx, b"content")
    old_key, new_key = ctx.master_key, MasterKey.generate()

    await rotate_master_key(ctx, actor=OPERATOR, new_key=new_key, persist=lambda _key: None)
    await sequence_all(ctx.sessions)

    async with ctx.sessions() as session:
        events = (
            (
                await session.execute(
                    select(m.AuditEvent)
                    .where(m.AuditEvent.chain == "system", m.AuditEvent.record_id.is_(None))
                    .order_by(m.AuditEvent.seq)
                )
            )
            .scalars()
            .all()
        )
    assert [e.action for e in events] == ["keys:master-key:rotate"]
    event = events[0]
    assert (event.actor_kind, event.actor_id, event.outcome) == (
        "operator",
        OPERATOR.login,
        "success",
    )
    details = orjson.loads(event.details or "{}")
    assert details == {"from": old_key.key_id, "to": new_key.key_id, "records": 1}
    assert old_key.to_base64() not in (event.details or "")
    assert new_key.to_base64() not in (event.details or "")
    reports = await verify_audit(ctx)
    assert all(r.ok for r in reports), reports


async def test_records_created_after_rotation_use_the_new_key(ctx: ServiceContext) -> None:
    new_key = MasterKey.generate()
    await rotate_master_key(ctx, actor=OPERATOR, new_key=new_key, persist=lambda _key: None)
    ins, doc = await record_with_document(ctx, b"after rotation")
    _, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert content == b"after rotation"
    async with ctx.sessions() as session:
        _, record = await get_record(session, ins)
    assert record.master_key_id == new_key.key_id


# --- orphan-blob reaper -----------------------------------------------------------------------


async def test_the_reaper_keeps_a_young_orphan(ctx: ServiceContext, blob_store: BlobStore) -> None:
    _, doc = await record_with_document(ctx, b"kept")
    young = await orphan_blob(ctx, doc.record_id)
    set_age(blob_store, young, ctx, GRACE - dt.timedelta(minutes=5))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert await exists(blob_store, young)


async def test_the_reaper_keeps_a_referenced_blob_however_old(
    ctx: ServiceContext, blob_store: BlobStore
) -> None:
    ins, doc = await record_with_document(ctx, b"referenced")
    key = await blob_key(ctx, doc.id)
    set_age(blob_store, key, ctx, dt.timedelta(days=3650))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert await exists(blob_store, key)
    _, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert content == b"referenced"


async def test_the_reaper_never_touches_files_under_a_folder_that_is_not_a_record_id(
    ctx: ServiceContext, blob_store: BlobStore
) -> None:
    foreign = "not-a-record/backup.tar"
    await blob_store.put(foreign, b"someone else's file")
    set_age(blob_store, foreign, ctx, dt.timedelta(days=400))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert await blob_store.get(foreign) == b"someone else's file"


async def test_the_reaper_never_touches_a_file_at_the_root_even_if_named_like_a_uuid(
    ctx: ServiceContext, blob_store: BlobStore
) -> None:
    stray = str(uuid.uuid4())
    await blob_store.put(stray, b"not written by OpenDMP")
    set_age(blob_store, stray, ctx, dt.timedelta(days=400))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert await exists(blob_store, stray)


async def test_the_reaper_removes_an_old_unreferenced_blob_and_only_that(
    ctx: ServiceContext, blob_store: BlobStore
) -> None:
    ins, doc = await record_with_document(ctx, b"the real document")
    referenced = await blob_key(ctx, doc.id)
    old_orphan = await orphan_blob(ctx, doc.record_id)
    orphan_of_unknown_record = await orphan_blob(ctx, uuid.uuid4())
    young_orphan = await orphan_blob(ctx, doc.record_id)
    foreign = "exports/report.csv"
    await blob_store.put(foreign, b"x")
    for key in (referenced, old_orphan, orphan_of_unknown_record, foreign):
        set_age(blob_store, key, ctx, GRACE + dt.timedelta(minutes=1))
    set_age(blob_store, young_orphan, ctx, dt.timedelta(minutes=1))

    removed = await reap_orphan_blobs(ctx, grace=GRACE)

    assert removed == 2
    assert not await exists(blob_store, old_orphan)
    assert not await exists(blob_store, orphan_of_unknown_record)
    for kept in (referenced, young_orphan, foreign):
        assert await exists(blob_store, kept)
    _, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert content == b"the real document"
    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0


async def test_the_leftovers_of_a_crash_go_once_past_the_grace_on_either_store(
    ctx: ServiceContext, blob_store: BlobStore
) -> None:
    """What a kill -9 mid-deposit leaves: an unreferenced blob, and a write cut short (a
    ``.tmp-*`` file; on S3 an open multipart upload, which moto always dates 2010)."""
    _, doc = await record_with_document(ctx, b"kept")
    referenced = await blob_key(ctx, doc.id)
    orphan = await orphan_blob(ctx, doc.record_id)
    cut = leave_crash_leftover(blob_store, str(doc.record_id), "cut-short")
    for name in (orphan, cut) if isinstance(blob_store, FilesystemBlobStore) else (orphan,):
        set_age(blob_store, name, ctx, GRACE + dt.timedelta(minutes=1))

    reaped = await reap_leftovers(ctx, grace=GRACE)

    assert (reaped.orphan_blobs, reaped.temporary_files) == (1, 1)
    assert await stored_names(blob_store) == [referenced]
    assert await open_uploads(blob_store) == []
