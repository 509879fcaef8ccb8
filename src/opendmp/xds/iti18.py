"""ITI-18 Registry Stored Query (docs/xds.md, "ITI-18"): a parsed stored query answered
through the same services as ITI-66/67, so the policy filters what the caller sees and the
audit chain records the consultation exactly as for the FHIR API.

- FindDocuments (and FindDocumentsByReferenceId) map their parameters onto the
  ``DocumentQuery`` of ITI-67 and call ``search_documents``; FindSubmissionSets maps onto the
  ``SubmissionSetQuery`` of ITI-66 and calls ``search_submission_sets``.
- GetDocuments looks documents up by entryUUID or uniqueId through ``search_documents``.
- The queries about associations (GetAssociations, GetDocumentsAndAssociations,
  GetSubmissionSets, GetSubmissionSetAndContents, GetRelatedDocuments, GetAll) read what the
  caller may see of the record (documents current and superseded, submission sets holding
  one of them) through the same two services, and answer from it: an association is shown
  only when the caller may see both of its ends (``HasMember`` submission set -> document,
  ``RPLC`` document -> the version it replaced).
- The patient: a Find query's patient id must be the VIHF's patient
  (``XDSPatientIdDoesNotMatch`` otherwise); the Get queries, which carry no patient id, look
  in the VIHF patient's record only. An unknown patient answers Success with nothing
  (ITI TF-3 §4.2.4; a record's existence is public, TD0.2).
- availabilityStatus: Approved = current and not archived, Deprecated = superseded, the
  DMP's Archived = current and archived; deleted documents are never shown.
- Size: at most ``MAX_LEAF_CLASS`` documents and submission sets in a LeafClass answer,
  ``MAX_OBJECT_REF`` in an ObjectRef one; beyond, ``XDSTooManyResults`` and nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from opendmp.auth.vihf import VihfIdentity
from opendmp.config import Settings
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidIdentifier, InvalidInput, NotFound
from opendmp.domain.identifiers import INS_OIDS, Ins, parse_ins, parse_ins_reference
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.search import (
    MAX_COUNT,
    DateRange,
    DocumentQuery,
    PageRequest,
    search_documents,
)
from opendmp.services.documents.submission_sets import (
    SubmissionSetQuery,
    SubmissionSetView,
    search_submission_sets,
)
from opendmp.services.documents.views import DocumentView
from opendmp.xds import ebrim
from opendmp.xds import stored_query as sq
from opendmp.xds.api import HANDLERS, XdsCall
from opendmp.xds.caller import caller
from opendmp.xds.hl7v2 import Hl7v2Error, parse_cx, parse_dtm
from opendmp.xds.metadata_out import (
    association,
    availability_status,
    confidentiality_codes,
    derived_id,
    extrinsic_object,
    object_ref,
    registry_package,
)
from opendmp.xds.registry_response import ErrorCode, RegistryError, adhoc_query_response
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI18

MAX_LEAF_CLASS = 500
MAX_OBJECT_REF = 2000
_DE = "$XDSDocumentEntry"
_SS = "$XDSSubmissionSet"
_BOTH = ("current", "superseded")
# availabilityStatus -> (store status, archived or None for either).
_DOCUMENT_STATUSES: dict[str, tuple[str, bool | None]] = {
    ebrim.APPROVED: ("current", False),
    ebrim.DMP_ARCHIVED: ("current", True),
    ebrim.DEPRECATED: ("superseded", None),
    ebrim.DMP_DELETED: ("deleted", None),
}


def _error(code: str, message: str, location: str | None = None) -> sq.StoredQueryError:
    return sq.StoredQueryError(code, message, location)


# --- parameters -> service criteria --------------------------------------------------------------


def _statuses(query: sq.StoredQuery, name: str, known: Iterable[str]) -> frozenset[str]:
    values = frozenset(query.values(name))
    unknown = sorted(values - set(known))
    if unknown:
        raise _error(sq.REGISTRY_ERROR, f"{name}: unknown status {unknown[0][:80]}", name)
    return values


def _codes(query: sq.StoredQuery, name: str) -> tuple[str, ...]:
    """Coded values ``code^^^&OID&ISO`` (or ``code^^scheme``): the code alone, as ITI-67
    matches tokens (one code system per element in the DMP's value sets)."""
    found = tuple(dict.fromkeys(v.split("^", 1)[0].strip() for v in query.values(name)))
    if any(not code for code in found):
        raise _error(sq.REGISTRY_ERROR, f"{name}: a coded value is code^^^&OID&ISO", name)
    return found


def _moment(query: sq.StoredQuery, name: str) -> dt.datetime | None:
    value = query.time(name)
    return None if value is None else parse_dtm(value)


def _range(query: sq.StoredQuery, stem: str) -> DateRange | None:
    """``<stem>From`` inclusive, ``<stem>To`` exclusive (ITI TF-2a §3.18.4.1.2.3.6)."""
    start, end = _moment(query, f"{stem}From"), _moment(query, f"{stem}To")
    return DateRange(ge=start, lt=end) if start or end else None


def _author(query: sq.StoredQuery, name: str) -> tuple[str | None, str | None]:
    """An author person: ``Family%`` or an XCN ``^Family^Given…``: matched as ITI-67's
    ``author.family`` / ``author.given`` (the start of the name; ``%`` and ``_`` dropped)."""
    value = query.one(name)
    if value is None:
        return None, None
    text = value.replace("%", "").replace("_", "")
    if "^" not in text:
        return text.strip() or None, None
    parts = text.split("^")
    family = parts[1].strip() if len(parts) > 1 else ""
    given = parts[2].strip() if len(parts) > 2 else ""
    return family or None, given or None


@dataclass(frozen=True, slots=True)
class _DocumentFilter:
    """What the SQL criteria cannot say, checked on the views the service returned: the
    availabilityStatus wanted, ANDed code lists, the object type."""

    statuses: frozenset[str] = frozenset(_DOCUMENT_STATUSES)
    event_groups: tuple[tuple[str, ...], ...] = ()
    confidentiality_groups: tuple[tuple[str, ...], ...] = ()
    stable_wanted: bool = True

    def keeps(self, doc: DocumentView) -> bool:
        labels = {c.code for c in confidentiality_codes(doc)}
        return (
            self.stable_wanted
            and availability_status(doc) in self.statuses
            and all(set(group) & set(doc.event_codes) for group in self.event_groups)
            and all(set(group) & labels for group in self.confidentiality_groups)
        )


def _groups(query: sq.StoredQuery, name: str) -> tuple[tuple[str, ...], ...]:
    return tuple(
        tuple(v.split("^", 1)[0].strip() for v in group) for group in query.groups(name) if group
    )


def _document_filter(query: sq.StoredQuery, statuses: frozenset[str] | None) -> _DocumentFilter:
    types = set(query.values(f"{_DE}Type"))
    unknown = sorted(types - ebrim.DOCUMENT_OBJECT_TYPES)
    if unknown:
        raise _error(sq.REGISTRY_ERROR, f"{_DE}Type: unknown type {unknown[0][:80]}", f"{_DE}Type")
    return _DocumentFilter(
        statuses=statuses if statuses is not None else frozenset(_DOCUMENT_STATUSES),
        event_groups=_groups(query, f"{_DE}EventCodeList"),
        confidentiality_groups=_groups(query, f"{_DE}ConfidentialityCode"),
        stable_wanted=not types or ebrim.STABLE_DOCUMENT in types,
    )


def _store_statuses(statuses: frozenset[str]) -> tuple[tuple[str, ...], bool | None]:
    """The store statuses to search and the archived flag when one decides it."""
    mapped = [_DOCUMENT_STATUSES[s] for s in statuses]
    stored = tuple(sorted({s for s, _ in mapped if s != "deleted"})) or ("current",)
    flags = {archived for s, archived in mapped if s == "current"}
    archived = flags.pop() if stored == ("current",) and len(flags) == 1 else None
    return stored, archived


def document_query(query: sq.StoredQuery) -> tuple[DocumentQuery, _DocumentFilter]:
    """FindDocuments' parameters -> ITI-67's ``DocumentQuery`` (and what it leaves over)."""
    statuses = _statuses(query, f"{_DE}Status", _DOCUMENT_STATUSES)
    stored, archived = _store_statuses(statuses)
    family, given = _author(query, f"{_DE}AuthorPerson")
    events = _groups(query, f"{_DE}EventCodeList")
    labels = _groups(query, f"{_DE}ConfidentialityCode")
    criteria = DocumentQuery(
        statuses=stored,
        class_codes=_codes(query, f"{_DE}ClassCode"),
        type_codes=_codes(query, f"{_DE}TypeCode"),
        practice_settings=_codes(query, f"{_DE}PracticeSettingCode"),
        facility_types=_codes(query, f"{_DE}HealthcareFacilityTypeCode"),
        event_codes=events[0] if events else (),
        security_labels=labels[0] if labels else (),
        format_codes=_codes(query, f"{_DE}FormatCode"),
        creation=_range(query, f"{_DE}CreationTime"),
        period_start=_range(query, f"{_DE}ServiceStartTime"),
        period_end=_range(query, f"{_DE}ServiceStopTime"),
        related_ids=tuple(v.split("^", 1)[0] for v in query.values(f"{_DE}ReferenceIdList") if v),
        author_family=family,
        author_given=given,
        is_archived=archived,
    )
    return criteria, _document_filter(query, statuses)


def _content_filter(query: sq.StoredQuery) -> tuple[DocumentQuery, _DocumentFilter]:
    """The document filters of GetAll / GetSubmissionSetAndContents."""
    labels = _groups(query, f"{_DE}ConfidentialityCode")
    criteria = DocumentQuery(
        statuses=_BOTH,
        format_codes=_codes(query, f"{_DE}FormatCode"),
        security_labels=labels[0] if labels else (),
    )
    statuses = None
    if query.values(f"{_DE}Status"):
        statuses = _statuses(query, f"{_DE}Status", _DOCUMENT_STATUSES)
    return criteria, _document_filter(query, statuses)


def submission_set_query(query: sq.StoredQuery) -> SubmissionSetQuery:
    """FindSubmissionSets' parameters -> ITI-66's ``SubmissionSetQuery``."""
    statuses = _statuses(query, f"{_SS}Status", _DOCUMENT_STATUSES)
    family, given = _author(query, f"{_SS}AuthorPerson")
    return SubmissionSetQuery(
        # Submission sets are all Approved: another status finds none.
        statuses=("current",) if ebrim.APPROVED in statuses else ("none",),
        submitted=_range(query, f"{_SS}SubmissionTime"),
        source_ids=tuple(query.values(f"{_SS}SourceId")),
        content_type_codes=_codes(query, f"{_SS}ContentType"),
        author_family=family,
        author_given=given,
    )


def query_patient(query: sq.StoredQuery, name: str, vihf_patient: Ins) -> Ins:
    """The patient id parameter (a CX in an INS domain), which must be the VIHF's patient."""
    value = query.one(name)
    if value is None:
        raise _error(sq.MISSING_PARAM, f"{name} is required", name)
    try:
        cx = parse_cx(value)
    except Hl7v2Error as exc:
        raise _error(sq.REGISTRY_ERROR, f"{name}: {exc}", name) from None
    try:
        ins = parse_ins(cx.value, str(cx.authority)) if cx.authority in INS_OIDS else None
    except InvalidIdentifier:
        ins = None
    if ins != vihf_patient:
        raise _error(
            sq.PATIENT_ID_DOES_NOT_MATCH,
            f"{name} is not the patient of the VIHF (Resource-ID)",
            name,
        )
    return vihf_patient


# --- reading through the services ----------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    documents: list[DocumentView] = field(default_factory=list)
    sets: list[SubmissionSetView] = field(default_factory=list)
    associations: list[tuple[str, str, str]] = field(default_factory=list)


def _too_many(limit: int) -> sq.StoredQueryError:
    return _error(
        sq.TOO_MANY_RESULTS,
        f"the query matches more than {limit} objects: narrow it, or ask for ObjectRef",
    )


async def _documents(
    ctx: ServiceContext,
    actor: Actor,
    ins: Ins,
    criteria: DocumentQuery,
    keep: Callable[[DocumentView], bool],
    limit: int,
) -> list[DocumentView]:
    """Every document ``search_documents`` gives (page after page) that ``keep`` keeps."""
    found: list[DocumentView] = []
    cursor: str | None = None
    while True:
        page = await search_documents(
            ctx, actor=actor, ins=ins, query=criteria, page=PageRequest(MAX_COUNT, cursor)
        )
        found.extend(v for v in page.items if keep(v))
        if len(found) > limit:
            raise _too_many(limit)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def _sets(
    ctx: ServiceContext, actor: Actor, ins: Ins, criteria: SubmissionSetQuery, limit: int
) -> list[SubmissionSetView]:
    found: list[SubmissionSetView] = []
    cursor: str | None = None
    while True:
        page = await search_submission_sets(
            ctx, actor=actor, ins=ins, query=criteria, count=MAX_COUNT, cursor=cursor
        )
        found.extend(page.items)
        if len(found) > limit:
            raise _too_many(limit)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _keep_all(_: DocumentView) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class _Reader:
    ctx: ServiceContext
    actor: Actor
    ins: Ins
    limit: int

    async def documents(
        self, criteria: DocumentQuery, keep: Callable[[DocumentView], bool] = _keep_all
    ) -> list[DocumentView]:
        return await _documents(self.ctx, self.actor, self.ins, criteria, keep, self.limit)

    async def sets(self, criteria: SubmissionSetQuery) -> list[SubmissionSetView]:
        return await _sets(self.ctx, self.actor, self.ins, criteria, self.limit)

    async def visible(self) -> _Found:
        """All the caller may see of the record: documents (current and superseded), the
        submission sets holding one of them, and the associations between them."""
        documents = await self.documents(DocumentQuery(statuses=_BOTH))
        sets = await self.sets(SubmissionSetQuery())
        return _Found(documents, sets, associations_between(documents, sets))


def associations_between(
    documents: list[DocumentView], sets: list[SubmissionSetView]
) -> list[tuple[str, str, str]]:
    """(type, source, target) of the HasMember and RPLC associations whose two ends are in
    ``documents`` and ``sets``."""
    by_id = {d.id: d for d in documents}
    entries = {d.entry_uuid for d in documents}
    found = [
        (ebrim.HAS_MEMBER, s.entry_uuid, member)
        for s in sets
        for member in s.member_entry_uuids
        if member in entries
    ]
    found.extend(
        (ebrim.RPLC, d.entry_uuid, by_id[d.replaces_id].entry_uuid)
        for d in documents
        if d.replaces_id is not None and d.replaces_id in by_id
    )
    return found


def _touching(found: _Found, ids: set[str]) -> list[tuple[str, str, str]]:
    return [a for a in found.associations if a[1] in ids or a[2] in ids]


def _document_ids(query: sq.StoredQuery) -> DocumentQuery:
    """GetDocuments' ``$XDSDocumentEntryEntryUUID`` or ``$XDSDocumentEntryUniqueId``."""
    entry_uuids = query.values(f"{_DE}EntryUUID")
    for value in entry_uuids:
        try:
            uuid.UUID(value.removeprefix("urn:uuid:"))
        except ValueError:
            raise _error(
                sq.REGISTRY_ERROR,
                f"{_DE}EntryUUID: {value[:80]!r} is not a UUID",
                f"{_DE}EntryUUID",
            ) from None
    return DocumentQuery(
        statuses=_BOTH,
        entry_uuids=tuple(entry_uuids),
        unique_ids=tuple(query.values(f"{_DE}UniqueId")),
    )


def _matches(doc: DocumentView, criteria: DocumentQuery) -> bool:
    uuid_text = doc.entry_uuid.removeprefix("urn:uuid:").lower()
    return doc.unique_id in criteria.unique_ids or any(
        v.removeprefix("urn:uuid:").lower() == uuid_text for v in criteria.entry_uuids
    )


# --- the stored queries --------------------------------------------------------------------------


async def _find_documents(reader: _Reader, query: sq.StoredQuery) -> _Found:
    criteria, kept = document_query(query)
    return _Found(documents=await reader.documents(criteria, kept.keeps))


async def _find_submission_sets(reader: _Reader, query: sq.StoredQuery) -> _Found:
    return _Found(sets=await reader.sets(submission_set_query(query)))


async def _get_documents(reader: _Reader, query: sq.StoredQuery) -> _Found:
    return _Found(documents=await reader.documents(_document_ids(query)))


async def _get_documents_and_associations(reader: _Reader, query: sq.StoredQuery) -> _Found:
    wanted = _document_ids(query)
    visible = await reader.visible()
    documents = [d for d in visible.documents if _matches(d, wanted)]
    ids = {d.entry_uuid for d in documents}
    return _Found(documents=documents, associations=_touching(visible, ids))


async def _get_associations(reader: _Reader, query: sq.StoredQuery) -> _Found:
    ids = {f"urn:uuid:{v.removeprefix('urn:uuid:').lower()}" for v in query.values("$uuid")}
    visible = await reader.visible()
    return _Found(associations=_touching(visible, ids))


async def _get_submission_sets(reader: _Reader, query: sq.StoredQuery) -> _Found:
    ids = {f"urn:uuid:{v.removeprefix('urn:uuid:').lower()}" for v in query.values("$uuid")}
    visible = await reader.visible()
    links = [a for a in visible.associations if a[0] == ebrim.HAS_MEMBER and a[2] in ids]
    owners = {a[1] for a in links}
    return _Found(sets=[s for s in visible.sets if s.entry_uuid in owners], associations=links)


async def _get_submission_set_and_contents(reader: _Reader, query: sq.StoredQuery) -> _Found:
    entry_uuid, unique_id = query.one(f"{_SS}EntryUUID"), query.one(f"{_SS}UniqueId")
    sets = await reader.sets(
        SubmissionSetQuery(
            entry_uuids=(entry_uuid,) if entry_uuid else (),
            unique_ids=(unique_id,) if unique_id else (),
        )
    )
    if not sets or not sets[0].member_entry_uuids:
        return _Found()
    members = sets[0].member_entry_uuids
    criteria, kept = _content_filter(query)
    documents = await reader.documents(
        DocumentQuery(
            statuses=_BOTH,
            entry_uuids=members,
            format_codes=criteria.format_codes,
            security_labels=criteria.security_labels,
        ),
        kept.keeps,
    )
    return _Found(
        documents=documents,
        sets=sets[:1],
        associations=associations_between(documents, sets[:1]),
    )


async def _get_related_documents(reader: _Reader, query: sq.StoredQuery) -> _Found:
    for name in (f"{_DE}EntryUUID", f"{_DE}UniqueId"):
        query.one(name)  # one document
    wanted = _document_ids(query)
    types = set(query.values("$AssociationTypes"))
    visible = await reader.visible()
    origin = [d for d in visible.documents if _matches(d, wanted)]
    if not origin:
        return _Found()
    ids = {origin[0].entry_uuid}
    links = [a for a in _touching(visible, ids) if a[0] in types and a[0] != ebrim.HAS_MEMBER]
    if not links:
        return _Found()
    related = ids | {a[1] for a in links} | {a[2] for a in links}
    return _Found(
        documents=[d for d in visible.documents if d.entry_uuid in related], associations=links
    )


async def _get_all(reader: _Reader, query: sq.StoredQuery) -> _Found:
    criteria, kept = _content_filter(query)
    documents = await reader.documents(criteria, kept.keeps)
    set_statuses = _statuses(query, f"{_SS}Status", _DOCUMENT_STATUSES)
    sets = await reader.sets(
        SubmissionSetQuery(statuses=("current",) if ebrim.APPROVED in set_statuses else ("none",))
    )
    return _Found(documents, sets, associations_between(documents, sets))


_RUNNERS: dict[str, Callable[[_Reader, sq.StoredQuery], Awaitable[_Found]]] = {
    sq.FIND_DOCUMENTS: _find_documents,
    sq.FIND_DOCUMENTS_BY_REFERENCE_ID: _find_documents,
    sq.FIND_SUBMISSION_SETS: _find_submission_sets,
    sq.GET_DOCUMENTS: _get_documents,
    sq.GET_DOCUMENTS_AND_ASSOCIATIONS: _get_documents_and_associations,
    sq.GET_ASSOCIATIONS: _get_associations,
    sq.GET_SUBMISSION_SETS: _get_submission_sets,
    sq.GET_SUBMISSION_SET_AND_CONTENTS: _get_submission_set_and_contents,
    sq.GET_RELATED_DOCUMENTS: _get_related_documents,
    sq.GET_ALL: _get_all,
}
# The parameter naming the patient, for the queries that carry one.
_PATIENT_PARAMETER = {
    sq.FIND_DOCUMENTS: f"{_DE}PatientId",
    sq.FIND_DOCUMENTS_BY_REFERENCE_ID: f"{_DE}PatientId",
    sq.FIND_SUBMISSION_SETS: f"{_SS}PatientId",
    sq.GET_ALL: "$patientId",
}


def _objects(
    found: _Found, query: sq.StoredQuery, ins: Ins, repository: str
) -> list[etree._Element]:
    if query.return_type == sq.OBJECT_REF:
        ids = [d.entry_uuid for d in found.documents] + [s.entry_uuid for s in found.sets]
        ids += [derived_id(*a) for a in found.associations]
        return [object_ref(i) for i in ids]
    objects = [
        extrinsic_object(d, ins=ins, repository_unique_id=repository) for d in found.documents
    ]
    objects += [registry_package(s, ins=ins) for s in found.sets]
    objects += [
        association(kind, source, target, submission_set_status=_ss_status(kind))
        for kind, source, target in found.associations
    ]
    return objects


def _ss_status(kind: str) -> str | None:
    return ebrim.SUBMISSION_SET_ORIGINAL if kind == ebrim.HAS_MEMBER else None


async def run_stored_query(
    ctx: ServiceContext,
    *,
    actor: Actor,
    vihf_patient: Ins,
    query: sq.StoredQuery,
    repository_unique_id: str,
) -> list[etree._Element]:
    """The objects answering ``query`` for ``actor`` (LeafClass or ObjectRef), or a
    ``StoredQueryError``; a policy refusal propagates (``AccessDenied``, audited)."""
    bound = ctx.limits.max_search_values
    for parameter in query.params:
        if len(query.values(parameter)) > bound:
            raise _error(
                sq.REGISTRY_ERROR,
                f"{parameter} holds more than {bound} values (OPENDMP_MAX_SEARCH_VALUES)",
                parameter,
            )
    name = _PATIENT_PARAMETER.get(query.query_id)
    ins = query_patient(query, name, vihf_patient) if name else vihf_patient
    limit = MAX_LEAF_CLASS if query.return_type == sq.LEAF_CLASS else MAX_OBJECT_REF
    reader = _Reader(ctx, actor, ins, limit)
    try:
        found = await _RUNNERS[query.query_id](reader, query)
    except NotFound as exc:
        if exc.code != "record-not-found":
            raise
        return []
    except InvalidInput as exc:
        raise _error(sq.REGISTRY_ERROR, exc.message) from None
    return _objects(found, query, ins, repository_unique_id)


@dataclass(frozen=True, slots=True)
class StoredQueryAnswer:
    """What an AdhocQueryResponse carries: the objects, or the error that stopped the query."""

    objects: list[etree._Element]
    error: sq.StoredQueryError | None = None


async def answer_stored_query(
    ctx: ServiceContext,
    *,
    identity: VihfIdentity,
    request: etree._Element,
    repository_unique_id: str,
) -> StoredQueryAnswer:
    """An ``AdhocQueryRequest`` from the caller authenticated by ``identity``'s VIHF. Errors
    of the query (ITI TF-3 codes) are answered; a policy refusal propagates (a fault)."""
    vihf_patient = parse_ins_reference(identity.vihf.patient_ins, "")
    try:
        query = sq.parse_stored_query(request)
        objects = await run_stored_query(
            ctx,
            actor=identity.actor,
            vihf_patient=vihf_patient,
            query=query,
            repository_unique_id=repository_unique_id,
        )
    except sq.StoredQueryError as error:
        return StoredQueryAnswer([], error)
    return StoredQueryAnswer(objects)


# --- the SOAP handler ----------------------------------------------------------------------------


def _registry_error(error: sq.StoredQueryError) -> RegistryError:
    return RegistryError(ErrorCode(error.code), error.message, location=error.location)


async def handle_iti18(call: XdsCall) -> SoapReply:
    """``POST /xds/iti18``: the caller's VIHF, then the stored query (docs/xds.md, "ITI-18")."""
    identity = await caller(call)
    settings: Settings = call.request.app.state.runtime.settings
    answer = await answer_stored_query(
        call.ctx,
        identity=identity,
        request=call.soap.body,
        repository_unique_id=settings.xds_repository_unique_id,
    )
    errors = [_registry_error(answer.error)] if answer.error is not None else []
    return adhoc_query_response(answer.objects, errors)


HANDLERS[ITI18.action] = handle_iti18
