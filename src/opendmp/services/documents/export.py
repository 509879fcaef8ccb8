"""The patient's export of their record (docs/rules.md §3.3): every document they may read,
current and superseded versions, with their metadata, and the record's access history.

The documents are chosen by the policy's SQL filter for this patient, exactly as a search
would (``INVISIBLE_PATIENT`` documents are not exported); the history is what
``read_history`` shows them. Both are read in the one transaction that checks the policy
and writes the ``record:record:export`` event, so the export is a consistent snapshot.

This module returns the *data* (:class:`RecordExport`); the interface writes the archive
(the portal: ``web.patient.export``, a ZIP with a FHIR Bundle and a CSV). The formats are an
interface's business: the FHIR mapping lives above the services. Contents are held in
memory: a record holds tens of documents of at most 20 MiB each; a streaming writer is the
way out if records outgrow that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlalchemy import ColumnElement, select

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.domain.records import RecordStatus
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import Guarded, guarded
from opendmp.services.documents.views import DocumentView, data_key_of, document_view
from opendmp.services.records.history import HistoryEntry, history_entries
from opendmp.storage import models as m
from opendmp.storage.document_filter import readable_documents

__all__ = ["ExportedDocument", "RecordExport", "export_record"]

_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tiff",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "text/plain": "txt",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/hl7-v3+xml": "xml",
}


def file_name(index: int, view: DocumentView) -> str:
    """The document's path in an archive: ``documents/0001-<id>.<extension>``."""
    extension = _EXTENSIONS.get(view.mime_type, "bin")
    return f"documents/{index:04d}-{view.id}.{extension}"


@dataclass(frozen=True, slots=True)
class ExportedDocument:
    view: DocumentView
    content: bytes = field(repr=False)
    file_name: str
    replaces_entry_uuid: str | None  # the entry it replaced, when that one is exported too


@dataclass(frozen=True, slots=True)
class RecordExport:
    exported_at: dt.datetime
    ins_oid: str
    ins_value: str
    documents: list[ExportedDocument]
    history: list[HistoryEntry]  # newest first, as the patient sees it
    patient_name: str = ""  # given names and birth name: the history names the holder


def _exportable(g: Guarded) -> ColumnElement[bool]:
    """The documents the patient reads in their record. ``EXPORT`` was decided on the record
    as it is (a closed one included: the holder takes their data until the destruction);
    which documents is the read rules' answer for its content, as when it was open."""
    facts = replace(g.who.facts, record_status=RecordStatus.ACTIVE)
    return readable_documents(
        record_id=g.record.id,
        actor=g.actor,
        facts=facts,
        matrix=g.ctx.matrix,
        actor_professional_id=g.who.professional_id,
        actor_organization_id=g.who.organization_id,
    )


async def export_record(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> RecordExport:
    """Everything the patient may export; audited ``record:record:export`` (the policy keeps
    it to the patient: not a representative, not a professional; a closed record too, until
    its destruction)."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.EXPORT,
        audit_action=AuditAction.RECORD_EXPORT,
        include_superseded=True,
    ) as g:
        session, patient, record, now = g.session, g.patient, g.record, g.now
        docs = list(
            (
                await session.execute(
                    select(m.Document)
                    .where(_exportable(g))
                    .order_by(m.Document.deposited_at, m.Document.id)
                )
            ).scalars()
        )
        data_key = data_key_of(ctx, record) if docs else b""
        entry_uuids = {doc.id: doc.entry_uuid for doc in docs}
        exported: list[ExportedDocument] = []
        for index, doc in enumerate(docs, start=1):
            view = document_view(doc)
            content = await ctx.blobs.get_document(
                data_key=data_key, blob_key=doc.blob_key, document_id=str(doc.id)
            )
            replaced = entry_uuids.get(doc.replaces_id) if doc.replaces_id else None
            exported.append(ExportedDocument(view, content, file_name(index, view), replaced))
        history = await history_entries(session, record_id=record.id, actor=actor)
        await g.audit(AuditAction.RECORD_EXPORT, {"documents": len(docs), "events": len(history)})
        await g.uow.commit()
        name = f"{patient.given_names} {patient.birth_name}"
        return RecordExport(now, patient.ins_oid, patient.ins_value, exported, history, name)
