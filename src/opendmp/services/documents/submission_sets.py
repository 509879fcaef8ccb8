"""Search a record's submission sets (ITI-66 Find Document Lists, XDS FindSubmissionSets).

A submission set is listed with the member documents the reader may read, and only if it
has at least one: a set would otherwise tell a reader that documents they may not see
exist (a masked document, a type their profession may not read). Both the set filter and
the member list use the policy's SQL filter (``storage.document_filter.readable_documents``)
like the document search: nothing is loaded to be filtered in Python. A page costs three
statements besides the access facts: the total, the page, the members of the page's sets.

Superseded members are listed (the set is history: what was submitted together); deleted
ones never are. Submission sets have no status of their own in XDS besides Approved, so
they are all ``current``: asking for other statuses only finds nothing.

Paging is keyset on (submission time, id), newest first, with the document search's
signed cursor (it pins the record and a digest of the criteria).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import asdict, dataclass

import orjson
from sqlalchemy import ColumnElement, and_, false, func, or_, select

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.documents.consultation import after_access
from opendmp.services.documents.criteria import DateRange
from opendmp.services.documents.search import MAX_COUNT, Cursor, PageCursor, encode_cursor
from opendmp.storage import models as m
from opendmp.storage.document_filter import readable_documents

__all__ = [
    "SubmissionSetPage",
    "SubmissionSetQuery",
    "SubmissionSetView",
    "search_submission_sets",
]

_SORT = "-date"
_LISTED_STATUSES = ("current", "superseded")


@dataclass(frozen=True, slots=True)
class SubmissionSetQuery:
    """ITI-66 criteria for ``code=submissionset``; values ORed within one, criteria ANDed.

    ``statuses`` empty means ``current``. ``unique_ids`` and ``entry_uuids`` are the FHIR
    ``identifier`` (one criterion). ``submitted`` compares the submission time.
    ``source_ids`` are OIDs (``urn:oid:`` optional); ``content_type_codes`` the
    designationType codes; ``author_family`` / ``author_given`` match the author's name like
    the document search.
    """

    statuses: tuple[str, ...] = ()
    unique_ids: tuple[str, ...] = ()
    entry_uuids: tuple[str, ...] = ()
    submitted: DateRange | None = None
    source_ids: tuple[str, ...] = ()
    content_type_codes: tuple[str, ...] = ()
    author_family: str | None = None
    author_given: str | None = None


@dataclass(frozen=True, slots=True)
class SubmissionSetView:
    id: uuid.UUID
    entry_uuid: str  # urn:uuid:…
    unique_id: str
    source_id: str
    submitted_at: dt.datetime
    title: str | None
    content_type_code: str | None
    author_idnat: str | None
    author_name: str | None
    author_organization: str | None
    extra: str | None  # canonical JSON of the List elements kept as given
    member_entry_uuids: tuple[str, ...]  # the readable members, in deposit order


@dataclass(frozen=True, slots=True)
class SubmissionSetPage:
    items: list[SubmissionSetView]
    total: int
    next_cursor: str | None


def _digest(query: SubmissionSetQuery) -> str:
    canonical = orjson.dumps(
        {"kind": "submission-set", **asdict(query)}, option=orjson.OPT_SORT_KEYS, default=str
    )
    return hashlib.sha256(canonical).hexdigest()[:32]


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.removeprefix("urn:uuid:"))
    except ValueError:
        return None


def _criteria(query: SubmissionSetQuery) -> list[ColumnElement[bool]]:
    s = m.SubmissionSet
    conditions: list[ColumnElement[bool]] = []
    statuses = set(query.statuses) or {"current"}
    if "current" not in statuses:
        conditions.append(false())
    identifiers: list[ColumnElement[bool]] = []
    if query.unique_ids:
        values = {v.removeprefix("urn:oid:") for v in query.unique_ids} | set(query.unique_ids)
        identifiers.append(s.unique_id.in_(sorted(values)))
    uuids = sorted({u for u in (_as_uuid(v) for v in query.entry_uuids) if u is not None})
    if uuids:
        identifiers.append(s.entry_uuid.in_([f"urn:uuid:{u}" for u in uuids]))
        # Sets deposited without an entryUUID are known as urn:uuid:<id>.
        identifiers.append(and_(s.entry_uuid.is_(None), s.id.in_(uuids)))
    if query.unique_ids or query.entry_uuids:
        conditions.append(or_(*identifiers) if identifiers else false())
    if query.submitted is not None:
        ops = {"ge": s.submitted_at.__ge__, "gt": s.submitted_at.__gt__}
        ops |= {"le": s.submitted_at.__le__, "lt": s.submitted_at.__lt__}
        conditions.extend(ops[op](value) for op, value in query.submitted.bounds())
    if query.source_ids:
        values = {v.removeprefix("urn:oid:") for v in query.source_ids}
        conditions.append(s.source_id.in_(sorted(values)))
    if query.content_type_codes:
        conditions.append(s.content_type_code.in_(sorted(set(query.content_type_codes))))
    name = func.lower(func.coalesce(s.author_name, ""))
    if query.author_family:
        conditions.append(name.startswith(query.author_family.strip().lower(), autoescape=True))
    if query.author_given:
        conditions.append(name.contains(" " + query.author_given.strip().lower(), autoescape=True))
    return conditions


def _validate(query: SubmissionSetQuery, count: int) -> int:
    problems = []
    if count < 0:
        problems.append("count must not be negative")
    if query.submitted and any(v.tzinfo is None for _, v in query.submitted.bounds()):
        problems.append("date bounds must carry a time zone")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-search")
    return min(count, MAX_COUNT)


async def search_submission_sets(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    query: SubmissionSetQuery,
    count: int = 20,
    cursor: str | None = None,
) -> SubmissionSetPage:
    """One page of ``ins``'s submission sets holding a document ``actor`` may read, each
    with those readable members; audited once as ``document:submission-set:search``."""
    count = _validate(query, count)
    digest = _digest(query)
    paging = PageCursor(ctx, cursor, digest, _SORT)
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SEARCH_DOCUMENTS,
        audit_action=AuditAction.SUBMISSION_SET_SEARCH,
        include_superseded=True,
        prepare=paging.check,
    ) as g:
        session, patient, record, who, now = g.session, g.patient, g.record, g.who, g.now
        after, decision = paging.cursor, g.decision
        assert decision is not None
        readable = and_(
            readable_documents(
                record_id=record.id,
                actor=actor,
                facts=who.facts,
                matrix=ctx.matrix,
                actor_professional_id=who.professional_id,
                actor_organization_id=who.organization_id,
            ),
            m.Document.status.in_(_LISTED_STATUSES),
        )
        has_readable_member = (
            select(m.Document.id)
            .where(readable, m.Document.submission_set_id == m.SubmissionSet.id)
            .exists()
        )
        where = [
            m.SubmissionSet.record_id == record.id,
            has_readable_member,
            *_criteria(query),
        ]
        total = int(
            (
                await session.execute(
                    select(func.count()).select_from(m.SubmissionSet).where(*where)
                )
            ).scalar_one()
        )
        sets: list[m.SubmissionSet] = []
        next_cursor = None
        if count:
            paged = list(where)
            if after is not None:
                paged.append(
                    or_(
                        m.SubmissionSet.submitted_at < after.key,
                        and_(
                            m.SubmissionSet.submitted_at == after.key,
                            m.SubmissionSet.id < after.last_id,
                        ),
                    )
                )
            rows = list(
                (
                    await session.execute(
                        select(m.SubmissionSet)
                        .where(*paged)
                        .order_by(m.SubmissionSet.submitted_at.desc(), m.SubmissionSet.id.desc())
                        .limit(count + 1)
                    )
                ).scalars()
            )
            sets = rows[:count]
            if len(rows) > count:
                last = sets[-1]
                next_cursor = encode_cursor(
                    ctx, Cursor(record.id, digest, _SORT, last.submitted_at, last.id, now)
                )
        members: dict[uuid.UUID, list[str]] = {s.id: [] for s in sets}
        if sets:
            for set_id, entry_uuid in await session.execute(
                select(m.Document.submission_set_id, m.Document.entry_uuid)
                .where(readable, m.Document.submission_set_id.in_(list(members)))
                .order_by(m.Document.deposited_at, m.Document.id)
            ):
                if set_id is not None:
                    members[set_id].append(entry_uuid)
        items = [
            SubmissionSetView(
                id=s.id,
                entry_uuid=s.entry_uuid or f"urn:uuid:{s.id}",
                unique_id=s.unique_id,
                source_id=s.source_id,
                submitted_at=s.submitted_at,
                title=s.title,
                content_type_code=s.content_type_code,
                author_idnat=s.author_idnat,
                author_name=s.author_name,
                author_organization=s.author_organization,
                extra=s.extra,
                member_entry_uuids=tuple(members[s.id]),
            )
            for s in sets
        ]
        await g.audit(
            AuditAction.SUBMISSION_SET_SEARCH,
            {"count": len(items), "total": total, "page": "next" if after else "first"},
        )
        await after_access(
            ctx, session, actor=actor, decision=decision, patient=patient, record=record, now=now
        )
        await g.uow.commit()
        return SubmissionSetPage(items, total, next_cursor)
