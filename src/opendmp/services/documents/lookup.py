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
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Uuid, bindparam, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from opendmp.storage.scope import global_query

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
    options: Sequence[ColumnElement[bool]], *, ins: Ins | None, limit: int
) -> Select[str, str, uuid.UUID]:
    # One indexed lookup per option, united: an OR of conditions on different columns of
    # the partitioned document table, ordered by id, was planned as a walk of every
    # partition's primary key (~6 ms per retrieval on 10 k documents: docs/benchmarks.md,
    # "The document lookup").
    found = union(
        *(select(m.Document.id, m.Document.record_id).where(option) for option in options)
    ).subquery("found")
    query = global_query(
        select(m.Patient.ins_value, m.Patient.ins_oid, found.c.id)
        .select_from(found)
        .join(m.Record, m.Record.id == found.c.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .order_by(found.c.id)
        .limit(limit),
        "document-lookup",
    )
    if ins is not None:
        query = query.where(m.Patient.ins_value == ins.value, m.Patient.ins_oid == ins.oid)
    return query


def _locations(rows: Sequence[Row[str, str, uuid.UUID]]) -> list[DocumentLocation]:
    return [DocumentLocation(Ins(value=row[0], oid=row[1]), row[2]) for row in rows]


async def _locate(
    ctx: ServiceContext, options: Sequence[ColumnElement[bool]], *, ins: Ins | None, limit: int
) -> list[DocumentLocation]:
    async with ctx.sessions() as session:
        rows = (await session.execute(_locate_query(options, ins=ins, limit=limit))).all()
    return _locations(rows)


# Every ITI-68 request locates its document: built once, with bound parameters (building
# the union's subquery cost ~0.3 ms of CPU a request).
_BY_REFERENCE = _locate_query(
    [
        m.Document.entry_uuid == bindparam("entry_uuid"),
        m.Document.id == bindparam("document_id", type_=Uuid()),
    ],
    ins=None,
    limit=1,
)


def _reference_parameters(as_uuid: uuid.UUID) -> dict[str, Any]:
    return {"entry_uuid": f"urn:uuid:{as_uuid}", "document_id": as_uuid}


async def locate_document_in(session: AsyncSession, *, reference: str) -> DocumentLocation | None:
    """``locate_document`` in the caller's transaction (a read that locates and consults
    in one unit of work: one session, one transaction)."""
    as_uuid = _as_uuid(reference)
    if as_uuid is None:
        return None
    connection = await session.connection()  # Core: no ORM execution layer
    rows = (await connection.execute(_BY_REFERENCE, _reference_parameters(as_uuid))).all()
    found = _locations(rows)
    return found[0] if found else None


async def locate_document(ctx: ServiceContext, *, reference: str) -> DocumentLocation | None:
    """The document whose current entryUUID (``urn:uuid:`` optional) or logical id is
    ``reference``; None when there is none (or ``reference`` is not a UUID)."""
    as_uuid = _as_uuid(reference)
    if as_uuid is None:
        return None
    async with ctx.sessions() as session:
        return await locate_document_in(session, reference=reference)


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
    return await _locate(ctx, options, ins=ins, limit=limit)


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
