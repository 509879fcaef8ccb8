"""Emergency accesses the holder has not yet acknowledged (issue 15; docs/rules.md §3.4).

After a break-glass or regulation-centre access the patient is told by message; the portal's
home page also shows those accesses, prominently, until the holder (the patient, or each
legal representative for themself) acknowledges them. The acknowledgement is an audit event
of the record's chain, ``access:emergency:acknowledged`` with ``{"through": <event id>}``:
it is persisted and traced by the same write, and an emergency access that happens after
the page was shown (a later event id) stays on the page.

Who may see these is the policy's ``READ_HISTORY`` (they are history entries).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.records.history import HistoryFilter, event_actor_kind, history_entries
from opendmp.storage import models as m

__all__ = ["EmergencyNotice", "acknowledge_emergencies", "unacknowledged_emergencies"]

MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class EmergencyNotice:
    """One professional's emergency accesses in one mode since the last acknowledgement."""

    professional_idnat: str
    name: str | None
    profession: str | None
    organization: str | None  # the establishment's name, else its Struct_IdNat
    mode: str  # break-glass | regulation
    first: dt.datetime
    last: dt.datetime
    events: int
    latest_event_id: int


async def _acknowledged_through(session: AsyncSession, record: m.Record, actor: Actor) -> int:
    details = (
        await session.execute(
            select(m.AuditEvent.details)
            .where(
                m.AuditEvent.record_id == record.id,
                m.AuditEvent.action == AuditAction.EMERGENCY_ACKNOWLEDGED.value,
                m.AuditEvent.actor_id == actor.actor_id,
            )
            .order_by(m.AuditEvent.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    through = orjson.loads(details).get("through") if details else None
    return through if isinstance(through, int) else 0


async def unacknowledged_emergencies(
    ctx: ServiceContext, *, actor: Actor, ins: Ins
) -> list[EmergencyNotice]:
    """The emergency accesses since ``actor``'s last acknowledgement, one notice per
    professional and mode, latest first. Audited as ``record:history:read``."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_HISTORY,
        audit_action=AuditAction.HISTORY_READ,
    ) as g:
        through = await _acknowledged_through(g.session, g.record, actor)
        wanted = HistoryFilter(emergency_only=True, after_event_id=through, limit=MAX_EVENTS)
        entries = await history_entries(
            g.session, record_id=g.record.id, actor=actor, wanted=wanted
        )
        notices: dict[tuple[str, str], EmergencyNotice] = {}
        for entry in entries:  # newest first
            key = (entry.actor_id, entry.access_mode)
            known = notices.get(key)
            if known is None:
                notices[key] = EmergencyNotice(
                    professional_idnat=entry.actor_id,
                    name=entry.actor_name,
                    profession=entry.actor_profession,
                    organization=entry.organization_name or entry.actor_organization,
                    mode=entry.access_mode,
                    first=entry.time,
                    last=entry.time,
                    events=1,
                    latest_event_id=entry.event_id,
                )
            else:
                notices[key] = replace(known, first=entry.time, events=known.events + 1)
        await g.audit(AuditAction.HISTORY_READ, {"emergencies": len(notices)})
        await g.uow.commit()
        return list(notices.values())


async def acknowledge_emergencies(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, through: int
) -> None:
    """``actor`` has seen the emergency accesses up to event ``through`` (the latest one the
    page showed): audited ``access:emergency:acknowledged``, which is the acknowledgement."""
    if through < 1:
        raise InvalidInput("no emergency access to acknowledge", code="invalid-acknowledgement")
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_HISTORY,
        audit_action=AuditAction.EMERGENCY_ACKNOWLEDGED,
        for_update=True,
    ) as g:
        if await event_actor_kind(g.session, g.record.id, through) is None:
            raise InvalidInput("no such event in this record", code="invalid-acknowledgement")
        await g.audit(AuditAction.EMERGENCY_ACKNOWLEDGED, {"through": through})
        await g.uow.commit()
