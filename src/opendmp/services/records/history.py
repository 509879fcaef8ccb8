"""The record's access history (docs/rules.md §3.3, §5) and "report this access".

Every action on a record is an audit event of its chain; the history is those events, most
recent first, filterable by time and by professional. The patient (or a legal
representative) sees the whole history, less the events about documents hidden from them
(``INVISIBLE_PATIENT``; for a representative also ``INVISIBLE_REPRESENTANTS_LEGAUX``): a
trace "Dr X deposited a document" would otherwise disclose what the author chose to keep
back until the announcement consultation. The events reappear once the document is visible.
Who else may read it is the policy's ``READ_HISTORY``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import AccessMode, Actor, LegalRepresentative, Patient
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.storage import models as m

__all__ = ["HistoryEntry", "history_entries", "read_history", "report_access"]

MAX_HISTORY = 1000
MAX_COMMENT = 2000


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


def _transaction(details: str | None) -> str | None:
    via = orjson.loads(details).get("transaction") if details else None
    return via if isinstance(via, str) else None


def _entry(event: m.AuditEvent) -> HistoryEntry:
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
    )


async def history_entries(
    session: AsyncSession,
    *,
    record_id: uuid.UUID,
    actor: Actor,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    professional_idnat: str | None = None,
    limit: int | None = None,
) -> list[HistoryEntry]:
    """The record's events as ``actor`` may see them, newest first, in the caller's
    transaction and *after* the caller's policy check (``read_history``, the export)."""
    query = select(m.AuditEvent).where(m.AuditEvent.record_id == record_id)
    if since is not None:
        query = query.where(m.AuditEvent.time >= since)
    if until is not None:
        query = query.where(m.AuditEvent.time < until)
    if professional_idnat is not None:
        query = query.where(
            m.AuditEvent.actor_kind == "professional",
            m.AuditEvent.actor_id == professional_idnat,
        )
    if isinstance(actor, Patient | LegalRepresentative):
        hidden: ColumnElement[bool] = m.Document.invisible_to_patient.is_(True)
        if isinstance(actor, LegalRepresentative):
            hidden = or_(hidden, m.Document.invisible_to_representatives.is_(True))
        query = query.outerjoin(
            m.Document,
            and_(
                m.Document.record_id == record_id,
                m.Document.id == m.AuditEvent.target_document_id,
            ),
        ).where(or_(m.Document.id.is_(None), not_(hidden)))
    query = query.order_by(m.AuditEvent.time.desc(), m.AuditEvent.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_entry(event) for event in (await session.execute(query)).scalars()]


async def read_history(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    professional_idnat: str | None = None,
    limit: int = 200,
) -> list[HistoryEntry]:
    """Events of the record, newest first: ``since <= time < until``, optionally only those
    of one professional; at most ``limit`` (≤ 1000). Audited as ``record:history:read``."""
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
        entries = await history_entries(
            g.session,
            record_id=g.record.id,
            actor=actor,
            since=since,
            until=until,
            professional_idnat=professional_idnat,
            limit=min(limit, MAX_HISTORY),
        )
        await g.audit(AuditAction.HISTORY_READ, {"count": len(entries)})
        await g.uow.commit()
        return entries


async def report_access(
    ctx: ServiceContext,
    *,
    actor: Patient | LegalRepresentative,
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
        reported = (
            await g.session.execute(
                select(m.AuditEvent.actor_kind).where(
                    m.AuditEvent.record_id == g.record.id, m.AuditEvent.id == event_id
                )
            )
        ).scalar_one_or_none()
        if reported is None:
            raise NotFound("no such event in this record", code="event-not-found")
        if reported != "professional":
            raise InvalidInput("only a professional's access can be reported", code="not-an-access")
        await g.audit(AuditAction.ACCESS_REPORTED, {"event_id": event_id, "comment": text})
        await g.uow.commit()
