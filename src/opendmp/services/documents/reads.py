"""Reading a document: metadata, content, or content as a stream; audited consultations.

Checks, in this order (no existence leak to an unauthorised reader):

1. the record exists (``record-not-found``; a record's existence is public, TD0.2);
2. the record-level rules (state, block, basis, CPE…): a reader refused there gets the
   same refusal whether the document exists or not (``gate.RecordRefused``; the API
   answers it as an unknown id when the caller named no record);
3. the document rules in the order of docs/rules.md §3.1 (matrix, mask, visibility): a
   reader refused
   there gets ``document-not-found`` (404), exactly as for an unknown id — a document one
   may not read does not exist for them (``gate.require_on_document``, docs/security.md
   "Existence"); the refusal is audited with its reason;
4. deletion: a deleted document answers ``Gone`` (410, ``document-deleted``) only to a
   reader who would otherwise have been allowed to read it.

Reading one version by its id is "asking for it": superseded versions are readable there,
while searches list them only on request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Decision
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import actor_on_record, document_facts_of
from opendmp.services.core.gate import audit, document_not_found, require_on_document
from opendmp.services.core.records import get_record
from opendmp.services.documents.consultation import after_access
from opendmp.services.documents.lookup import locate_document_in
from opendmp.services.documents.views import DocumentView, data_key_of, document_view
from opendmp.storage import models as m
from opendmp.storage.repositories import find_document
from opendmp.storage.uow import UnitOfWork

STREAM_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class DocumentStream:
    """A document's metadata and its content as chunks.

    The API is streaming-ready, the storage is not yet: a blob is one AES-GCM message whose
    tag authenticates the whole content, so nothing may be released before all of it was
    read and checked. ``chunks`` therefore yields slices of bytes already decrypted and
    verified; a chunked encryption format (one tag per segment, STREAM construction) would
    let it stream from the store without changing this signature.
    """

    view: DocumentView
    size: int
    chunks: AsyncIterator[bytes]


async def _chunks(content: bytes, size: int = STREAM_CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


async def _consult(
    ctx: ServiceContext, uow: UnitOfWork, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> tuple[m.Patient, m.Record, m.Document, Decision]:
    """Steps 1–4 of the module docstring; a refusal is audited (and committed) by the gate."""
    session, now = uow.session, ctx.now()
    patient, record = await get_record(session, ins)
    who = await actor_on_record(
        session, actor=actor, patient=patient, record=record, now=now, include_superseded=True
    )
    doc = await find_document(session, record.id, document_id)
    decision = await require_on_document(
        ctx,
        uow,
        actor=actor,
        action=Action.READ_DOCUMENT,
        record_facts=who.facts,
        facts=document_facts_of(doc, actor=actor, who=who, matrix=ctx.matrix),
        audit_action=AuditAction.DOCUMENT_READ,
        record_id=record.id,
        document_id=None if doc is None else doc.id,
    )
    if doc is None:
        raise document_not_found()
    return patient, record, doc, decision


async def _conclude(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    patient: m.Patient,
    record: m.Record,
    doc: m.Document,
    decision: Decision,
    part: str,
) -> None:
    """Audit the consultation and carry out its obligations, then commit."""
    now = ctx.now()
    await audit(
        ctx,
        uow,
        actor=actor,
        action=AuditAction.DOCUMENT_READ,
        record_id=record.id,
        target_document_id=doc.id,
        details={"part": part},
    )
    await after_access(
        ctx, uow.session, actor=actor, decision=decision, patient=patient, record=record, now=now
    )
    await uow.commit()


async def read_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> tuple[DocumentView, bytes]:
    """Return a document's metadata and decrypted content, audited as a consultation."""
    async with ctx.uow() as uow:
        patient, record, doc, decision = await _consult(
            ctx, uow, actor=actor, ins=ins, document_id=document_id
        )
        content = await ctx.blobs.get_document(
            data_key=data_key_of(ctx, record), blob_key=doc.blob_key, document_id=str(doc.id)
        )
        await _conclude(
            ctx,
            uow,
            actor=actor,
            patient=patient,
            record=record,
            doc=doc,
            decision=decision,
            part="content",
        )
        return document_view(doc), content


async def read_document_metadata(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> DocumentView:
    """A document's metadata alone (FHIR ``GET DocumentReference/<id>``), audited likewise."""
    async with ctx.uow() as uow:
        patient, record, doc, decision = await _consult(
            ctx, uow, actor=actor, ins=ins, document_id=document_id
        )
        await _conclude(
            ctx,
            uow,
            actor=actor,
            patient=patient,
            record=record,
            doc=doc,
            decision=decision,
            part="metadata",
        )
        return document_view(doc)


async def stream_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> DocumentStream:
    """Like ``read_document`` for large contents (ITI-68): see ``DocumentStream``.

    The access is decided, the content verified and the consultation audited and committed
    before the first chunk is handed out.
    """
    view, content = await read_document(ctx, actor=actor, ins=ins, document_id=document_id)
    return DocumentStream(view=view, size=len(content), chunks=_chunks(content))


async def stream_located_document(
    ctx: ServiceContext,
    *,
    actor: Actor,
    reference: str,
    check_patient: Callable[[Ins], None],
) -> DocumentStream | None:
    """``locate_document`` then ``stream_document`` in one unit of work (ITI-68): one
    session and one transaction instead of two — on SQLite, one write lock instead of two.
    None when ``reference`` locates nothing; ``check_patient(ins)`` may refuse (nothing is
    audited then, as when the caller checked between the two calls)."""
    async with ctx.uow() as uow:
        found = await locate_document_in(uow.session, reference=reference)
        if found is None:
            return None
        check_patient(found.ins)
        patient, record, doc, decision = await _consult(
            ctx, uow, actor=actor, ins=found.ins, document_id=found.document_id
        )
        content = await ctx.blobs.get_document(
            data_key=data_key_of(ctx, record), blob_key=doc.blob_key, document_id=str(doc.id)
        )
        await _conclude(
            ctx,
            uow,
            actor=actor,
            patient=patient,
            record=record,
            doc=doc,
            decision=decision,
            part="content",
        )
        view = document_view(doc)
    return DocumentStream(view=view, size=len(content), chunks=_chunks(content))
