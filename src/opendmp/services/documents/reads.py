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
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import audited_read_for, guarded
from opendmp.services.documents.affordances import Affordances, allowed_actions
from opendmp.services.documents.consultation import consulted
from opendmp.services.documents.lookup import locate_document_in
from opendmp.services.documents.views import DocumentView, data_key_of, document_view
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


async def _consultation(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    document_id: uuid.UUID,
    part: str,
    uow: UnitOfWork | None = None,
) -> tuple[DocumentView, bytes, Affordances]:
    """Steps 1–4 of the module docstring (a refusal is audited and committed by the gate),
    then the content unless ``part`` is "metadata" (empty then), the consultation audited
    and its obligations carried out, committed (in ``uow`` when the caller has one)."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_DOCUMENT,
        audit_action=AuditAction.DOCUMENT_READ,
        include_superseded=True,
        document_id=document_id,
        uow=uow,
        audited_read=True,
    ) as g:
        doc, record = g.document, g.record
        assert doc is not None and g.decision is not None
        content = b""
        if part == "content":
            content = await ctx.blobs.get_document(
                data_key=data_key_of(ctx, record), blob_key=doc.blob_key, document_id=str(doc.id)
            )
        await consulted(g, AuditAction.DOCUMENT_READ, {"part": part})
        await g.uow.commit()
        return document_view(doc), content, allowed_actions(g)


async def read_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> tuple[DocumentView, bytes]:
    """Return a document's metadata and decrypted content, audited as a consultation."""
    view, content, _ = await _consultation(
        ctx, actor=actor, ins=ins, document_id=document_id, part="content"
    )
    return view, content


async def read_document_metadata(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> DocumentView:
    """A document's metadata alone (FHIR ``GET DocumentReference/<id>``), audited likewise."""
    view, _, _ = await _consultation(
        ctx, actor=actor, ins=ins, document_id=document_id, part="metadata"
    )
    return view


async def read_document_for_page(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> tuple[DocumentView, Affordances]:
    """A document's metadata, audited like ``read_document_metadata``, with the actions the
    policy allows the reader on it (``affordances``): what a portal page offers."""
    view, _, allowed = await _consultation(
        ctx, actor=actor, ins=ins, document_id=document_id, part="metadata"
    )
    return view, allowed


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
    session and one transaction instead of two — on SQLite, the write lock taken once, for
    the audit event alone.
    None when ``reference`` locates nothing; ``check_patient(ins)`` may refuse (nothing is
    audited then, as when the caller checked between the two calls)."""
    async with ctx.uow(deferred_writes=audited_read_for(actor)) as uow:
        found = await locate_document_in(uow.session, reference=reference)
        if found is None:
            return None
        check_patient(found.ins)
        view, content, _ = await _consultation(
            ctx,
            actor=actor,
            ins=found.ins,
            document_id=found.document_id,
            part="content",
            uow=uow,
        )
    return DocumentStream(view=view, size=len(content), chunks=_chunks(content))
