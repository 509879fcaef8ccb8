"""Document use cases of the foundation: deposit and read, encrypted, audited.

Deposit follows DESIGN.md §6: policy, content checks, encrypt and write the blob (atomic
rename), then one transaction for the rows and the audit event. A blob written by a deposit
whose transaction fails is deleted at once, and the reaper catches what a crash leaves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.blobs import unwrap_data_key
from opendmp.domain.actors import Actor, Patient, Professional
from opendmp.domain.codes import class_for_type
from opendmp.domain.errors import Conflict, Gone, InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, DocumentFacts, Facts
from opendmp.domain.records import RecordStatus
from opendmp.services.context import ServiceContext
from opendmp.services.directory import ensure_organization, ensure_professional
from opendmp.services.gate import audit, require
from opendmp.services.records import get_record, is_subject
from opendmp.storage import models as m
from opendmp.storage.repositories import find_document, unique_id_taken

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
LOINC = "http://loinc.org"


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


@dataclass(frozen=True, slots=True)
class DocumentView:
    """Everything an interface needs to present a document entry (no content)."""

    id: uuid.UUID  # logicalId
    unique_id: str
    record_id: uuid.UUID
    title: str
    type_code: str
    class_code: str
    mime_type: str
    size: int
    sha256: str
    status: str
    deposited_at: dt.datetime
    entry_uuid: str = ""
    sha1: str = ""
    format_code: str = ""
    language: str = "fr-FR"
    archived: bool = False
    masked_by_patient: bool = False
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    author_idnat: str | None = None
    author_name: str | None = None
    author_role: str | None = None
    author_specialty: str | None = None
    author_organization_idnat: str | None = None
    practice_setting: str | None = None
    facility_type: str | None = None
    event_codes: tuple[str, ...] = ()
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    creation_time: dt.datetime | None = None
    replaces_id: uuid.UUID | None = None
    submission_set_id: uuid.UUID | None = None
    deposited_by_kind: str = ""
    version: int = 1
    updated_at: dt.datetime | None = None
    extra: str | None = None  # canonical JSON of the FHIR metadata kept as given


def document_view(doc: m.Document) -> DocumentView:
    return DocumentView(
        id=doc.id,
        unique_id=doc.unique_id,
        record_id=doc.record_id,
        title=doc.title,
        type_code=doc.type_code,
        class_code=doc.class_code,
        mime_type=doc.mime_type,
        size=doc.size,
        sha256=doc.sha256,
        status=doc.status,
        deposited_at=doc.deposited_at,
        entry_uuid=doc.entry_uuid,
        sha1=doc.sha1,
        format_code=doc.format_code,
        language=doc.language,
        archived=doc.archived,
        masked_by_patient=doc.masked_by_patient,
        invisible_to_patient=doc.invisible_to_patient,
        invisible_to_representatives=doc.invisible_to_representatives,
        author_idnat=doc.author_idnat,
        author_name=doc.author_name,
        author_role=doc.author_role,
        author_specialty=doc.author_specialty,
        author_organization_idnat=doc.author_organization_idnat,
        practice_setting=doc.practice_setting,
        facility_type=doc.facility_type,
        event_codes=tuple(orjson.loads(doc.event_codes)) if doc.event_codes else (),
        service_start=doc.service_start,
        service_stop=doc.service_stop,
        creation_time=doc.creation_time,
        replaces_id=doc.replaces_id,
        submission_set_id=doc.submission_set_id,
        deposited_by_kind=doc.deposited_by_kind,
        version=doc.version,
        updated_at=doc.updated_at,
        extra=doc.extra,
    )


_view = document_view


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


def data_key_of(ctx: ServiceContext, record: m.Record) -> bytes:
    if record.wrapped_data_key is None:
        raise Gone("the record's key was destroyed", code="record-destroyed")
    return unwrap_data_key(ctx.master_key, record.wrapped_data_key)


async def deposit_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, submission: DocumentSubmission
) -> DocumentView:
    class_code = _check(submission)
    now = ctx.now()
    document_id = uuid.uuid4()
    async with ctx.uow() as uow:
        session = uow.session
        _, record = await get_record(session, ins, for_update=True)
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.DEPOSIT,
            facts=Facts(RecordStatus(record.status), is_subject=is_subject(actor, ins)),
            audit_action="document:document:deposit",
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
                action="document:document:deposit",
                record_id=record.id,
                target_document_id=document_id,
                details={"type": submission.type_code},
            )
            await uow.commit()
        except BaseException:
            await ctx.blobs.store.delete(blob_key)
            raise
        doc = await session.get(m.Document, document_id)
        assert doc is not None
        return _view(doc)


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
            type_system=LOINC,
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


async def professional_facts(
    session: AsyncSession, record_id: uuid.UUID, actor: Professional, now: dt.datetime
) -> tuple[bool, bool, bool, bool]:
    """(blocked, authorized, care_team, treating_doctor) for ``actor`` on the record."""
    pro_id = (
        await session.execute(select(m.Professional.id).where(m.Professional.idnat == actor.idnat))
    ).scalar_one_or_none()
    org_id = None
    if actor.organization:
        org_id = (
            await session.execute(
                select(m.Organization.id).where(m.Organization.struct_idnat == actor.organization)
            )
        ).scalar_one_or_none()
    if pro_id is None and org_id is None:
        return False, False, False, False
    rows = (
        await session.execute(
            select(
                m.Authorization.professional_id,
                m.Authorization.organization_id,
                m.Authorization.state,
                m.Authorization.expires_at,
            ).where(
                m.Authorization.record_id == record_id,
                or_(
                    and_(
                        m.Authorization.professional_id == pro_id,
                        m.Authorization.professional_id.is_not(None),
                    ),
                    and_(
                        m.Authorization.organization_id == org_id,
                        m.Authorization.organization_id.is_not(None),
                    ),
                ),
            )
        )
    ).all()
    blocked = any(r.state == "blocked" for r in rows)
    valid = [
        r for r in rows if r.state == "authorized" and (r.expires_at is None or r.expires_at > now)
    ]
    authorized = any(r.professional_id == pro_id and pro_id is not None for r in valid)
    care_team = False
    if (
        org_id is not None
        and pro_id is not None
        and any(r.organization_id == org_id for r in valid)
    ):
        care_team = (
            await session.execute(
                select(m.Membership.care_team).where(
                    m.Membership.professional_id == pro_id, m.Membership.organization_id == org_id
                )
            )
        ).scalar_one_or_none() is True
    treating = (
        pro_id is not None
        and (
            await session.execute(
                select(m.TreatingDoctor.professional_id).where(
                    m.TreatingDoctor.record_id == record_id,
                    m.TreatingDoctor.professional_id == pro_id,
                )
            )
        ).first()
        is not None
    )
    return blocked, authorized, care_team, treating


async def read_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> tuple[DocumentView, bytes]:
    """Return a document's metadata and decrypted content, audited as a consultation."""
    async with ctx.uow() as uow:
        session = uow.session
        _, record = await get_record(session, ins)
        doc = await find_document(session, record.id, document_id)
        if doc is None:
            raise NotFound("no such document in this record", code="document-not-found")
        blocked = authorized = care_team = treating = False
        if isinstance(actor, Professional):
            blocked, authorized, care_team, treating = await professional_facts(
                session, record.id, actor, ctx.now()
            )
        facts = Facts(
            RecordStatus(record.status),
            is_subject=is_subject(actor, ins) if isinstance(actor, Patient) else False,
            blocked=blocked,
            authorized=authorized,
            care_team=care_team,
            treating_doctor=treating,
            document=DocumentFacts(
                deleted=doc.status == "deleted",
                invisible_to_patient=doc.invisible_to_patient,
                invisible_to_representatives=doc.invisible_to_representatives,
            ),
        )
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.READ_DOCUMENT,
            facts=facts,
            audit_action="document:document:read",
            record_id=record.id,
            target_document_id=doc.id,
        )
        content = await ctx.blobs.get_document(
            data_key=data_key_of(ctx, record), blob_key=doc.blob_key, document_id=str(doc.id)
        )
        await audit(
            ctx,
            uow,
            actor=actor,
            action="document:document:read",
            record_id=record.id,
            target_document_id=doc.id,
        )
        await uow.commit()
        return _view(doc), content
