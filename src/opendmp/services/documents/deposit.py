"""Provide documents: THE deposit pipeline, one submission, all or nothing.

Every channel is a thin adapter that builds ``SubmissionSetInput`` / ``DocumentInput`` and
calls ``provide_documents``: IHE ITI-65 / ITI-105 (fhir/provide.py), XDS ITI-41 (xds/), the
professional portal (pro_deposit.py), the patient's upload and the forms
(form_deposits.py). docs/architecture.md §6 lists the steps.

The bounds come first (documents per submission, bytes per document: docs/security.md,
"Bounded work per request"). Everything that can be checked without the
database is checked next, in a worker thread above ``INLINE_CHECK_BYTES`` (declared size and
SHA-1, duplicates inside the message, the CDA header against the metadata and the record's
INS). Then the blobs are
encrypted and written *before* the write transaction, after a read-only look at the record
(its data key, one statement): on SQLite the write lock is then held only for the short
inserts, not for the encryption and the fsyncs, so other requests keep flowing during a
large deposit. The write transaction, holding the record row lock, decides with
authority: the policy (audited), the uniqueIds already in the
record, the replaced documents; the rows go in with Core inserts, pointing at the blobs
written ahead (or written then, when the look ahead could not prepare them). If anything
fails before the commit, the blobs written by this call are deleted before the error leaves;
a crash in between leaves unreferenced blobs, which the blob reaper removes after
``OPENDMP_BLOB_GRACE_SECONDS`` (services/operations/maintenance.py).

Idempotent retry: a uniqueId already in the record with the *same* content (SHA-256 and
size) is not stored twice; the existing entry is returned with a warning.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar, TypeVarTuple

import orjson
from anyio import to_thread
from sqlalchemy import ColumnElement, Row, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import NewEvent, append_many
from opendmp.cda.header import CdaHeader, InstanceId, parse_header
from opendmp.cda.xml import HL7_V3, parse_xml
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.codes import class_for_type, type_label
from opendmp.domain.errors import Conflict, InvalidIdentifier, InvalidInput, OpenDMPError
from opendmp.domain.identifiers import Ins, parse_idnat_ps
from opendmp.domain.limits import RequestLimits, check_document_count, too_large
from opendmp.domain.policy import NOTIFY_NEW_DOCUMENT, Action, Facts
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import document_facts
from opendmp.services.core.gate import seen_or_audited
from opendmp.services.core.guarded import Guarded, guarded
from opendmp.services.core.keys import SealedDataKey, open_data_key
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.documents.views import DocumentView, data_key_of, document_view
from opendmp.storage import models as m

LOINC = "http://loinc.org"
XML_MIME_TYPES = frozenset({"text/xml", "application/xml"})
DEFAULT_FORMAT_CODE = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
# Blobs written at once by one deposit: their fsyncs overlap, a few threads at most.
BLOB_WRITERS = 4
# Messages up to this size are parsed and checked on the event loop (about a millisecond of
# CPU): handing them to a worker thread and back cost more than the work, for nothing in
# parallel (the GIL). Larger ones go to a thread, so the loop keeps serving the others.
INLINE_CHECK_BYTES = 64 * 1024

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


async def checked_by_size(size: int, func: Callable[[*_Args], _T], *args: *_Args) -> _T:
    """``func(*args)``, the parsing or checking of a message of ``size`` bytes: on the event
    loop up to ``INLINE_CHECK_BYTES``, in a worker thread above (FHIR ITI-65, XDS.b ITI-41,
    the deposit's own checks)."""
    if size <= INLINE_CHECK_BYTES:
        return func(*args)
    return await to_thread.run_sync(func, *args)


class DepositRefused(OpenDMPError):
    """A business rule of the deposit refused the submission (HTTP 422)."""

    code = "invalid-metadata"
    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        entry_index: int | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.entry_index = entry_index


@dataclass(frozen=True, slots=True)
class DepositWarning:
    """Something accepted but worth telling the producer (``entry_index``: document index)."""

    code: str
    message: str
    entry_index: int | None = None


@dataclass(frozen=True, slots=True)
class ReplaceTarget:
    """The document a new one replaces: by ``id`` (logicalId or entryUUID) or uniqueId."""

    value: str
    kind: Literal["id", "unique-id"] = "id"


@dataclass(frozen=True, slots=True)
class SubmissionSetInput:
    unique_id: str
    source_id: str
    entry_uuid: str | None = None  # urn:uuid:…; assigned when absent
    submitted_at: dt.datetime | None = None  # the source's submissionTime; now when absent
    title: str | None = None
    content_type_code: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DocumentInput:
    unique_id: str
    type_code: str
    mime_type: str
    content: bytes
    title: str | None = None  # the CDA title, else the type's label, when absent
    format_code: str = DEFAULT_FORMAT_CODE
    type_system: str = LOINC
    creation_time: dt.datetime | None = None  # from the CDA header when absent
    declared_size: int | None = None
    declared_sha1: str | None = None  # hex
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    practice_setting: str | None = None
    facility_type: str | None = None
    event_codes: tuple[str, ...] = ()
    language: str = "fr-FR"
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    author_idnat: str | None = None  # the author the metadata names (checked against CDA)
    author_organization_name: str | None = None
    replaces: ReplaceTarget | None = None
    extra: dict[str, Any] | None = None
    # False: the content is stored as given, no CDA header read from it (the portals' form
    # deposits, whose adapters check the content their own way: form_deposits.py).
    read_cda: bool = True


@dataclass(frozen=True, slots=True)
class ProvideResult:
    submission_set_id: uuid.UUID
    submission_set_entry_uuid: str
    documents: list[DocumentView]
    warnings: list[DepositWarning]
    created: list[bool]  # per document: False when an identical one was already stored
    superseded: list[DocumentView | None] = field(default_factory=list)  # per document
    ins: Ins | None = None


@dataclass(slots=True)
class _Checked:
    """One document after the checks that need no database."""

    index: int
    doc: DocumentInput
    class_code: str
    title: str
    creation_time: dt.datetime
    service_start: dt.datetime | None
    service_stop: dt.datetime | None
    sha1: str
    sha256: str
    document_id: uuid.UUID = field(default_factory=uuid.uuid4)
    entry_uuid: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    existing: m.Document | None = None
    replaced: m.Document | None = None


def canonical_json(value: dict[str, Any] | None) -> str | None:
    if not value:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# --- checks without the database -------------------------------------------------------------


def _same_instant(a: dt.datetime, b: dt.datetime) -> bool:
    return abs((a - b).total_seconds()) < 1


def _looks_like_xml(content: bytes) -> bool:
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"


def _cda_header(index: int, doc: DocumentInput) -> CdaHeader | None:
    """The CDA header when the content is a CDA document; ``None`` for other content."""
    declared_xml = doc.mime_type.split(";", 1)[0].strip().lower() in XML_MIME_TYPES
    if not declared_xml and not _looks_like_xml(doc.content):
        return None
    try:
        root = parse_xml(doc.content)
    except InvalidInput as exc:
        if not declared_xml:
            return None
        raise DepositRefused(
            f"document {index + 1}: {exc.message}", code="invalid-document", entry_index=index
        ) from None
    is_cda = root.tag == f"{{{HL7_V3}}}ClinicalDocument" or (
        root.tag == "{http://www.w3.org/1999/XSL/Transform}stylesheet"
        and b"ClinicalDocument" in doc.content
    )
    if not is_cda:
        return None
    try:
        return parse_header(doc.content)
    except InvalidInput as exc:
        raise DepositRefused(
            f"document {index + 1}: {exc.message}", code="invalid-cda", entry_index=index
        ) from None


def _ii_text(ii: InstanceId) -> str:
    return f"{ii.root}^{ii.extension}" if ii.extension else ii.root


def _check_cda(
    index: int, doc: DocumentInput, header: CdaHeader, ins: Ins, warnings: list[DepositWarning]
) -> None:
    """Refuse a CDA that is not the document or the patient the metadata name; warn of the
    metadata it contradicts."""
    _check_cda_identity(index, doc, header, ins)
    warnings.extend(
        DepositWarning(code, f"document {index + 1}: {message}", index)
        for code, message in _cda_mismatches(doc, header)
    )


def _check_cda_identity(index: int, doc: DocumentInput, header: CdaHeader, ins: Ins) -> None:
    ids = {_ii_text(header.document_id)}
    if header.document_id.extension is None:
        ids.add(header.document_id.root)
    if doc.unique_id not in ids:
        raise DepositRefused(
            f"document {index + 1}: the CDA ClinicalDocument/id ({_ii_text(header.document_id)})"
            " is not the uniqueId given in the metadata",
            code="cda-mismatch",
            entry_index=index,
        )
    if header.patient.ins_value is None:
        raise DepositRefused(
            f"document {index + 1}: the CDA recordTarget carries no INS",
            code="patient-mismatch",
            entry_index=index,
        )
    if (header.patient.ins_oid, header.patient.ins_value) != (ins.oid, ins.value):
        raise DepositRefused(
            f"document {index + 1}: the INS in the CDA header is not the record's INS",
            code="patient-mismatch",
            entry_index=index,
        )


def _cda_mismatches(doc: DocumentInput, header: CdaHeader) -> list[tuple[str, str]]:
    """(code, message) of each metadata the CDA header contradicts."""
    found: list[tuple[str, str]] = []
    if header.code.code != doc.type_code:
        found.append(
            (
                "cda-type-mismatch",
                f"the CDA code {header.code.code} differs from the type {doc.type_code}",
            )
        )
    if doc.creation_time is not None and not _same_instant(
        doc.creation_time, header.effective_time
    ):
        found.append(
            ("cda-creation-time-mismatch", "the CDA effectiveTime differs from the creation time")
        )
    for name, given, in_cda in (
        ("start", doc.service_start, header.service_start),
        ("stop", doc.service_stop, header.service_stop),
    ):
        if given is not None and in_cda is not None and not _same_instant(given, in_cda):
            found.append(
                (
                    f"cda-service-{name}-mismatch",
                    f"the CDA serviceEvent {name} differs from the service {name} time",
                )
            )
    return found + _cda_author_mismatches(doc, header)


def _cda_author_mismatches(doc: DocumentInput, header: CdaHeader) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    authors = [a.idnat for a in header.authors if a.idnat]
    if doc.author_idnat and authors and doc.author_idnat not in authors:
        found.append(
            ("cda-author-mismatch", "the CDA author IdNat differs from the metadata's author")
        )
    for idnat in authors:
        try:
            parsed = parse_idnat_ps(idnat, strict_key=False)
        except InvalidIdentifier as exc:
            found.append(("invalid-author-idnat", f"CDA author: {exc.message}"))
            continue
        if not parsed.key_valid:
            found.append(("invalid-rpps-key", f"CDA author: {'; '.join(parsed.warnings)}"))
    return found


def _check_document(
    index: int, doc: DocumentInput, ins: Ins, now: dt.datetime, warnings: list[DepositWarning]
) -> _Checked:
    if not doc.content:
        raise DepositRefused(
            f"document {index + 1} is empty", code="invalid-document", entry_index=index
        )
    if not doc.unique_id or len(doc.unique_id) > 128:
        raise DepositRefused(
            f"document {index + 1}: uniqueId is required (at most 128 characters)",
            entry_index=index,
        )
    if doc.declared_size is not None and doc.declared_size != len(doc.content):
        raise DepositRefused(
            f"document {index + 1}: declared size {doc.declared_size} differs from the content's"
            f" {len(doc.content)} bytes",
            code="size-mismatch",
            entry_index=index,
        )
    sha1 = hashlib.sha1(doc.content, usedforsecurity=False).hexdigest()
    if doc.declared_sha1 is not None and doc.declared_sha1.lower() != sha1:
        raise DepositRefused(
            f"document {index + 1}: the declared SHA-1 hash does not match the content",
            code="hash-mismatch",
            entry_index=index,
        )
    try:
        class_code = class_for_type(doc.type_code)
    except InvalidInput as exc:
        raise DepositRefused(exc.message, code=exc.code, entry_index=index) from None
    header = _cda_header(index, doc) if doc.read_cda else None
    creation, start, stop, title = doc.creation_time, doc.service_start, doc.service_stop, doc.title
    if header is not None:
        _check_cda(index, doc, header, ins, warnings)
        creation = creation or header.effective_time
        start = start or header.service_start
        stop = stop or header.service_stop
        title = title or header.title
    if creation is None:
        raise DepositRefused(
            f"document {index + 1}: the creation time is required", entry_index=index
        )
    if creation.tzinfo is None or (start is not None and start.tzinfo is None):
        raise DepositRefused(
            f"document {index + 1}: times must carry a time zone", entry_index=index
        )
    if start is not None and stop is not None and stop < start:
        raise DepositRefused(
            f"document {index + 1}: the service stop time is before its start", entry_index=index
        )
    if creation > now + dt.timedelta(minutes=5):
        warnings.append(
            DepositWarning(
                "creation-time-in-future",
                f"document {index + 1}: the creation time is in the future",
                index,
            )
        )
    if not title or not title.strip():
        title = type_label(doc.type_code)
    return _Checked(
        index=index,
        doc=doc,
        class_code=class_code,
        title=title.strip()[:255],
        creation_time=creation,
        service_start=start,
        service_stop=stop,
        sha1=sha1,
        sha256=hashlib.sha256(doc.content).hexdigest(),
    )


def check_bounds(documents: Sequence[DocumentInput], limits: RequestLimits) -> None:
    """422 beyond ``max_documents``, 413 for a document beyond ``max_document_bytes``."""
    check_document_count("documents in the submission", len(documents), limits)
    for index, doc in enumerate(documents):
        if len(doc.content) > limits.max_document_bytes:
            raise too_large(
                f"document {index + 1}",
                len(doc.content),
                limits.max_document_bytes,
                "OPENDMP_MAX_DOCUMENT_BYTES",
            )


def _check_message(
    documents: Sequence[DocumentInput], ins: Ins, now: dt.datetime
) -> tuple[list[_Checked], list[DepositWarning]]:
    if not documents:
        raise DepositRefused("the submission holds no document")
    warnings: list[DepositWarning] = []
    seen: dict[str, int] = {}
    targets: dict[tuple[str, str], int] = {}
    for index, doc in enumerate(documents):
        if doc.unique_id in seen:
            raise DepositRefused(
                f"documents {seen[doc.unique_id] + 1} and {index + 1} share one uniqueId",
                code="duplicate-unique-id-in-message",
                entry_index=index,
            )
        seen[doc.unique_id] = index
        if doc.replaces is not None:
            key = (doc.replaces.kind, doc.replaces.value)
            if key in targets:
                raise DepositRefused(
                    f"documents {targets[key] + 1} and {index + 1} replace the same document",
                    entry_index=index,
                )
            targets[key] = index
    checked = [_check_document(i, d, ins, now, warnings) for i, d in enumerate(documents)]
    return checked, warnings


# --- the transaction ---------------------------------------------------------------------------


async def _find_replaced(
    session: AsyncSession, record_id: uuid.UUID, target: ReplaceTarget
) -> m.Document | None:
    query = select(m.Document).where(m.Document.record_id == record_id)
    if target.kind == "unique-id":
        query = query.where(m.Document.unique_id == target.value)
    else:
        raw = target.value.removeprefix("urn:uuid:")
        try:
            as_uuid = uuid.UUID(raw)
        except ValueError:
            return None
        query = query.where(
            or_(m.Document.id == as_uuid, m.Document.entry_uuid == f"urn:uuid:{as_uuid}")
        )
    return (await session.execute(query.with_for_update())).scalars().first()


@dataclass(slots=True)
class _WrittenAhead:
    """Blobs encrypted and written before the write transaction, per document index, under
    the data key ``sealed`` (the record's wrapped key, its epoch and master key) opens."""

    record_id: uuid.UUID
    sealed: tuple[bytes | None, int | None, str | None]
    data_key: bytes
    keys: dict[int, str] = field(default_factory=dict)

    def data_key_for(self, record: m.Record) -> bytes | None:
        """The data key unwrapped ahead, if ``record`` still holds the same wrapped key: the
        same bytes under the same key-encryption key unwrap to the same key, so it is not
        unwrapped twice (docs/architecture.md §7)."""
        if record.id != self.record_id or _sealed(record) != self.sealed:
            return None
        return self.data_key

    def key_for(self, item: _Checked, record: m.Record) -> str | None:
        """The blob written ahead for ``item``, if it was sealed for this record and key."""
        if self.data_key_for(record) is None:
            return None
        return self.keys.get(item.index)


def _sealed(
    record: m.Record | Row[Any, Any, Any, Any],
) -> tuple[bytes | None, int | None, str | None]:
    return record.wrapped_data_key, record.kek_epoch, record.master_key_id


_RECORDS = m.Record.metadata.tables["record"]
_PATIENTS = m.Patient.metadata.tables["patient"]
# The record of an INS and its sealed data key, in one statement built once.
_SEALED_KEY = (
    select(
        _RECORDS.c.id,
        _RECORDS.c.wrapped_data_key,
        _RECORDS.c.kek_epoch,
        _RECORDS.c.master_key_id,
    )
    .select_from(_PATIENTS.join(_RECORDS, _RECORDS.c.patient_id == _PATIENTS.c.id))
    .where(
        _PATIENTS.c.ins_value == bindparam("ins_value"),
        _PATIENTS.c.ins_oid == bindparam("ins_oid"),
    )
)


async def _look_ahead(ctx: ServiceContext, ins: Ins) -> _WrittenAhead | None:
    """The record and its data key, read without the write lock (one statement); ``None``
    when there is none to read: the write transaction then decides, audits and answers.
    Nothing is decided or told from here, so nothing is audited either: a deposit the write
    transaction refuses (the policy, a uniqueId already stored) has its blobs deleted
    (``_delete_blobs``, ``_Stored.unreferenced``)."""
    try:
        async with ctx.uow(read_only=True) as uow:
            params = {"ins_value": ins.value, "ins_oid": ins.oid}
            row = (await uow.session.execute(_SEALED_KEY, params)).first()
            if row is None or row.wrapped_data_key is None:
                return None
            sealed = SealedDataKey(row.wrapped_data_key, row.kek_epoch, row.master_key_id)
            key = open_data_key(ctx, sealed)
            return _WrittenAhead(row.id, _sealed(row), key)
    except OpenDMPError:
        return None


async def _write_ahead(
    ctx: ServiceContext, ins: Ins, checked: list[_Checked]
) -> _WrittenAhead | None:
    """Encrypt and write the documents' blobs outside the write transaction."""
    ahead = await _look_ahead(ctx, ins)
    if ahead is None:
        return None
    writers = asyncio.Semaphore(BLOB_WRITERS)

    async def write(item: _Checked) -> None:
        async with writers:
            ahead.keys[item.index] = await ctx.blobs.put_document(
                data_key=ahead.data_key,
                record_id=str(ahead.record_id),
                document_id=str(item.document_id),
                content=item.doc.content,
            )

    try:
        # Every write ends (success or error) before any cleanup: no blob lands afterwards.
        failures = await asyncio.gather(*(write(item) for item in checked), return_exceptions=True)
        failure = next((f for f in failures if isinstance(f, BaseException)), None)
        if failure is not None:
            raise failure
    except BaseException:
        await _delete_blobs(ctx, list(ahead.keys.values()), committed=False)
        raise
    return ahead


@dataclass(slots=True)
class _Stored:
    """The blobs of one deposit: written ahead, written by this call, referenced by a row."""

    ahead: _WrittenAhead | None
    written: list[str]
    referenced: set[str] = field(default_factory=set)

    def data_key(self, ctx: ServiceContext, record: m.Record) -> bytes:
        """The record's data key, unwrapped once per deposit when it did not change."""
        key = self.ahead.data_key_for(record) if self.ahead is not None else None
        return key if key is not None else data_key_of(ctx, record)

    async def key_for(
        self, ctx: ServiceContext, record: m.Record, data_key: bytes, item: _Checked
    ) -> str:
        key = self.ahead.key_for(item, record) if self.ahead is not None else None
        if key is None:
            key = await ctx.blobs.put_document(
                data_key=data_key,
                record_id=str(record.id),
                document_id=str(item.document_id),
                content=item.doc.content,
            )
            self.written.append(key)
        self.referenced.add(key)
        return key

    def unreferenced(self) -> list[str]:
        """Written ahead for a document that turned out to be already stored."""
        return [key for key in self.written if key not in self.referenced]


@dataclass(slots=True)
class _Outcome:
    set_id: uuid.UUID
    set_entry_uuid: str
    views: list[DocumentView]
    superseded: list[DocumentView | None]


@dataclass(slots=True)
class _Deposit:
    """One submission through the write transaction (steps 3 to 6 of ``provide_documents``).

    ``commit_sent`` and ``committed`` tell the clean-up which blobs it may delete.
    """

    ctx: ServiceContext
    actor: Actor
    ins: Ins
    submission: SubmissionSetInput
    checked: list[_Checked]
    warnings: list[DepositWarning]
    stored: _Stored
    now: dt.datetime
    commit_sent: bool = False
    committed: bool = False

    async def run(self) -> _Outcome:
        async with guarded(
            self.ctx,
            actor=self.actor,
            ins=self.ins,
            action=Action.DEPOSIT,
            audit_action=AuditAction.DOCUMENT_DEPOSIT,
            for_update=True,
        ) as g:
            await _already_stored(g.session, g.record.id, self.checked, self.warnings)
            for item in self.checked:
                if item.doc.replaces is not None and item.existing is None:
                    item.replaced = await self._replaced(g, item, item.doc.replaces)
            new_items = [c for c in self.checked if c.existing is None]
            set_id, set_entry_uuid = await _submission_set_for(
                g.session, g.record.id, self.submission, bool(new_items), self.checked
            )
            inserted: dict[int, dict[str, Any]] = {}
            if new_items:
                await self._insert_submission_set(g, set_id, set_entry_uuid)
                inserted = await self._insert_documents(g, new_items, set_id)
                await self._notify(g)
            # The commit point. A COMMIT that fails (connection lost) may still have been
            # applied: from here on the blobs stay; those no row references are the orphan
            # reaper's.
            self.commit_sent = True
            await g.uow.commit()
            self.committed = True
            views, superseded = await self._views(g.session, g.record.id, inserted)
            return _Outcome(set_id, set_entry_uuid, views, superseded)

    async def _replaced(self, g: Guarded, item: _Checked, target: ReplaceTarget) -> m.Document:
        """The document ``item`` replaces, locked, if this caller may replace it: one they
        may not know of is answered as one the record does not hold (``unresolved-reference``,
        the refusal audited: docs/security.md, "Existence")."""
        old = await _find_replaced(g.session, g.record.id, target)
        if old is not None and not await seen_or_audited(
            self.ctx,
            g.uow,
            actor=self.actor,
            facts=self._document_facts(g, old),
            audit_action=AuditAction.DOCUMENT_REPLACE,
            record_id=g.record.id,
            document_id=old.id,
        ):
            old = None  # not for this caller: answered as an unknown document
        if old is None:
            raise DepositRefused(
                f"document {item.index + 1}: the document it replaces is not in this record",
                code="unresolved-reference",
                entry_index=item.index,
            )
        if old.status != "current":
            raise DepositRefused(
                f"document {item.index + 1}: the document it replaces is {old.status}, not current",
                code="replaced-document-not-current",
                http_status=409,
                entry_index=item.index,
            )
        await g.require(
            Action.REPLACE_DOCUMENT,
            AuditAction.DOCUMENT_REPLACE,
            facts=self._document_facts(g, old),
            target_document_id=old.id,
        )
        return old

    def _document_facts(self, g: Guarded, doc: m.Document) -> Facts:
        return document_facts(doc, actor=self.actor, who=g.who, matrix=self.ctx.matrix)[0]

    async def _insert_submission_set(self, g: Guarded, set_id: uuid.UUID, entry_uuid: str) -> None:
        sub, actor = self.submission, self.actor
        professional = actor if isinstance(actor, Professional) else None
        row = dict(
            id=set_id,
            record_id=g.record.id,
            unique_id=sub.unique_id,
            source_id=sub.source_id,
            title=sub.title[:255] if sub.title else None,
            content_type_code=sub.content_type_code,
            author_idnat=professional.idnat if professional else None,
            author_name=professional.name if professional else None,
            author_organization=professional.organization if professional else None,
            submitted_at=sub.submitted_at or self.now,
            entry_uuid=entry_uuid,
            extra=canonical_json(sub.extra),
        )
        try:
            await g.session.execute(_INSERT_SUBMISSION_SET, row)
        except IntegrityError:
            # Its uniqueId is in the record (the constraint on (record_id, unique_id)): found
            # by the insert rather than by a look-up before it (docs/benchmarks.md).
            raise DepositRefused(
                "a submission set with this uniqueId is already in the record",
                code="duplicate-unique-id",
                http_status=409,
            ) from None

    async def _insert_documents(
        self, g: Guarded, new_items: list[_Checked], set_id: uuid.UUID
    ) -> dict[int, dict[str, Any]]:
        """Insert the new documents (one multi-row statement), supersede the replaced ones
        and audit it all (one append for every event): the write lock is held for few
        statements."""
        data_key = self.stored.data_key(self.ctx, g.record)
        author = _Author(g.who.professional_id, g.who.organization_id)
        rows: dict[int, dict[str, Any]] = {}
        for item in new_items:
            key = await self.stored.key_for(self.ctx, g.record, data_key, item)
            by = await author.columns(g.session, self.actor, item.doc, self.now)
            rows[item.index] = document_row(item, g.record, set_id, key, by, self.now)
        await g.session.execute(_INSERT_DOCUMENT, list(rows.values()))
        events: list[NewEvent] = []
        for item in new_items:
            deposited = {"type": item.doc.type_code}
            events.append(self._event(g, AuditAction.DOCUMENT_DEPOSIT, item.document_id, deposited))
            if item.replaced is not None:
                await _supersede(g.session, g.record.id, item.replaced, self.now)
                replaced_by = {"replaced_by": str(item.document_id)}
                events.append(
                    self._event(g, AuditAction.DOCUMENT_REPLACE, item.replaced.id, replaced_by)
                )
        await append_many(g.session, events)
        return rows

    def _event(
        self, g: Guarded, action: AuditAction, document_id: uuid.UUID, details: dict[str, Any]
    ) -> NewEvent:
        return NewEvent(
            action=action,
            actor=self.actor,
            time=self.ctx.now(),
            record_id=g.record.id,
            target_document_id=document_id,
            details=details,
        )

    async def _notify(self, g: Guarded) -> None:
        """The patient's "new document" message, when they asked for it (docs/rules.md §5)
        and the policy's obligations carry it."""
        recipient = g.patient.email or g.patient.mobile
        assert g.decision is not None
        if not (
            g.record.notify_on_new_document
            and NOTIFY_NEW_DOCUMENT in g.decision.notify_patient
            and recipient
        ):
            return
        await enqueue_notification(
            g.session,
            record_id=g.record.id,
            kind="new-document",
            recipient=recipient,
            payload={"at": self.now.isoformat()},
            now=self.now,
            language=g.record.preferred_language,
        )

    async def _views(
        self, session: AsyncSession, record_id: uuid.UUID, inserted: dict[int, dict[str, Any]]
    ) -> tuple[list[DocumentView], list[DocumentView | None]]:
        checked = self.checked
        if all(c.existing is None and c.replaced is None for c in checked):
            # The common case: every row was inserted just now, from values we hold.
            return [_inserted_view(inserted[c.index]) for c in checked], [None] * len(checked)
        return await _read_back(session, record_id, checked)


async def provide_documents(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    submission: SubmissionSetInput,
    documents: Sequence[DocumentInput],
) -> ProvideResult:
    """Store a submission set and its documents, all or nothing (see the module doc).

    1. bounds, then the checks that need no database (in a worker thread, but for small
       messages);
    2. a read-only look at the record (its data key), then the blobs written ahead,
       outside the write transaction;
    3. the write transaction (``_Deposit.run``): the record locked, the policy asked again
       with authority (a refusal audited), the uniqueIds already stored, the replacements;
    4. the rows (submission set, documents, superseded ones);
    5. the audit events and the patient's notification; the commit;
    6. on failure, the blobs this call wrote are deleted (not once the COMMIT was sent).
    """
    check_bounds(documents, ctx.limits)
    now = ctx.now()
    size = sum(len(d.content) for d in documents)
    checked, warnings = await checked_by_size(size, _check_message, documents, ins, now)
    ahead = await _write_ahead(ctx, ins, checked)
    stored = _Stored(ahead, list(ahead.keys.values()) if ahead is not None else [])
    deposit = _Deposit(ctx, actor, ins, submission, checked, warnings, stored, now)
    try:
        outcome = await deposit.run()
    except IntegrityError:
        await _delete_blobs(ctx, stored.written, deposit.committed)
        raise Conflict(
            "a document or submission set with one of these uniqueIds was stored meanwhile",
            code="duplicate-unique-id",
        ) from None
    except BaseException:
        await _delete_blobs(ctx, stored.written, deposit.committed or deposit.commit_sent)
        raise
    await _delete_blobs(ctx, stored.unreferenced(), committed=False)
    return ProvideResult(
        submission_set_id=outcome.set_id,
        submission_set_entry_uuid=outcome.set_entry_uuid,
        documents=outcome.views,
        warnings=warnings,
        created=[c.existing is None for c in checked],
        superseded=outcome.superseded,
        ins=ins,
    )


async def _delete_blobs(ctx: ServiceContext, keys: list[str], committed: bool) -> None:
    """Remove the blobs of a failed deposit (never those of rows that are, or may have
    been, committed: docs/security.md, "Faults")."""
    if committed:
        return
    for key in keys:
        await ctx.blobs.store.delete(key)


async def _resolve_existing(
    session: AsyncSession,
    record_id: uuid.UUID,
    checked: list[_Checked],
    warnings: list[DepositWarning],
) -> None:
    """Find uniqueIds already stored: same content = idempotent retry, else a conflict."""
    rows = (
        (
            await session.execute(
                select(m.Document).where(
                    m.Document.record_id == record_id,
                    m.Document.unique_id.in_([c.doc.unique_id for c in checked]),
                )
            )
        )
        .scalars()
        .all()
    )
    by_uid = {row.unique_id: row for row in rows}
    for item in checked:
        row = by_uid.get(item.doc.unique_id)
        if row is None:
            continue
        if row.status == "deleted":
            # A retry must not be told "already stored" for a document that answers 410.
            raise DepositRefused(
                f"document {item.index + 1}: a document with this uniqueId was deleted from"
                " the record; a new deposit needs a new uniqueId",
                code="duplicate-unique-id",
                http_status=409,
                entry_index=item.index,
            )
        if row.sha256 != item.sha256 or row.size != len(item.doc.content):
            raise DepositRefused(
                f"document {item.index + 1}: a document with this uniqueId and another"
                " content is already in the record",
                code="duplicate-unique-id",
                http_status=409,
                entry_index=item.index,
            )
        item.existing = row
        warnings.append(
            DepositWarning(
                "already-stored",
                f"document {item.index + 1}: the same document was already stored;"
                " the existing entry is returned",
                item.index,
            )
        )


_DOCUMENTS = m.Document.metadata.tables["document"]
_SETS = m.SubmissionSet.metadata.tables["submission_set"]


# How many of the uniqueIds are already in the record, in a statement built once: their
# rows are loaded only when there are some (an idempotent retry).
_STORED_COUNT = (
    select(func.count())
    .select_from(_DOCUMENTS)
    .where(
        _DOCUMENTS.c.record_id == bindparam("record_id"),
        _DOCUMENTS.c.unique_id.in_(bindparam("unique_ids", expanding=True)),
    )
)


async def _already_stored(
    session: AsyncSession,
    record_id: uuid.UUID,
    checked: list[_Checked],
    warnings: list[DepositWarning],
) -> None:
    """``_resolve_existing``, when one of the uniqueIds is in the record."""
    unique_ids = [c.doc.unique_id for c in checked]
    found = await session.scalar(_STORED_COUNT, {"record_id": record_id, "unique_ids": unique_ids})
    if found:
        await _resolve_existing(session, record_id, checked, warnings)


async def _submission_set_for(
    session: AsyncSession,
    record_id: uuid.UUID,
    submission: SubmissionSetInput,
    creates: bool,
    checked: list[_Checked],
) -> tuple[uuid.UUID, str]:
    """(id, entryUUID) of the deposit's submission set: a new one when it creates documents
    (a uniqueId already in the record is refused by the insert: ``_insert_submission_set``),
    else (every document already stored) the one stored under its uniqueId or, failing
    that, the one the stored documents belong to."""
    if creates:
        return uuid.uuid4(), submission.entry_uuid or f"urn:uuid:{uuid.uuid4()}"
    found = await _stored_set(session, record_id, m.SubmissionSet.unique_id == submission.unique_id)
    if found is None:
        # Every document was already stored, under another submission set: keep theirs.
        first = checked[0].existing
        assert first is not None and first.submission_set_id is not None
        found = await _stored_set(session, record_id, m.SubmissionSet.id == first.submission_set_id)
    assert found is not None
    return found


async def _stored_set(
    session: AsyncSession, record_id: uuid.UUID, which: ColumnElement[bool]
) -> tuple[uuid.UUID, str] | None:
    """(id, entryUUID) of the record's submission set ``which`` names, if there is one."""
    row = (
        await session.execute(
            select(m.SubmissionSet.id, m.SubmissionSet.entry_uuid).where(
                m.SubmissionSet.record_id == record_id, which
            )
        )
    ).first()
    return None if row is None else (row.id, row.entry_uuid or f"urn:uuid:{row.id}")


@dataclass(slots=True)
class _Author:
    """The depositing professional's directory ids, looked up once per submission.

    ``actor_on_record`` already read them; they are only registered here when missing
    (a credential seen for the first time by this deposit).
    """

    professional_id: uuid.UUID | None
    organization_id: uuid.UUID | None

    async def columns(
        self, session: AsyncSession, actor: Actor, doc: DocumentInput, now: dt.datetime
    ) -> dict[str, Any]:
        """The document row's author and depositor columns for ``actor``."""
        columns: dict[str, Any] = dict.fromkeys(_AUTHOR_COLUMNS)
        columns.update(deposited_by_kind=actor.kind.value, deposited_by_id=actor.actor_id)
        if not isinstance(actor, Professional):
            return columns
        if self.professional_id is None:
            self.professional_id = (await ensure_professional(session, actor, now=now)).id
        columns.update(
            author_professional_id=self.professional_id,
            author_idnat=actor.idnat,
            author_name=actor.name,
            author_role=actor.profession,
            author_specialty=actor.specialty,
        )
        if actor.organization:
            if self.organization_id is None:
                org = await ensure_organization(
                    session, actor.organization, name=doc.author_organization_name, now=now
                )
                self.organization_id = org.id
            columns.update(
                author_organization_id=self.organization_id,
                author_organization_idnat=actor.organization,
            )
        return columns


_AUTHOR_COLUMNS = (
    "author_professional_id",
    "author_organization_id",
    "author_idnat",
    "author_name",
    "author_role",
    "author_specialty",
    "author_organization_idnat",
)
_INSERT_DOCUMENT = insert(_DOCUMENTS)
_INSERT_SUBMISSION_SET = insert(_SETS)
_UTC_FIELDS = ("service_start", "service_stop", "creation_time", "deposited_at", "updated_at")
_VIEW_FIELDS = tuple(f.name for f in fields(DocumentView) if f.name != "event_codes")


def _inserted_view(values: dict[str, Any]) -> DocumentView:
    """The view of a row from the values just inserted, as the database gives them back
    (timestamps in UTC): no read-back statement."""
    row = {name: values[name] for name in _VIEW_FIELDS}
    for name in _UTC_FIELDS:
        if row[name] is not None:
            row[name] = row[name].astimezone(dt.UTC)
    codes = values["event_codes"]
    # What ``document_view`` gives for the stored row, without building an ORM entity.
    return DocumentView(**row, event_codes=tuple(orjson.loads(codes)) if codes else ())


def document_row(
    item: _Checked,
    record: m.Record,
    set_id: uuid.UUID,
    blob_key: str,
    by: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """THE document row of a deposit, whatever the channel (docs/architecture.md §6):
    ``by`` holds the author and depositor columns (``_Author.columns``)."""
    doc = item.doc
    return dict(
        id=item.document_id,
        entry_uuid=item.entry_uuid,
        record_id=record.id,
        unique_id=doc.unique_id,
        status="current",
        archived=False,
        masked_by_patient=record.mask_new_documents,
        invisible_to_patient=doc.invisible_to_patient,
        invisible_to_representatives=doc.invisible_to_representatives,
        class_code=item.class_code,
        type_code=doc.type_code,
        type_system=doc.type_system[:64],
        format_code=doc.format_code[:128],
        mime_type=doc.mime_type[:128],
        title=item.title,
        language=doc.language[:16],
        **by,
        practice_setting=doc.practice_setting,
        facility_type=doc.facility_type,
        event_codes=orjson.dumps(list(doc.event_codes)).decode() if doc.event_codes else None,
        service_start=item.service_start,
        service_stop=item.service_stop,
        creation_time=item.creation_time,
        size=len(doc.content),
        sha256=item.sha256,
        sha1=item.sha1,
        blob_key=blob_key,
        replaces_id=item.replaced.id if item.replaced is not None else None,
        submission_set_id=set_id,
        version=1,
        extra=canonical_json(doc.extra),
        deposited_at=now,
        updated_at=now,
        deleted_at=None,
    )


async def _supersede(
    session: AsyncSession, record_id: uuid.UUID, old: m.Document, now: dt.datetime
) -> None:
    result = await session.execute(
        update(m.Document)
        .where(
            m.Document.record_id == record_id,
            m.Document.id == old.id,
            m.Document.status == "current",
        )
        .values(status="superseded", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise DepositRefused(
            "the replaced document was replaced meanwhile",
            code="replaced-document-not-current",
            http_status=409,
        )


async def _read_back(
    session: AsyncSession, record_id: uuid.UUID, checked: list[_Checked]
) -> tuple[list[DocumentView], list[DocumentView | None]]:
    ids = [c.existing.id if c.existing is not None else c.document_id for c in checked]
    old_ids = [c.replaced.id for c in checked if c.replaced is not None]
    rows = (
        (
            await session.execute(
                select(m.Document)
                .where(m.Document.record_id == record_id, m.Document.id.in_(ids + old_ids))
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    by_id = {row.id: row for row in rows}
    views = [document_view(by_id[i]) for i in ids]
    superseded = [
        document_view(by_id[c.replaced.id]) if c.replaced is not None else None for c in checked
    ]
    return views, superseded


__all__ = [
    "DepositRefused",
    "DepositWarning",
    "DocumentInput",
    "ProvideResult",
    "ReplaceTarget",
    "SubmissionSetInput",
    "provide_documents",
]
