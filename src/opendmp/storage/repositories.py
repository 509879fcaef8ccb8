"""Repository queries shared by the services. Every per-record query names ``record_id``
(or reaches the record through the patient's INS), so the schema can be sharded by record.
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.identifiers import Ins
from opendmp.storage import models as m


async def find_record(
    session: AsyncSession, ins: Ins, *, for_update: bool = False
) -> tuple[m.Patient, m.Record] | None:
    """The person and their record by INS; ``for_update`` locks the record row.

    The lock is PostgreSQL's ``FOR NO KEY UPDATE``: the changes of one record wait for each
    other, but the inserts that merely reference the record (a consultation's audit event,
    taking ``FOR KEY SHARE`` for its foreign key) do not wait for them — with ``FOR UPDATE``
    every read of a patient queued behind a deposit on that patient. Deleting the record
    (its destruction, services/operations/maintenance.py) takes ``FOR UPDATE`` itself."""
    query = _RECORD_FOR_UPDATE if for_update else _RECORD
    row = (await session.execute(query, {"ins_value": ins.value, "ins_oid": ins.oid})).one_or_none()
    return None if row is None else (row[0], row[1])


# Built once (every writer opens its record with it): bound parameters, compiled cache.
_RECORD = (
    select(m.Patient, m.Record)
    .join(m.Record, m.Record.patient_id == m.Patient.id)
    .where(m.Patient.ins_value == bindparam("ins_value"), m.Patient.ins_oid == bindparam("ins_oid"))
)
_RECORD_FOR_UPDATE = _RECORD.with_for_update(of=m.Record, key_share=True)


async def find_document(
    session: AsyncSession, record_id: uuid.UUID, document_id: uuid.UUID
) -> m.Document | None:
    return (
        await session.execute(
            select(m.Document).where(
                m.Document.record_id == record_id, m.Document.id == document_id
            )
        )
    ).scalar_one_or_none()


async def unique_id_taken(session: AsyncSession, record_id: uuid.UUID, unique_id: str) -> bool:
    return (
        await session.execute(
            select(m.Document.id).where(
                m.Document.record_id == record_id, m.Document.unique_id == unique_id
            )
        )
    ).first() is not None


async def ins_value_taken(session: AsyncSession, ins_value: str) -> bool:
    """Whether a person holds this INS value under any OID (one person, one record)."""
    return (
        await session.execute(select(m.Patient.id).where(m.Patient.ins_value == ins_value))
    ).first() is not None
