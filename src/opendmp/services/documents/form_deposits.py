"""Deposits from the portals' forms: a professional's document and a patient's own.

Thin adapters over the one deposit pipeline (docs/architecture.md §6,
``deposit.provide_documents``): they check the form, build the pipeline's input (one
``DocumentInput`` in a ``SubmissionSetInput`` of its own) and call it. The pipeline asks
the policy, writes the blob ahead of the transaction, inserts the rows and the audit event
in one transaction, and deletes the blob when that fails (the reaper catches what a crash
leaves).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from opendmp.domain.actors import Actor, Patient
from opendmp.domain.codes import DOCUMENT_TYPES, LOINC_OID, class_for_type
from opendmp.domain.errors import Conflict, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.deposit import (
    LOINC,
    DepositRefused,
    DocumentInput,
    SubmissionSetInput,
    provide_documents,
)
from opendmp.services.documents.views import DocumentView

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


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


def _check(sub: DocumentSubmission) -> None:
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
    class_for_type(sub.type_code)  # an unknown type: InvalidInput, before the pipeline


async def deposit_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, submission: DocumentSubmission
) -> DocumentView:
    """One document from a form, through the deposit pipeline (``deposit.provide_documents``:
    policy, blob written ahead, rows, audit and notification in one transaction, the blob
    removed if that fails). The form's uniqueId must be new: an existing one is a conflict,
    whatever its content (no idempotent retry here)."""
    _check(submission)
    sub = submission
    document = DocumentInput(
        unique_id=sub.unique_id,
        type_code=sub.type_code,
        mime_type=sub.mime_type,
        content=sub.content,
        title=sub.title.strip(),
        format_code=sub.format_code,
        type_system=type_system(sub.type_code),
        creation_time=sub.creation_time,
        service_start=sub.service_start,
        service_stop=sub.service_stop,
        practice_setting=sub.practice_setting,
        facility_type=sub.facility_type,
        event_codes=sub.event_codes,
        language=sub.language,
        invisible_to_patient=sub.invisible_to_patient,
        invisible_to_representatives=sub.invisible_to_representatives,
        author_organization_name=sub.author_organization_name,
        read_cda=False,
    )
    submission_set = SubmissionSetInput(
        unique_id=sub.submission_set_unique_id or f"2.25.{uuid.uuid4().int}",
        source_id=sub.source_id,
        submitted_at=ctx.now(),
    )
    try:
        result = await provide_documents(
            ctx, actor=actor, ins=ins, submission=submission_set, documents=[document]
        )
    except DepositRefused as refused:
        if refused.code != "duplicate-unique-id":
            raise
        raise _duplicate() from None
    if not result.created[0]:
        raise _duplicate()  # nothing was written: the same document was there already
    return result.documents[0]


def _duplicate() -> Conflict:
    return Conflict("a document with this uniqueId already exists", code="duplicate-unique-id")


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
