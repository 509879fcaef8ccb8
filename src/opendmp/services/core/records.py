"""Finding a record and what every use case reads off it: its row, its lifecycle, whether
the actor is its patient or a registered legal representative."""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.actors import Actor, Patient
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import (
    ClosureReason,
    Lifecycle,
    RecordStatus,
)
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record


def ins_hash(ins: Ins) -> str:
    """A stable, non-reversible reference to an INS (tombstones, logs)."""
    return hashlib.sha256(f"opendmp-ins:{ins.oid}|{ins.value}".encode()).hexdigest()


async def get_record(
    session: AsyncSession, ins: Ins, *, for_update: bool = False
) -> tuple[m.Patient, m.Record]:
    found = await find_record(session, ins, for_update=for_update)
    if found is None:
        raise NotFound("no record exists for this INS", code="record-not-found")
    return found


def is_subject(actor: Actor, ins: Ins) -> bool:
    return isinstance(actor, Patient) and actor.ins == str(ins)


def lifecycle_of(record: m.Record) -> Lifecycle:
    return Lifecycle(
        status=RecordStatus(record.status),
        created_at=record.created_at,
        closed_at=record.closed_at,
        closure_reason=ClosureReason(record.closure_reason) if record.closure_reason else None,
        closure_text=record.closure_text,
        destroy_after=record.destroy_after,
        destruction_requested_at=record.destruction_requested_at,
        reactivated_at=record.reactivated_at,
    )
