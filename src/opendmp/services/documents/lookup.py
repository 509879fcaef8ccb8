"""Where a document lives: the record (patient INS) and logical id behind an identifier.

FHIR addresses a document by its own id (``DocumentReference/<entryUUID>``,
``Binary/<logicalId>``) or by a business identifier (conditional PATCH on
``identifier=<system>|<uniqueId>``), while every document use case is keyed by the record's
INS (one record, one lock, one audit chain). These functions translate, and nothing more:
they apply no policy and return no metadata, so they are not a consultation and are not
audited — the use case the caller runs next (read, stream, update) decides and audits, with
its usual order (record-level refusal before any word on the document).

What a caller can learn from the translation alone is whether an identifier designates a
document *somewhere* (404 vs the use case's answer). entryUUIDs and logical ids are random
122-bit UUIDs known only to whoever was shown the document; uniqueIds are the producer's
own. Only the current entryUUID of a document is stored (each metadata version gets a new
one), so an earlier version's entryUUID locates nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Row, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m

__all__ = [
    "DocumentLocation",
    "current_entry_uuid",
    "locate_document",
    "locate_document_in",
    "locate_documents_by_identifier",
]


@dataclass(frozen=True, slots=True)
class DocumentLocation:
    ins: Ins
    document_id: uuid.UUID  # logicalId: what the document use cases take


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.removeprefix("urn:uuid:"))
    except ValueError:
        return None


def _locate_query(
    condition: ColumnElement[bool], *, ins: Ins | None, limit: int
) -> Select[str, str, uuid.UUID]:
    query = (
        select(m.Patient.ins_value, m.Patient.ins_oid, m.Document.id)
        .select_from(m.Document)
        .join(m.Record, m.Record.id == m.Document.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .where(condition)
        .order_by(m.Document.id)
        .limit(limit)
    )
    if ins is not None:
        query = query.where(m.Patient.ins_value == ins.value, m.Patient.ins_oid == ins.oid)
    return query


def _locations(rows: Sequence[Row[str, str, uuid.UUID]]) -> list[DocumentLocation]:
    return [DocumentLocation(Ins(value=row[0], oid=row[1]), row[2]) for row in rows]


async def _locate(
    ctx: ServiceContext, condition: ColumnElement[bool], *, ins: Ins | None, limit: int
) -> list[DocumentLocation]:
    async with ctx.sessions() as session:
        rows = (await session.execute(_locate_query(condition, ins=ins, limit=limit))).all()
    return _locations(rows)


def _reference_condition(as_uuid: uuid.UUID) -> ColumnElement[bool]:
    return or_(m.Document.entry_uuid == f"urn:uuid:{as_uuid}", m.Document.id == as_uuid)


async def locate_document_in(session: AsyncSession, *, reference: str) -> DocumentLocation | None:
    """``locate_document`` in the caller's transaction (a read that locates and consults
    in one unit of work: one session, one transaction)."""
    as_uuid = _as_uuid(reference)
    if as_uuid is None:
        return None
    query = _locate_query(_reference_condition(as_uuid), ins=None, limit=1)
    found = _locations((await session.execute(query)).all())
    return found[0] if found else None


async def locate_document(ctx: ServiceContext, *, reference: str) -> DocumentLocation | None:
    """The document whose current entryUUID (``urn:uuid:`` optional) or logical id is
    ``reference``; None when there is none (or ``reference`` is not a UUID)."""
    as_uuid = _as_uuid(reference)
    if as_uuid is None:
        return None
    found = await _locate(ctx, _reference_condition(as_uuid), ins=None, limit=1)
    return found[0] if found else None


async def locate_documents_by_identifier(
    ctx: ServiceContext,
    *,
    unique_ids: Sequence[str] = (),
    entry_uuids: Sequence[str] = (),
    ids: Sequence[uuid.UUID] = (),
    ins: Ins | None = None,
    limit: int = 2,
) -> list[DocumentLocation]:
    """At most ``limit`` documents matching any of the identifiers, in ``ins``'s record when
    given. A uniqueId is unique within a record only: across records it may match several
    (a conditional update then answers 412). ``urn:oid:`` is optional on OID uniqueIds."""
    options: list[ColumnElement[bool]] = []
    if unique_ids:
        values = {v.removeprefix("urn:oid:") for v in unique_ids} | set(unique_ids)
        options.append(m.Document.unique_id.in_(sorted(values)))
    uuids = [u for u in (_as_uuid(v) for v in entry_uuids) if u is not None]
    if uuids:
        options.append(m.Document.entry_uuid.in_(sorted(f"urn:uuid:{u}" for u in uuids)))
    if ids:
        options.append(m.Document.id.in_(list(ids)))
    if not options:
        return []
    return await _locate(ctx, or_(*options), ins=ins, limit=limit)


async def current_entry_uuid(
    ctx: ServiceContext, *, ins: Ins, document_id: uuid.UUID
) -> str | None:
    """The current entryUUID of a version in ``ins``'s record, for a ``relatesTo`` target
    (what ``search_documents`` returns as ``replaced_entry_uuids``); None when unknown."""
    query = (
        select(m.Document.entry_uuid)
        .join(m.Record, m.Record.id == m.Document.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .where(
            m.Patient.ins_value == ins.value,
            m.Patient.ins_oid == ins.oid,
            m.Document.id == document_id,
        )
    )
    async with ctx.sessions() as session:
        found: str | None = (await session.execute(query)).scalar_one_or_none()
    return found
