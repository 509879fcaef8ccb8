"""A professional deposits one document from the portal's form (docs/rules.md §3.2, §4).

The form gives a file and a few metadata (type from the DMP list, date of the act, practice
setting, facility type, visibility). Two kinds of file are accepted:

- a **PDF** (its bytes must start with ``%PDF``, whatever the file is called): it is wrapped
  in a CDA R2 level-1 document (``cda.level1.wrap_level1``) whose header names the patient by
  their INS and birth identity as the record holds them, the professional as author and
  legal authenticator, their structure as custodian, fresh ids (``2.25`` UUID OIDs); a
  replacement keeps the replaced document's ``setId``, takes the next ``versionNumber`` and
  carries ``relatedDocument`` RPLC;
- a **CDA** document (XML): its header is parsed and its INS must be the record's.

A thin adapter over the one deposit pipeline (docs/architecture.md §6): the form becomes a
``DocumentInput`` and ``deposit.provide_documents`` stores it (policy, blob, rows, audit in
one transaction; a replacement supersedes its target, author only). Every refusal of the
input — an unknown type, a date of the act in the future, a file that is not what it
claims, a CDA for another patient — leaves nothing but its audit event
(``document:document:deposit``, denied, with the reason code) on the record's chain.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.cda.header import CdaHeader, InstanceId, parse_header
from opendmp.cda.level1 import AuthorHeader, OrgHeader, PatientHeader, wrap_level1
from opendmp.domain.actors import Professional
from opendmp.domain.codes import (
    DOCUMENT_TYPES,
    HEALTHCARE_FACILITY_TYPES,
    PATIENT_EXPRESSION_SYSTEM,
    PRACTICE_SETTINGS,
    type_label,
)
from opendmp.domain.errors import Conflict, InvalidInput, OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.domain.limits import LimitExceeded
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.services.core.records import get_record
from opendmp.services.documents.deposit import (
    DepositRefused,
    DocumentInput,
    ReplaceTarget,
    SubmissionSetInput,
    provide_documents,
)
from opendmp.services.documents.views import DocumentView, data_key_of
from opendmp.storage import models as m
from opendmp.storage.repositories import find_document, find_record

__all__ = [
    "MAX_UPLOAD_BYTES",
    "PROFESSIONAL_DOCUMENT_TYPES",
    "PROFESSIONAL_FACILITY_TYPES",
    "PROFESSIONAL_PRACTICE_SETTINGS",
    "VISIBILITIES",
    "PortalDeposit",
    "deposit_from_portal",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
TEXT_FORMAT = "urn:ihe:iti:xds-sd:text:2008"
STRUCTURED_FORMAT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
SOURCE_ID = "1.2.250.1.213.1.1.9"
# The date of an act is a calendar date where the patient is cared for.
CARE_ZONE = ZoneInfo("Europe/Paris")
# A professional deposits professional documents: not the patient's own classes (90), nor
# reimbursement data (60), which the health insurance feeds.
PROFESSIONAL_DOCUMENT_TYPES = tuple(
    code for code, known in DOCUMENT_TYPES.items() if known.class_code not in {"60", "90"}
)
PROFESSIONAL_PRACTICE_SETTINGS = tuple(
    code for code, known in PRACTICE_SETTINGS.items() if known.system != PATIENT_EXPRESSION_SYSTEM
)
PROFESSIONAL_FACILITY_TYPES = tuple(
    code
    for code, known in HEALTHCARE_FACILITY_TYPES.items()
    if known.system != PATIENT_EXPRESSION_SYSTEM
)
Visibility = Literal["normal", "hidden-from-patient", "hidden-from-representatives"]
VISIBILITIES: tuple[Visibility, ...] = (
    "normal",
    "hidden-from-patient",
    "hidden-from-representatives",
)


@dataclass(frozen=True, slots=True)
class PortalDeposit:
    type_code: str
    service_date: dt.date
    practice_setting: str
    facility_type: str
    visibility: str
    filename: str
    content: bytes
    title: str = ""
    replaces: uuid.UUID | None = None


def _invalid(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code)


def _kind(filename: str, content: bytes) -> Literal["pdf", "cda"]:
    """What the file is, from its bytes; a name ending in .pdf must hold a PDF."""
    name = filename.lower()
    is_pdf = content.startswith(b"%PDF-")
    looks_xml = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
    if name.endswith(".pdf") and not is_pdf:
        raise _invalid("the file is named .pdf but is not a PDF document", "not-a-pdf")
    if is_pdf:
        return "pdf"
    if looks_xml:
        return "cda"
    raise _invalid("send a PDF document or a CDA document (XML)", "invalid-content")


def _check_form(deposit: PortalDeposit, today: dt.date) -> None:
    if not deposit.content:
        raise _invalid("the file is empty", "invalid-content")
    if len(deposit.content) > MAX_UPLOAD_BYTES:
        raise _invalid(f"the file exceeds {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "too-large")
    if deposit.type_code not in PROFESSIONAL_DOCUMENT_TYPES:
        raise _invalid("choose a document type from the DMP list", "invalid-type")
    if deposit.practice_setting not in PROFESSIONAL_PRACTICE_SETTINGS:
        raise _invalid("choose a practice setting from the list", "invalid-practice-setting")
    if deposit.facility_type not in PROFESSIONAL_FACILITY_TYPES:
        raise _invalid("choose a facility type from the list", "invalid-facility-type")
    if deposit.visibility not in VISIBILITIES:
        raise _invalid("choose a visibility", "invalid-visibility")
    if deposit.service_date > today:
        raise _invalid("the date of the act is in the future", "service-date-in-future")
    if len(deposit.title) > 255:
        raise _invalid("the title has at most 255 characters", "invalid-title")


def _ii_text(ii: InstanceId) -> str:
    return f"{ii.root}^{ii.extension}" if ii.extension else ii.root


@dataclass(frozen=True, slots=True)
class _Context:
    patient: PatientHeader
    organization: OrgHeader
    replaced_header: CdaHeader | None
    replaced_unique_id: str | None


async def _context(
    ctx: ServiceContext, *, actor: Professional, ins: Ins, replaces: uuid.UUID | None
) -> _Context:
    """What the header needs, read in one short transaction (no document is disclosed: the
    replaced document's header is only used to continue its set; the policy decides on the
    replacement when the deposit runs)."""
    async with ctx.uow() as uow:
        session = uow.session
        patient, record = await get_record(session, ins)
        org_name = None
        if actor.organization:
            org_name = await _organization_name(session, actor.organization)
        organization = OrgHeader(
            actor.organization or actor.idnat, org_name or actor.organization or actor.name or ""
        )
        sex = patient.sex if patient.sex in {"F", "M"} else "M"
        patient_header = PatientHeader(
            patient.ins_value,
            patient.ins_oid,
            patient.birth_name,
            patient.first_given_name,
            patient.birth_date,
            cast(Literal["F", "M"], sex),
        )
        replaced_header = replaced_uid = None
        if replaces is not None:
            old = await find_document(session, record.id, replaces)
            if old is not None:
                replaced_uid = old.unique_id
                if old.mime_type.split(";")[0].strip() in {"text/xml", "application/xml"}:
                    content = await ctx.blobs.get_document(
                        data_key=data_key_of(ctx, record),
                        blob_key=old.blob_key,
                        document_id=str(old.id),
                    )
                    try:
                        replaced_header = parse_header(content)
                    except InvalidInput:
                        replaced_header = None
    return _Context(
        patient=patient_header,
        organization=organization,
        replaced_header=replaced_header,
        replaced_unique_id=replaced_uid,
    )


async def _organization_name(session: AsyncSession, struct_idnat: str) -> str | None:
    found: str | None = (
        await session.execute(
            select(m.Organization.name).where(m.Organization.struct_idnat == struct_idnat)
        )
    ).scalar_one_or_none()
    return found


def _wrap(
    actor: Professional, deposit: PortalDeposit, info: _Context, now: dt.datetime, title: str
) -> tuple[str, bytes, dt.datetime]:
    if not actor.profession:
        # A CPE deposits documents that a professional wrote: the author is that
        # professional, whom only a complete CDA names.
        raise _invalid(
            "a document wrapped here names you as its author: without a profession (CPE), "
            "upload the CDA document written by the professional",
            "author-profession-required",
        )
    family, _, given = (actor.name or actor.idnat).partition(" ")
    author = AuthorHeader(
        actor.idnat,
        family,
        given or family,
        f"G15_{actor.profession}",
        actor.specialty,
        info.organization,
    )
    start = dt.datetime.combine(deposit.service_date, dt.time(), tzinfo=CARE_ZONE).astimezone(
        dt.UTC
    )
    unique_id = f"2.25.{uuid.uuid4().int}"
    set_id: tuple[str, str | None] = (f"2.25.{uuid.uuid4().int}", None)
    version = 1
    replaced: tuple[str, str | None] | None = None
    if info.replaced_header is not None:
        old = info.replaced_header
        set_id = (old.set_id.root, old.set_id.extension) if old.set_id else set_id
        version = (old.version_number or 1) + 1
        replaced = (old.document_id.root, old.document_id.extension)
    elif info.replaced_unique_id is not None:
        root, _, ext = info.replaced_unique_id.partition("^")
        replaced, version = (root, ext or None), 2
    cda = wrap_level1(
        content=deposit.content,
        media_type="application/pdf",
        document_id=(unique_id, None),
        set_id=set_id,
        version=version,
        type_code=deposit.type_code,
        type_display=type_label(deposit.type_code),
        title=title,
        effective_time=now,
        confidentiality="N",
        patient=info.patient,
        author=author,
        custodian=info.organization,
        service_start=start,
        service_stop=None,
        practice_setting=deposit.practice_setting,
        facility_type=deposit.facility_type,
        replaces=replaced,
    )
    return unique_id, cda, start


def _from_cda(deposit: PortalDeposit, ins: Ins) -> tuple[str, str, dt.datetime | None]:
    header = parse_header(deposit.content)
    if (header.patient.ins_oid, header.patient.ins_value) != (ins.oid, ins.value):
        raise DepositRefused(
            "the INS in the CDA header is not this patient's INS", code="patient-mismatch"
        )
    media = (header.body_media_type or "").lower()
    format_code = (
        PDF_FORMAT
        if media == "application/pdf"
        else TEXT_FORMAT
        if media.startswith("text/")
        else STRUCTURED_FORMAT
    )
    return _ii_text(header.document_id), format_code, header.service_start


async def _audit_refusal(
    ctx: ServiceContext, *, actor: Professional, ins: Ins, error: OpenDMPError
) -> None:
    async with ctx.uow() as uow:
        found = await find_record(uow.session, ins)
        if found is None:
            return  # the unknown INS was refused (and audited) by the record look-up
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.DOCUMENT_DEPOSIT,
            record_id=found[1].id,
            outcome=Outcome.DENIED,
            reason=error.code,
            details={"channel": "pro-portal"},
        )
        await uow.commit()


async def deposit_from_portal(
    ctx: ServiceContext, *, actor: Professional, ins: Ins, deposit: PortalDeposit
) -> DocumentView:
    """Check the form and the file, build or check the CDA, store it through the deposit
    pipeline (see the module doc); a refusal of the input is audited here."""
    now = ctx.now()
    try:
        document = await _document_input(ctx, actor=actor, ins=ins, deposit=deposit, now=now)
        result = await provide_documents(
            ctx,
            actor=actor,
            ins=ins,
            submission=SubmissionSetInput(
                unique_id=f"2.25.{uuid.uuid4().int}", source_id=SOURCE_ID, submitted_at=now
            ),
            documents=[document],
        )
    except (InvalidInput, DepositRefused, Conflict, LimitExceeded) as error:
        await _audit_refusal(ctx, actor=actor, ins=ins, error=error)
        raise
    return result.documents[0]


async def _document_input(
    ctx: ServiceContext,
    *,
    actor: Professional,
    ins: Ins,
    deposit: PortalDeposit,
    now: dt.datetime,
) -> DocumentInput:
    """The pipeline's input for the form: a PDF wrapped in a level-1 CDA, or the CDA sent."""
    _check_form(deposit, now.astimezone(CARE_ZONE).date())
    kind = _kind(deposit.filename, deposit.content)
    title = " ".join(deposit.title.split()) or type_label(deposit.type_code)
    start: dt.datetime | None
    if kind == "pdf":
        info = await _context(ctx, actor=actor, ins=ins, replaces=deposit.replaces)
        unique_id, content, start = _wrap(actor, deposit, info, now, title)
        format_code = PDF_FORMAT
    else:
        content = deposit.content
        unique_id, format_code, from_header = _from_cda(deposit, ins)
        start = dt.datetime.combine(deposit.service_date, dt.time(), tzinfo=CARE_ZONE).astimezone(
            dt.UTC
        )
        if from_header is not None and from_header.date() == start.date():
            start = from_header
    return DocumentInput(
        unique_id=unique_id,
        type_code=deposit.type_code,
        mime_type="text/xml",
        content=content,
        title=title,
        format_code=format_code,
        creation_time=now if kind == "pdf" else None,
        service_start=start,
        practice_setting=deposit.practice_setting,
        facility_type=deposit.facility_type,
        invisible_to_patient=deposit.visibility == "hidden-from-patient",
        invisible_to_representatives=deposit.visibility == "hidden-from-representatives",
        author_idnat=actor.idnat,
        replaces=ReplaceTarget(str(deposit.replaces)) if deposit.replaces else None,
    )
