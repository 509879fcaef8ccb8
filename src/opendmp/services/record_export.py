"""The patient's export of their record (DMP-RULES §3.3): a ZIP of every document they may
read, current and superseded versions, plus ``metadata.json`` (their identity, the record's
settings, each document's metadata and file name).

The documents are chosen by the policy's SQL filter for this patient, exactly as a search
would (``INVISIBLE_PATIENT`` documents are not exported). The archive is built in memory and
returned as bytes: a record holds tens of documents of at most 20 MiB each; a streaming ZIP
writer is the way out if records outgrow that.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Any

import orjson
from sqlalchemy import select

from opendmp.domain.actors import Patient
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.context import ServiceContext
from opendmp.services.document_views import DocumentView, data_key_of, document_view
from opendmp.services.facts import actor_on_record
from opendmp.services.gate import audit, require
from opendmp.services.records import get_record
from opendmp.storage import models as m
from opendmp.storage.document_filter import readable_documents

__all__ = ["export_record"]

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


def _file_name(index: int, view: DocumentView) -> str:
    extension = _EXTENSIONS.get(view.mime_type, "bin")
    return f"documents/{index:04d}-{view.id}.{extension}"


def _document_metadata(view: DocumentView, file_name: str) -> dict[str, Any]:
    data = dataclasses.asdict(view)
    data["extra"] = orjson.loads(view.extra) if view.extra else None
    data["file"] = file_name
    return data


async def export_record(ctx: ServiceContext, *, actor: Patient, ins: Ins) -> bytes:
    """A ZIP of the record for its patient; audited ``record:record:export``."""
    now = ctx.now()
    async with ctx.uow() as uow:
        session = uow.session
        patient, record = await get_record(session, ins)
        who = await actor_on_record(
            session, actor=actor, patient=patient, record=record, now=now, include_superseded=True
        )
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.EXPORT,
            facts=who.facts,
            audit_action="record:record:export",
            record_id=record.id,
        )
        docs = list(
            (
                await session.execute(
                    select(m.Document)
                    .where(
                        readable_documents(
                            record_id=record.id,
                            actor=actor,
                            facts=who.facts,
                            matrix=ctx.matrix,
                            actor_professional_id=who.professional_id,
                            actor_organization_id=who.organization_id,
                        )
                    )
                    .order_by(m.Document.deposited_at, m.Document.id)
                )
            ).scalars()
        )
        data_key = data_key_of(ctx, record) if docs else b""
        buffer = io.BytesIO()
        listed: list[dict[str, Any]] = []
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for index, doc in enumerate(docs, start=1):
                view = document_view(doc)
                content = await ctx.blobs.get_document(
                    data_key=data_key, blob_key=doc.blob_key, document_id=str(doc.id)
                )
                name = _file_name(index, view)
                archive.writestr(name, content)
                listed.append(_document_metadata(view, name))
            metadata = {
                "exported_at": now,
                "patient": {
                    "ins": f"{patient.ins_oid}|{patient.ins_value}",
                    "birth_name": patient.birth_name,
                    "given_names": patient.given_names,
                    "used_name": patient.used_name,
                    "birth_date": patient.birth_date,
                    "sex": patient.sex,
                    "birth_place_code": patient.birth_place_code,
                    "email": patient.email,
                    "mobile": patient.mobile,
                },
                "record": {
                    "id": record.id,
                    "status": record.status,
                    "created_at": record.created_at,
                    "allow_regulation": record.allow_regulation,
                    "allow_break_glass": record.allow_break_glass,
                    "allow_masked_in_emergency": record.allow_masked_in_emergency,
                    "notify_on_access": record.notify_on_access,
                    "notify_on_new_document": record.notify_on_new_document,
                    "mask_new_documents": record.mask_new_documents,
                },
                "documents": listed,
            }
            archive.writestr(
                "metadata.json",
                orjson.dumps(metadata, option=orjson.OPT_INDENT_2, default=str),
            )
        await audit(
            ctx,
            uow,
            actor=actor,
            action="record:record:export",
            record_id=record.id,
            details={"documents": len(docs)},
        )
        await uow.commit()
        return buffer.getvalue()
