"""Master-key rotation (re-wraps data keys, never touches blobs) and the orphan-blob reaper
(removes only old blobs of ours that no document references)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from opendmp.blobs import MasterKey, new_data_key
from opendmp.domain.errors import KeyFailure
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.documents import DocumentView
from opendmp.services.operations.health import check_master_key
from opendmp.services.operations.maintenance import (
    reap_orphan_blobs,
    rotate_master_key,
    verify_audit,
)
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
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

# --- helpers --------------------------------------------------------------------------------


async def record_with_document(ctx: ServiceContext, content: bytes) -> tuple[Ins, DocumentView]:
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    doc = await documents.deposit_document(
        ctx, actor=make_professional(), ins=ins, submission=submission(ctx.now(), content)
    )
    return ins, doc


def snapshot(blob_root: Path) -> dict[str, tuple[bytes, int]]:
    """Every blob file's bytes and modification time (ns), by relative path."""
    return {
        p.relative_to(blob_root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(blob_root.rglob("*"))
        if p.is_file()
    }


def set_age(path: Path, ctx: ServiceContext, age: dt.timedelta) -> None:
    """Make ``path`` look ``age`` old relative to the service clock."""
    moment = (ctx.now() - age).timestamp()
    os.utime(path, (moment, moment))


async def orphan_blob(ctx: ServiceContext, record_id: uuid.UUID, blob_root: Path) -> Path:
    """A blob as a crashed deposit would leave it: written, never referenced."""
    key = await ctx.blobs.put_document(
        data_key=new_data_key(),
        record_id=str(record_id),
        document_id=str(uuid.uuid4()),
        content=b"left behind by a failed deposit",
    )
    return blob_root / key


async def blob_path(ctx: ServiceContext, blob_root: Path, document_id: uuid.UUID) -> Path:
    async with ctx.sessions() as session:
        doc = await document_by_id(session, document_id)
    assert doc is not None
    return blob_root / doc.blob_key


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
    ctx: ServiceContext, blob_root: Path
) -> None:
    contents = [b"first document, old key", b"second document, old key"]
    deposited = [await record_with_document(ctx, c) for c in contents]
    old_key = ctx.master_key
    new_key = MasterKey.generate()
    blobs_before = snapshot(blob_root)
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
    assert snapshot(blob_root) == blobs_before
    await check_master_key(ctx)


async def test_rotation_is_audited_on_the_system_chain(ctx: ServiceContext) -> None:
    await record_with_document(ctx, b"content")
    old_key, new_key = ctx.master_key, MasterKey.generate()

    await rotate_master_key(ctx, actor=OPERATOR, new_key=new_key, persist=lambda _key: None)

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


async def test_the_reaper_keeps_a_young_orphan(ctx: ServiceContext, blob_root: Path) -> None:
    _, doc = await record_with_document(ctx, b"kept")
    young = await orphan_blob(ctx, doc.record_id, blob_root)
    set_age(young, ctx, GRACE - dt.timedelta(minutes=5))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert young.exists()


async def test_the_reaper_keeps_a_referenced_blob_however_old(
    ctx: ServiceContext, blob_root: Path
) -> None:
    ins, doc = await record_with_document(ctx, b"referenced")
    path = await blob_path(ctx, blob_root, doc.id)
    set_age(path, ctx, dt.timedelta(days=3650))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert path.exists()
    _, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert content == b"referenced"


async def test_the_reaper_never_touches_files_under_a_folder_that_is_not_a_record_id(
    ctx: ServiceContext, blob_root: Path
) -> None:
    foreign = blob_root / "not-a-record" / "backup.tar"
    foreign.parent.mkdir()
    foreign.write_bytes(b"someone else's file")
    set_age(foreign, ctx, dt.timedelta(days=400))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert foreign.read_bytes() == b"someone else's file"


async def test_the_reaper_never_touches_a_file_at_the_root_even_if_named_like_a_uuid(
    ctx: ServiceContext, blob_root: Path
) -> None:
    stray = blob_root / str(uuid.uuid4())
    stray.write_bytes(b"not written by OpenDMP")
    set_age(stray, ctx, dt.timedelta(days=400))

    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
    assert stray.exists()


async def test_the_reaper_removes_an_old_unreferenced_blob_and_only_that(
    ctx: ServiceContext, blob_root: Path
) -> None:
    ins, doc = await record_with_document(ctx, b"the real document")
    referenced = await blob_path(ctx, blob_root, doc.id)
    old_orphan = await orphan_blob(ctx, doc.record_id, blob_root)
    orphan_of_unknown_record = await orphan_blob(ctx, uuid.uuid4(), blob_root)
    young_orphan = await orphan_blob(ctx, doc.record_id, blob_root)
    foreign = blob_root / "exports" / "report.csv"
    foreign.parent.mkdir()
    foreign.write_bytes(b"x")
    for path in (referenced, old_orphan, orphan_of_unknown_record, foreign):
        set_age(path, ctx, GRACE + dt.timedelta(minutes=1))
    set_age(young_orphan, ctx, dt.timedelta(minutes=1))

    removed = await reap_orphan_blobs(ctx, grace=GRACE)

    assert removed == 2
    assert not old_orphan.exists()
    assert not orphan_of_unknown_record.exists()
    assert referenced.exists()
    assert young_orphan.exists()
    assert foreign.exists()
    _, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert content == b"the real document"
    assert await reap_orphan_blobs(ctx, grace=GRACE) == 0
