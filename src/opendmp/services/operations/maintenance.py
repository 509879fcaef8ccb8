"""Operations: retention (destruction with crypto-shredding), key rotation, orphan-blob
reaping, audit verification.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select

from opendmp.audit.verify import ChainReport, verify_all, verify_chain
from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import drop_chain
from opendmp.blobs import MasterKey
from opendmp.domain.actors import Actor, System
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Facts
from opendmp.domain.records import RecordStatus, destroy, is_due_for_destruction
from opendmp.services.core import keys as key_epochs
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit, require
from opendmp.services.core.records import ins_hash, lifecycle_of
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record

RETENTION = System("retention")


@dataclass(frozen=True, slots=True)
class RetentionResult:
    destroyed: int
    blobs_deleted: int
    # The key-encryption-key epoch opened to make the destructions final (None: none needed).
    epoch: int | None = None


async def run_retention(
    ctx: ServiceContext, *, actor: System = RETENTION, limit: int = 1000
) -> RetentionResult:
    """Destroy the closed records whose ``destroy_after`` has passed.

    One transaction per record: the rows go (the wrapped data key with the record row);
    only a tombstone remains (a hash of the INS, dates, reason) with an event on the system
    chain. The blob files are deleted after the commit. Then the key-encryption-key epoch
    is rotated (:func:`shred_destroyed_keys`): the KEK that wrapped the destroyed records'
    data keys is erased, so the copies of those wrapped keys that survive in old database
    pages, WAL and backups unwrap with nothing OpenDMP holds (docs/security.md).
    """
    now = ctx.now()
    async with ctx.uow() as uow:
        due = (
            (
                await uow.session.execute(
                    select(m.Record.id)
                    .where(m.Record.status == RecordStatus.CLOSED, m.Record.destroy_after <= now)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
    destroyed = blobs = 0
    for record_id in due:
        if await _destroy_one(ctx, actor, record_id, now):
            destroyed += 1
            blobs += await ctx.blobs.shred_record(str(record_id))
    rotation = await shred_destroyed_keys(ctx, actor=actor)
    return RetentionResult(destroyed, blobs, rotation.epoch if rotation is not None else None)


async def _destroy_one(
    ctx: ServiceContext, actor: System, record_id: uuid.UUID, now: dt.datetime
) -> bool:
    async with ctx.uow() as uow:
        session = uow.session
        row = (
            await session.execute(
                select(m.Record, m.Patient)
                .join(m.Patient, m.Patient.id == m.Record.patient_id)
                .where(m.Record.id == record_id)
                .with_for_update(of=m.Record)
            )
        ).one_or_none()
        if row is None:
            return False
        record, patient = row
        lc = lifecycle_of(record)
        if not is_due_for_destruction(lc, now=now):
            return False  # reactivated meanwhile
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.DESTROY,
            facts=Facts(lc.status),
            audit_action=AuditAction.RECORD_DESTROY,
            record_id=None,
        )
        destroy(lc, now=now)
        # Deleting the record row deletes its wrapped data key (old copies stay in the
        # database's pages until the epoch rotation erases their KEK). Every per-record row
        # goes with it (FK cascades as well), then the person.
        final_seq, final_hash = await drop_chain(session, record_id)
        tombstone_id = uuid.uuid4()
        session.add(
            m.RecordTombstone(
                id=tombstone_id,
                record_id=record_id,
                ins_hash=ins_hash(Ins(patient.ins_value, patient.ins_oid)),
                created_at=record.created_at,
                closed_at=record.closed_at,
                destroyed_at=now,
                reason=record.closure_reason,
            )
        )
        for table in (
            m.Document,
            m.SubmissionSet,
            m.Consent,
            m.Representative,
            m.Account,
            m.Authorization,
            m.TreatingDoctor,
            m.EmergencyAccess,
            m.MatrixNarrowing,
            m.Outbox,
            m.OptOutAnnouncement,  # the opt-out notice that opened it, objected to or not
        ):
            await session.execute(delete(table).where(table.record_id == record_id))
        await session.execute(delete(m.Record).where(m.Record.id == record_id))
        await session.execute(delete(m.Patient).where(m.Patient.id == patient.id))
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.RECORD_DESTROY,
            record_id=None,
            details={
                "tombstone": str(tombstone_id),
                "record_chain_events": final_seq,
                "record_chain_head": final_hash,
            },
        )
        await uow.commit()
        return True


async def shred_destroyed_keys(
    ctx: ServiceContext, *, actor: Actor = RETENTION, batch: int = key_epochs.DEFAULT_BATCH
) -> key_epochs.EpochRotation | None:
    """Make past destructions final: if a record was destroyed since the current epoch
    began, rotate the epoch (docs/security.md, crypto-shredding). Idempotent: after a crash
    anywhere in a previous run, running it again finishes the job."""
    if not await key_epochs.shredding_pending(ctx):
        return None
    rotation = await key_epochs.rotate_epoch(ctx, batch=batch)
    async with ctx.uow() as uow:
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.KEK_ROTATE,
            record_id=None,
            details={
                "epoch": rotation.epoch,
                "records": rotation.records,
                "erased": list(rotation.erased),
            },
        )
        await uow.commit()
    return rotation


async def rotate_master_key(
    ctx: ServiceContext,
    *,
    actor: Actor,
    new_key: MasterKey,
    persist: Callable[[MasterKey], None],
    forget_previous: Callable[[], None] = lambda: None,
    batch: int = key_epochs.DEFAULT_BATCH,
) -> int:
    """Move every record's data key under a new epoch whose KEK is wrapped by ``new_key``.

    Blobs are not touched. ``new_key`` is persisted first (the replaced key is kept as the
    previous one), then the epoch rotation re-wraps the data keys and erases the old KEKs,
    and only then is the previous master key forgotten (``forget_previous``). Killed at any
    point, every record stays readable with the keys on disk; passing the current key as
    ``new_key`` resumes an interrupted rotation without drawing another one.
    """
    old_key = ctx.previous_master_key if new_key == ctx.master_key else ctx.master_key
    if new_key != ctx.master_key:
        persist(new_key)
        ctx.previous_master_key, ctx.master_key = ctx.master_key, new_key
    rotation = await key_epochs.rotate_epoch(ctx, batch=batch)
    await key_epochs.rewrap_kept_keks(ctx)
    async with ctx.uow() as uow:
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.MASTER_KEY_ROTATE,
            record_id=None,
            details={
                "from": old_key.key_id if old_key is not None else None,
                "to": new_key.key_id,
                "records": rotation.records,
            },
        )
        await uow.commit()
    forget_previous()
    ctx.previous_master_key = None
    return rotation.records


async def previous_key_in_use(ctx: ServiceContext, previous: MasterKey) -> bool:
    """Does some record still depend on ``previous`` (an interrupted rotation)?"""
    async with ctx.sessions() as session:
        found = await session.execute(
            select(m.Record.id)
            .where(
                m.Record.wrapped_data_key.is_not(None),
                m.Record.master_key_id == previous.key_id,
            )
            .limit(1)
        )
        return found.first() is not None


async def reap_orphan_blobs(ctx: ServiceContext, *, grace: dt.timedelta) -> int:
    """Delete blobs that no committed document references, once older than ``grace``."""
    cutoff = (ctx.now() - grace).timestamp()
    by_record: dict[str, list[str]] = {}
    async for key, mtime in ctx.blobs.store.iter_keys():
        parts = key.split("/")
        # Only "<record uuid>/<blob>" is ours: never delete what we did not write.
        if mtime <= cutoff and len(parts) == 2:
            by_record.setdefault(parts[0], []).append(key)
    removed = 0
    async with ctx.uow() as uow:
        for record_part, keys in by_record.items():
            try:
                record_id = uuid.UUID(record_part)
            except ValueError:
                continue  # not ours: never delete what we did not write
            referenced: set[str] = set()
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                referenced.update(
                    (
                        await uow.session.execute(
                            select(m.Document.blob_key).where(
                                m.Document.record_id == record_id, m.Document.blob_key.in_(batch)
                            )
                        )
                    ).scalars()
                )
            for key in keys:
                if key not in referenced:
                    await ctx.blobs.store.delete(key)
                    removed += 1
    return removed


@dataclass(frozen=True, slots=True)
class Leftovers:
    orphan_blobs: int
    temporary_files: int


async def reap_leftovers(ctx: ServiceContext, *, grace: dt.timedelta) -> Leftovers:
    """What a crash mid-deposit leaves behind, once older than ``grace``: blobs no committed
    document references, and the temp files of interrupted blob writes. Younger ones may
    belong to a deposit in flight (docs/security.md, "Leftovers")."""
    orphans = await reap_orphan_blobs(ctx, grace=grace)
    temporaries = await ctx.blobs.store.reap_temporaries((ctx.now() - grace).timestamp())
    return Leftovers(orphans, temporaries)


async def verify_audit(ctx: ServiceContext, *, ins: Ins | None = None) -> list[ChainReport]:
    """Verify every chain (or the record's chain) and the chains without a head."""
    async with ctx.uow() as uow:
        session = uow.session
        if ins is not None:
            found = await find_record(session, ins)
            if found is None:
                from opendmp.domain.errors import NotFound

                raise NotFound("no record exists for this INS", code="record-not-found")
            return [await verify_chain(session, str(found[1].id))]
        reports = await verify_all(session)
    return reports
