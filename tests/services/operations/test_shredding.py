"""Crypto-shredding attacked as an attacker would (docs/security.md, "Crypto-shredding").

Before destruction the attacker keeps everything he could have copied: the record row's
wrapped data key, the blob files, and on SQLite the raw bytes of the database file and its
WAL. After ``retention run``, every key OpenDMP still holds (the master key and every KEK
its keyring files hold) must fail to unwrap the old wrapped key and to decrypt the old
blobs, while the surviving records stay readable. The blobs are copied from the filesystem
or from the S3 bucket: crypto-shredding is the same on both.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import MasterKey, new_data_key, unwrap_data_key, wrap_data_key
from opendmp.domain.errors import KeyFailure
from opendmp.services import documents
from opendmp.services.core import keys as key_epochs
from opendmp.services.core.context import ServiceContext
from opendmp.services.operations import maintenance
from opendmp.services.operations.health import prepare_keys
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import patient_actor
from tests.services.operations.test_keys_and_reaper import record_with_document
from tests.services.operations.test_retention import close, record_with_documents

RETENTION_DAYS = 365 * 10 + 3

pytestmark = pytest.mark.blob_backends


@dataclass
class Loot:
    """What an attacker copied before the destruction."""

    wrapped_key: bytes
    blobs: dict[str, bytes]  # document id -> blob bytes
    raw_database: bytes  # SQLite file + WAL bytes (empty on PostgreSQL: no file access)
    keyring_backup: Path


def _sqlite_bytes(engine: AsyncEngine) -> bytes:
    if engine.dialect.name != "sqlite":
        return b""
    path = Path(str(engine.url.database))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def steal(ctx: ServiceContext, engine: AsyncEngine, record_id: str, tmp: Path) -> Loot:
    async with ctx.sessions() as session:
        wrapped = (
            await session.execute(
                select(m.Record.wrapped_data_key).where(m.Record.id == uuid.UUID(record_id))
            )
        ).scalar_one()
        docs = (
            await session.execute(
                select(m.Document.id, m.Document.blob_key).where(
                    m.Document.record_id == uuid.UUID(record_id)
                )
            )
        ).all()
    assert wrapped is not None
    backup = tmp / "keyring-backup"
    shutil.copytree(ctx.keyring.directory, backup)
    return Loot(
        wrapped,
        {str(doc_id): await ctx.blobs.store.get(key) for doc_id, key in docs},
        _sqlite_bytes(engine),
        backup,
    )


def keks_in(keyring_dir: Path, masters: list[MasterKey]) -> list[bytes]:
    """Every KEK a keyring folder yields to these master keys, read as an attacker would."""
    found = []
    for path in sorted(keyring_dir.glob("*.json")):
        wrapped = base64.b64decode(json.loads(path.read_text())["wrapped_kek"])
        for master in masters:
            try:
                found.append(aes_key_unwrap(master.raw, wrapped))
            except InvalidUnwrap:
                continue
    return found


def keys_still_held(ctx: ServiceContext, key_dir: Path) -> list[bytes]:
    """The master key(s) OpenDMP holds (memory and files) and every KEK they unwrap."""
    masters = [ctx.master_key]
    if ctx.previous_master_key is not None:
        masters.append(ctx.previous_master_key)
    masters += [MasterKey.from_base64(p.read_text()) for p in key_dir.glob("master.key*")]
    return [m.raw for m in masters] + keks_in(ctx.keyring.directory, masters)


def opens(keys: list[bytes], loot: Loot) -> bool:
    """Does any of ``keys`` unwrap the stolen data key and decrypt every stolen blob?"""
    for key in keys:
        try:
            data_key = aes_key_unwrap(key, loot.wrapped_key)
        except InvalidUnwrap:
            continue
        for doc_id, blob in loot.blobs.items():
            try:
                AESGCM(data_key).decrypt(blob[1:13], blob[13:], blob[:1] + doc_id.encode())
            except InvalidTag:
                return False
        return True
    return False


async def test_no_key_opendmp_still_holds_opens_a_copy_of_a_destroyed_record(
    ctx: ServiceContext,
    engine: AsyncEngine,
    clock: Clock,
    tmp_path: Path,
) -> None:
    doomed_ins, doomed_id = await record_with_documents(ctx, 2)
    kept_ins, kept_doc = await record_with_document(ctx, b"kept document")
    await close(ctx, doomed_ins)
    loot = await steal(ctx, engine, doomed_id, tmp_path)
    key_dir = ctx.keyring.directory.parent
    # The attack works before the destruction: the test can fail.
    assert opens(keys_still_held(ctx, key_dir), loot)
    if engine.dialect.name == "sqlite":
        assert loot.wrapped_key in loot.raw_database

    clock.advance(days=RETENTION_DAYS)
    result = await maintenance.run_retention(ctx)

    assert result.destroyed == 1
    if engine.dialect.name == "sqlite":
        # The wrapped key may well survive in the database's free pages or WAL...
        raw_after = _sqlite_bytes(engine)
        assert loot.wrapped_key in loot.raw_database + raw_after
    # ... but nothing OpenDMP still holds unwraps it or decrypts the blobs.
    held = keys_still_held(ctx, key_dir)
    assert len(held) >= 2  # the master key and the current KEK at least
    assert not opens(held, loot)
    assert result.epoch is not None
    for key in held:
        with pytest.raises(InvalidUnwrap):
            aes_key_unwrap(key, loot.wrapped_key)
    # The surviving record is still readable, by the service and by its keys alone.
    _, content = await documents.read_document(
        ctx, actor=patient_actor(kept_ins), ins=kept_ins, document_id=kept_doc.id
    )
    assert content == b"kept document"
    # The documented limit: a backup of the keyring from before the rotation, with the
    # master key, still opens the copy. Keyring backups must expire (docs/security.md).
    assert opens([ctx.master_key.raw, *keks_in(loot.keyring_backup, [ctx.master_key])], loot)
    reports = await maintenance.verify_audit(ctx)
    assert all(r.ok for r in reports), reports


async def test_a_destruction_whose_rotation_crashed_is_made_final_by_the_next_run(
    ctx: ServiceContext,
    engine: AsyncEngine,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doomed_ins, doomed_id = await record_with_documents(ctx, 1)
    await close(ctx, doomed_ins)
    loot = await steal(ctx, engine, doomed_id, tmp_path)
    clock.advance(days=RETENTION_DAYS)

    async def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError("killed between the destruction and the rotation")

    with monkeypatch.context() as patch:
        patch.setattr(key_epochs, "rotate_epoch", crash)
        with pytest.raises(OSError):
            await maintenance.run_retention(ctx)
    key_dir = ctx.keyring.directory.parent
    assert await key_epochs.shredding_pending(ctx)
    assert opens(keys_still_held(ctx, key_dir), loot)  # not final yet

    result = await maintenance.run_retention(ctx)

    assert result.destroyed == 0
    assert result.epoch is not None
    assert not await key_epochs.shredding_pending(ctx)
    assert not opens(keys_still_held(ctx, key_dir), loot)
    assert (await maintenance.run_retention(ctx)).epoch is None  # nothing more to do


async def test_records_wrapped_before_epochs_are_moved_to_epoch_one_and_stay_readable(
    ctx: ServiceContext,
) -> None:
    """Upgrade: rows wrapped by the master key itself (kek_epoch NULL) keep reading, and
    start-up moves them under the current epoch's KEK."""
    ins, doc = await record_with_document(ctx, b"written before epochs")
    record_id = str(doc.record_id)
    async with ctx.uow() as uow:  # put the row back as version 0006 wrote it
        record = await uow.session.get(m.Record, uuid.UUID(record_id))
        assert record is not None and record.wrapped_data_key is not None
        data_key = key_epochs.open_data_key(
            ctx,
            key_epochs.SealedDataKey(record.wrapped_data_key, record.kek_epoch, None),
        )
        await uow.session.execute(
            update(m.Record)
            .where(m.Record.id == record.id)
            .values(
                wrapped_data_key=wrap_data_key(ctx.master_key, data_key),
                kek_epoch=None,
                master_key_id=ctx.master_key.key_id,
            )
        )
        await uow.commit()
    _, before = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )

    moved = await key_epochs.ensure_epochs(ctx)

    assert moved == 1
    async with ctx.sessions() as session:
        record = await session.get(m.Record, uuid.UUID(record_id))
    assert record is not None and record.kek_epoch is not None
    assert record.wrapped_data_key is not None
    with pytest.raises(KeyFailure):  # the master key alone no longer unwraps it
        unwrap_data_key(ctx.master_key, record.wrapped_data_key)
    _, after = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert after == before == b"written before epochs"


async def test_a_rotation_waits_for_a_record_being_created_under_the_current_epoch(
    ctx: ServiceContext,
) -> None:
    """The shared lock a record creation holds on ``key_state`` keeps a rotation from
    retiring the epoch it is wrapping under, until it commits (then it is re-wrapped)."""
    ins, doc = await record_with_document(ctx, b"created before the rotation")
    async with ctx.uow() as uow:
        seal = await key_epochs.data_key_sealer(ctx, uow.session)
        rotation = asyncio.create_task(key_epochs.rotate_epoch(ctx))
        await asyncio.sleep(0.5)
        assert not rotation.done()
        assert seal(new_data_key())["kek_epoch"] == 1
        await uow.commit()
    done = await asyncio.wait_for(rotation, timeout=30)
    assert (done.epoch, done.records, done.erased) == (2, 1, (1,))
    _, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert content == b"created before the rotation"


async def test_start_up_refuses_a_keyring_missing_a_kek_the_records_need(
    ctx: ServiceContext,
) -> None:
    """A database restored without its keyring: refused at start-up, never papered over
    with a fresh KEK (which would leave every record unreadable)."""
    await record_with_document(ctx, b"needs epoch 1")
    kek_file = ctx.keyring.path(1)
    kek_file.unlink()

    with pytest.raises(KeyFailure) as refused:
        await prepare_keys(ctx)

    assert refused.value.code == "kek-missing"
    assert not kek_file.exists()
    assert ctx.keyring.epochs() == []
