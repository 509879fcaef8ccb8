"""Deposits from the portals' forms: a professional's document and a patient's own.

Deposit follows docs/architecture.md §6: policy, content checks, encrypt and write the blob (atomic
rename), then one transaction for the rows and the audit event. A blob written by a deposit
whose transaction fails is deleted at once, and the reaper catches what a crash leaves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, replace

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Patient, Professional
from opendmp.domain.codes import DOCUMENT_TYPES, LOINC_OID, class_for_type
from opendmp.domain.errors import Conflict, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import actor_on_record
from opendmp.services.core.gate import audit, require
from opendmp.services.core.records import get_record
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.documents.views import DocumentView, data_key_of, document_view
from opendmp.storage import models as m
from opendmp.storage.repositories import unique_id_taken

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
LOINC = "http://loinc.org"


def type_system(type_code: str) -> str:
    """The coding system of a known type: LOINC's URI, or ``urn:oid:`` of TRE_A05."""
    known = DOCUMENT_TYPES.get(type_code)
    if known is None or known.system == LOINC_OID:
        return LOINC
    return f"urn:oid:{known.system}"


@dataclass(frozen=True, slots=True)
class DocumentSubmission:
    unique_id: str
    title: str
    type_code: str
    mime_type: str
    format_code: str
    content: bytes
    creation_time: dt.datetime
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    practice_setting: str | None = None
    facility_type: str | None = None
    event_codes: tuple[str, ...] = ()
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    language: str = "fr-FR"
    author_organization_name: str | None = None
    submission_set_unique_id: str | None = None
    source_id: str = "1.2.250.1.213.1.1.9"


def _check(sub: DocumentSubmission) -> str:
    problems = []
    if not sub.content:
        problems.append("the document is empty")
    if len(sub.content) > MAX_DOCUMENT_BYTES:
        problems.append(f"the document exceeds {MAX_DOCUMENT_BYTES} bytes")
    if not sub.unique_id or len(sub.unique_id) > 128:
        problems.append("uniqueId is required (at most 128 characters)")
    if not sub.title.strip():
        problems.append("the title is required")
    if sub.creation_time.tzinfo is None:
        problems.append("creation time must carry a time zone")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-document")
    return class_for_type(sub.type_code)


async def deposit_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, submission: DocumentSubmission
) -> DocumentView:
    class_code = _check(submission)
    now = ctx.now()
    document_id = uuid.uuid4()
    async with ctx.uow() as uow:
        session = uow.session
        patient, record = await get_record(session, ins, for_update=True)
        who = await actor_on_record(session, actor=actor, patient=patient, record=record, now=now)
        # §3.2: a blocked professional may still deposit unless the setting says otherwise.
        facts = replace(who.facts, blocked_may_deposit=ctx.access.blocked_may_deposit)
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.DEPOSIT,
            facts=facts,
            audit_action=AuditAction.DOCUMENT_DEPOSIT,
            record_id=record.id,
        )
        if await unique_id_taken(session, record.id, submission.unique_id):
            raise Conflict(
                "a document with this uniqueId already exists", code="duplicate-unique-id"
            )
        blob_key = await ctx.blobs.put_document(
            data_key=data_key_of(ctx, record),
            record_id=str(record.id),
            document_id=str(document_id),
            content=submission.content,
        )
        try:
            await _insert_document(
                ctx, session, actor, record, document_id, blob_key, class_code, submission, now
            )
            await audit(
                ctx,
                uow,
                actor=actor,
                action=AuditAction.DOCUMENT_DEPOSIT,
                record_id=record.id,
                target_document_id=document_id,
                details={"type": submission.type_code},
            )
        except BaseException:
            await ctx.blobs.store.delete(blob_key)
            raise
        # Outside the clean-up: a COMMIT that fails (connection lost) may still have been
        # applied, so its blob stays; if no row took it, the orphan reaper removes it.
        await uow.commit()
        doc = await session.get(m.Document, document_id)
        assert doc is not None
        return document_view(doc)


async def _insert_document(
    ctx: ServiceContext,
    session: AsyncSession,
    actor: Actor,
    record: m.Record,
    document_id: uuid.UUID,
    blob_key: str,
    class_code: str,
    sub: DocumentSubmission,
    now: dt.datetime,
) -> None:
    author_professional_id = author_org_id = None
    author_idnat = author_name = author_role = author_specialty = author_org = None
    if isinstance(actor, Professional):
        professional = await ensure_professional(session, actor, now=now)
        author_professional_id = professional.id
        author_idnat, author_name = actor.idnat, actor.name
        author_role, author_specialty = actor.profession, actor.specialty
        if actor.organization:
            org = await ensure_organization(
                session, actor.organization, name=sub.author_organization_name, now=now
            )
            author_org_id, author_org = org.id, actor.organization
    submission_set_id = uuid.uuid4()
    await session.execute(
        insert(m.SubmissionSet).values(
            id=submission_set_id,
            record_id=record.id,
            unique_id=sub.submission_set_unique_id or f"2.25.{uuid.uuid4().int}",
            source_id=sub.source_id,
            title=None,
            content_type_code=None,
            author_idnat=author_idnat,
            author_name=author_name,
            author_organization=author_org,
            submitted_at=now,
        )
    )
    await session.execute(
        insert(m.Document).values(
            id=document_id,
            entry_uuid=f"urn:uuid:{uuid.uuid4()}",
            record_id=record.id,
            unique_id=sub.unique_id,
            status="current",
            archived=False,
            masked_by_patient=record.mask_new_documents,
            invisible_to_patient=sub.invisible_to_patient,
            invisible_to_representatives=sub.invisible_to_representatives,
            class_code=class_code,
            type_code=sub.type_code,
            type_system=type_system(sub.type_code),
            format_code=sub.format_code,
            mime_type=sub.mime_type,
            title=sub.title.strip(),
            language=sub.language,
            author_professional_id=author_professional_id,
            author_organization_id=author_org_id,
            author_idnat=author_idnat,
            author_name=author_name,
            author_role=author_role,
            author_specialty=author_specialty,
            author_organization_idnat=author_org,
            practice_setting=sub.practice_setting,
            facility_type=sub.facility_type,
            event_codes=orjson.dumps(list(sub.event_codes)).decode() if sub.event_codes else None,
            service_start=sub.service_start,
            service_stop=sub.service_stop,
            creation_time=sub.creation_time,
            size=len(sub.content),
            sha256=hashlib.sha256(sub.content).hexdigest(),
            sha1=hashlib.sha1(sub.content, usedforsecurity=False).hexdigest(),
            blob_key=blob_key,
            replaces_id=None,
            submission_set_id=submission_set_id,
            deposited_at=now,
            deposited_by_kind=actor.kind.value,
            deposited_by_id=actor.actor_id,
            updated_at=now,
            deleted_at=None,
        )
    )


# --- the patient's own documents (docs/rules.md §3.3, §4) ---------------------------------

PATIENT_CLASS = "90"  # TRE_A03: documents du patient
PATIENT_DOCUMENT_TYPES = frozenset(
    code for code, known in DOCUMENT_TYPES.items() if known.class_code == PATIENT_CLASS
)
PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
TEXT_FORMAT = "urn:ihe:iti:xds-sd:text:2008"
MIME_SUFFICIENT_FORMAT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"  # IHE ITI: no finer code


def _is_utf8_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# MIME type -> (the content's signature check, formatCode). The declared type must match
# the bytes: a patient's upload is shown to professionals, who must be able to trust it.
PATIENT_MIME_TYPES: dict[str, tuple[str, str]] = {
    "application/pdf": ("PDF", PDF_FORMAT),
    "image/jpeg": ("JPEG", MIME_SUFFICIENT_FORMAT),
    "image/png": ("PNG", MIME_SUFFICIENT_FORMAT),
    "image/tiff": ("TIFF", MIME_SUFFICIENT_FORMAT),
    "application/rtf": ("RTF", MIME_SUFFICIENT_FORMAT),
    "text/rtf": ("RTF", MIME_SUFFICIENT_FORMAT),
    "text/plain": ("TXT", TEXT_FORMAT),
}


def content_matches(kind: str, content: bytes) -> bool:
    """Whether ``content`` starts with the signature of ``kind`` (TXT: UTF-8, no NUL)."""
    match kind:
        case "PDF":
            return content.startswith(b"%PDF")
        case "JPEG":
            return content.startswith(b"\xff\xd8\xff")
        case "PNG":
            return content.startswith(b"\x89PNG")
        case "TIFF":
            return content.startswith((b"II*\x00", b"MM\x00*"))
        case "RTF":
            return content.startswith(b"{\\rtf")
        case "TXT":
            return _is_utf8_text(content)
    return False


async def deposit_patient_document(
    ctx: ServiceContext,
    *,
    actor: Patient,
    ins: Ins,
    title: str,
    type_code: str,
    mime_type: str,
    content: bytes,
) -> DocumentView:
    """The patient adds a document of their own (class 90, ``deposited_by_kind`` patient).

    Refused before anything is stored: an unknown or non-patient type (``invalid-type``), a
    MIME type outside PDF/JPEG/PNG/TIFF/RTF/TXT or content whose bytes are not of that type
    (``invalid-content``). The policy (DEPOSIT) then checks it is the patient's own record.
    """
    if type_code not in PATIENT_DOCUMENT_TYPES:
        raise InvalidInput(
            "a patient's document must use a patient type (DOCPAT01…09, EXPPAT_1…3)",
            code="invalid-type",
        )
    mime = mime_type.split(";", 1)[0].strip().lower()
    expected = PATIENT_MIME_TYPES.get(mime)
    if expected is None:
        raise InvalidInput(
            "accepted formats: PDF, JPEG, PNG, TIFF, RTF, plain text", code="invalid-content"
        )
    kind, format_code = expected
    if not content_matches(kind, content):
        raise InvalidInput(f"the content is not a {kind} file", code="invalid-content")
    now = ctx.now()
    return await deposit_document(
        ctx,
        actor=actor,
        ins=ins,
        submission=DocumentSubmission(
            unique_id=f"2.25.{uuid.uuid4().int}",
            title=title,
            type_code=type_code,
            mime_type=mime,
            format_code=format_code,
            content=content,
            creation_time=now,
            service_start=now,
            practice_setting="EXP_PATIENT",
            facility_type="EXP_PATIENT",
        ),
    )
