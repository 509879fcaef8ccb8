"""The record's access history (docs/rules.md §3.3, §5) and "report this access".

Every action on a record is an audit event of its chain; the history is those events, most
recent first, filterable by time and by professional. The patient (or a legal
representative) sees the whole history, less the events about documents hidden from them
(``INVISIBLE_PATIENT``; for a representative also ``INVISIBLE_REPRESENTANTS_LEGAUX``): a
trace "Dr X deposited a document" would otherwise disclose what the author chose to keep
back until the announcement consultation. The events reappear once the document is visible.
Who else may read it is the policy's ``READ_HISTORY``.

Each entry names the establishment (``organization``'s name for the Struct_IdNat the event
carries) and, for the patient or a representative, the document the event is about (its
title and type: only documents that reader may see remain in their history, so naming them
discloses nothing). ``group_entries`` folds repeated events for a reader (issue 15) and
``HistoryFilter.hide_own_views`` leaves out the reader's own page views.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import orjson
from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import (
    AccessMode,
    Actor,
    ActorKind,
    Caregiver,
    LegalRepresentative,
    Patient,
)
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.directory.search import directory_names
from opendmp.storage import models as m

__all__ = [
    "GROUP_WINDOW",
    "HistoryEntry",
    "HistoryFilter",
    "HistoryGroup",
    "group_entries",
    "history_entries",
    "read_history",
    "report_access",
]

MAX_HISTORY = 1000
MAX_COMMENT = 2000
# Repeated events of one actor (same action, document, mode and outcome) within this window
# of the group's latest are one line with a count: a consultation is a burst of events.
GROUP_WINDOW = dt.timedelta(minutes=30)
# What a patient or a representative does by merely opening a page of the portal: hidden
# from their own history by default (``HistoryFilter.hide_own_views``).
OWN_PAGE_VIEWS = frozenset(
    {
        AuditAction.RECORD_READ_STATUS,
        AuditAction.HISTORY_READ,
        AuditAction.DOCUMENT_SEARCH,
        AuditAction.DOCUMENT_READ,
        AuditAction.ACCESS_LIST_READ,
        AuditAction.PREFERENCES_READ,
        AuditAction.MATRIX_READ,
        AuditAction.DELEGATION_LIST,
        AuditAction.SUBMISSION_SET_SEARCH,
    }
)
_HOLDER_KINDS = (ActorKind.PATIENT.value, ActorKind.REPRESENTATIVE.value)


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Which events: ``since <= time < until``, one professional's, emergencies only,
    those after an event id, without the holder's own page views; at most ``limit``."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    professional_idnat: str | None = None
    emergency_only: bool = False
    after_event_id: int | None = None
    hide_own_views: bool = False
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event_id: int  # to report it (``report_access``)
    time: dt.datetime
    actor_kind: str
    actor_id: str
    actor_name: str | None
    actor_profession: str | None
    actor_organization: str | None
    action: str
    access_mode: str
    outcome: str
    reason: str | None
    target_document_id: uuid.UUID | None
    emergency: bool
    transaction: str | None = None  # the IHE transaction it came by, if not the vocabulary's
    organization_name: str | None = None  # the directory's name of ``actor_organization``
    document_title: str | None = None  # to the patient/representative only (module docstring)
    document_type: str | None = None
    # The professional the event is about (blocked, authorised, named…) and the directory's
    # name of them: the history shows names, the events keep identifiers.
    subject_idnat: str | None = None
    subject_name: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryGroup:
    """Consecutive repetitions of one event, newest first (``group_entries``)."""

    latest: HistoryEntry
    earliest: dt.datetime
    count: int
    event_ids: tuple[int, ...] = field(default=())


def _transaction(details: str | None) -> str | None:
    via = orjson.loads(details).get("transaction") if details else None
    return via if isinstance(via, str) else None


def _subject(details: str | None) -> str | None:
    """The IdNat_PS of the professional an access-management event is about."""
    found = orjson.loads(details) if details else {}
    subject = found.get("professional") or found.get("colleague")
    return subject if isinstance(subject, str) else None


async def _named(session: AsyncSession, entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """``entries`` with the directory's names: of the professionals whose credential gave
    none, and of the professionals the events are about."""
    unnamed = {e.actor_id for e in entries if e.actor_kind == "professional" and not e.actor_name}
    subjects = {entry.subject_idnat for entry in entries if entry.subject_idnat}
    names = await directory_names(session, unnamed | subjects)
    return [
        replace(
            entry,
            actor_name=entry.actor_name or names.get(entry.actor_id),
            subject_name=names.get(entry.subject_idnat or ""),
        )
        for entry in entries
    ]


def _entry(
    event: m.AuditEvent,
    organization: str | None = None,
    title: str | None = None,
    type_code: str | None = None,
) -> HistoryEntry:
    return HistoryEntry(
        event_id=event.id,
        time=event.time,
        actor_kind=event.actor_kind,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        actor_profession=event.actor_profession,
        actor_organization=event.actor_organization,
        action=event.action,
        access_mode=event.access_mode,
        outcome=event.outcome,
        reason=event.reason,
        target_document_id=event.target_document_id,
        emergency=event.access_mode != AccessMode.NORMAL.value,
        transaction=_transaction(event.details),
        subject_idnat=_subject(event.details),
        organization_name=organization,
        document_title=title,
        document_type=type_code,
    )


def _conditions(wanted: HistoryFilter) -> list[ColumnElement[bool]]:
    event = m.AuditEvent
    found: list[ColumnElement[bool]] = []
    if wanted.since is not None:
        found.append(event.time >= wanted.since)
    if wanted.until is not None:
        found.append(event.time < wanted.until)
    if wanted.professional_idnat is not None:
        found.append(event.actor_kind == ActorKind.PROFESSIONAL.value)
        found.append(event.actor_id == wanted.professional_idnat)
    if wanted.emergency_only:
        found.append(event.access_mode != AccessMode.NORMAL.value)
    if wanted.after_event_id is not None:
        found.append(event.id > wanted.after_event_id)
    if wanted.hide_own_views:
        own_view = and_(
            event.actor_kind.in_(_HOLDER_KINDS),
            event.action.in_([str(action) for action in OWN_PAGE_VIEWS]),
        )
        found.append(not_(own_view))
    return found


async def history_entries(
    session: AsyncSession,
    *,
    record_id: uuid.UUID,
    actor: Actor,
    wanted: HistoryFilter | None = None,
) -> list[HistoryEntry]:
    """The record's events as ``actor`` may see them, newest first, in the caller's
    transaction and *after* the caller's policy check (``read_history``, the export)."""
    wanted = wanted or HistoryFilter()
    holder = isinstance(actor, Patient | LegalRepresentative | Caregiver)
    query = (
        select(m.AuditEvent, m.Organization.name, m.Document.title, m.Document.type_code)
        .where(m.AuditEvent.record_id == record_id)
        .outerjoin(m.Organization, m.Organization.struct_idnat == m.AuditEvent.actor_organization)
        .outerjoin(
            m.Document,
            and_(
                m.Document.record_id == record_id,
                m.Document.id == m.AuditEvent.target_document_id,
            ),
        )
    )
    query = query.where(*_conditions(wanted))
    if holder:
        hidden: ColumnElement[bool] = m.Document.invisible_to_patient.is_(True)
        if isinstance(actor, LegalRepresentative | Caregiver):
            hidden = or_(hidden, m.Document.invisible_to_representatives.is_(True))
        query = query.where(or_(m.Document.id.is_(None), not_(hidden)))
    query = query.order_by(m.AuditEvent.time.desc(), m.AuditEvent.id.desc())
    if wanted.limit is not None:
        query = query.limit(wanted.limit)
    rows = (await session.execute(query)).all()
    # A professional reading the history (a treating doctor) is not told the documents'
    # titles: they may not be allowed to read every one of them.
    return await _named(
        session,
        [
            _entry(event, org, title if holder else None, kind if holder else None)
            for event, org, title, kind in rows
        ],
    )


def group_entries(
    entries: Sequence[HistoryEntry], window: dt.timedelta = GROUP_WINDOW
) -> list[HistoryGroup]:
    """Fold ``entries`` (newest first) into groups: an entry joins the open group of the
    same actor, action, document, access mode and outcome whose latest event is at most
    ``window`` later; groups stay in the order of their latest event."""
    groups: list[HistoryGroup] = []
    open_by_key: dict[tuple[object, ...], int] = {}
    for entry in entries:
        key = (
            entry.actor_kind,
            entry.actor_id,
            entry.action,
            entry.target_document_id,
            entry.access_mode,
            entry.outcome,
        )
        index = open_by_key.get(key)
        if index is not None and groups[index].latest.time - entry.time <= window:
            group = groups[index]
            groups[index] = replace(
                group,
                earliest=entry.time,
                count=group.count + 1,
                event_ids=(*group.event_ids, entry.event_id),
            )
            continue
        open_by_key[key] = len(groups)
        groups.append(HistoryGroup(entry, entry.time, 1, (entry.event_id,)))
    return groups


async def read_history(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    professional_idnat: str | None = None,
    limit: int = 200,
    hide_own_views: bool = False,
) -> list[HistoryEntry]:
    """Events of the record, newest first: ``since <= time < until``, optionally only those
    of one professional, optionally without the holder's own page views; at most ``limit``
    (≤ 1000). Audited as ``record:history:read``."""
    if limit < 1:
        raise InvalidInput("limit must be positive", code="invalid-history-request")
    if any(t is not None and t.tzinfo is None for t in (since, until)):
        raise InvalidInput("times must carry a time zone", code="invalid-history-request")
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_HISTORY,
        audit_action=AuditAction.HISTORY_READ,
    ) as g:
        wanted = HistoryFilter(
            since=since,
            until=until,
            professional_idnat=professional_idnat,
            hide_own_views=hide_own_views,
            limit=min(limit, MAX_HISTORY),
        )
        entries = await history_entries(
            g.session, record_id=g.record.id, actor=actor, wanted=wanted
        )
        await g.audit(AuditAction.HISTORY_READ, {"count": len(entries)})
        await g.uow.commit()
        return entries


async def event_actor_kind(
    session: AsyncSession, record_id: uuid.UUID, event_id: int
) -> str | None:
    """The kind of actor of event ``event_id`` of this record; None if it has no such event."""
    return (
        await session.execute(
            select(m.AuditEvent.actor_kind).where(
                m.AuditEvent.record_id == record_id, m.AuditEvent.id == event_id
            )
        )
    ).scalar_one_or_none()


async def report_access(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    event_id: int,
    comment: str,
) -> None:
    """The patient reports a professional's access as unwarranted (docs/rules.md §3.3).

    Recorded as ``record:access:reported`` in the record's chain, naming the reported event
    and carrying the patient's comment (kept with the record, like every trace; it is not
    sent anywhere). Only a professional's event of this record can be reported.
    """
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"the comment exceeds {MAX_COMMENT} characters", code="invalid-report")
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_HISTORY,
        audit_action=AuditAction.ACCESS_REPORTED,
        for_update=True,
    ) as g:
        reported = await event_actor_kind(g.session, g.record.id, event_id)
        if reported is None:
            raise NotFound("no such event in this record", code="event-not-found")
        if reported != "professional":
            raise InvalidInput("only a professional's access can be reported", code="not-an-access")
        await g.audit(AuditAction.ACCESS_REPORTED, {"event_id": event_id, "comment": text})
        await g.uow.commit()
