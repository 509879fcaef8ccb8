"""What an allowed consultation of a record's documents entails besides the data itself.

A professional's search or read is an access to the record (docs/rules.md §5):

- in an emergency mode (break-glass, regulation centre) the time-boxed emergency access is
  opened, and the patient and the treating doctors told, by ``services.emergency`` in the
  caller's transaction;
- in normal mode the patient is told of the access when their preferences say so (default
  on), at most once per professional, record and calendar day (Paris time): a professional
  who opens ten documents in a consultation sends one message, not ten.

Both run after the access was audited. The audit append takes no lock (audit/writer.py): the
once-a-day check locks the record's chain head only when it finds no message yet, then looks
again, so two concurrent first reads by one professional cannot both enqueue.

Once the check has *found* today's message for a professional and a record (a committed
row), this process remembers it until the day ends (``_ALREADY_TOLD``), so that the next
consultations of the day skip the outbox look-up: one statement less per search and read
(docs/benchmarks.md, "fewer round trips"). What it remembers was read from the database,
never what a transaction still open wrote, so a rolled-back message is not remembered.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import chain_of
from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import AccessMode, Actor, Professional
from opendmp.domain.codes import PROFESSIONS, Lang
from opendmp.domain.policy import Decision
from opendmp.services.access.emergency import ensure_emergency_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import Guarded
from opendmp.services.core.notifications import enqueue_notification
from opendmp.storage import models as m
from opendmp.storage.uow import write_at_commit

NOTIFY_ACCESS_KIND = "access"
# The calendar day the patient lives in: a notification "per day" follows their midnight.
PATIENT_ZONE = ZoneInfo("Europe/Paris")


async def consulted(g: Guarded, audit_action: AuditAction, details: Mapping[str, Any]) -> bool:
    """The end of an allowed consultation (a read, a page of a search): its audit event and
    the access's obligations, in its transaction; True if an emergency access was opened."""
    assert g.decision is not None
    await g.audit(audit_action, details)
    return await after_access(
        g.ctx,
        g.session,
        actor=g.actor,
        decision=g.decision,
        patient=g.patient,
        record=g.record,
        now=g.now,
    )


async def after_access(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    actor: Actor,
    decision: Decision,
    patient: m.Patient,
    record: m.Record,
    now: dt.datetime,
) -> bool:
    """Carry out the obligations of an allowed access; True if an emergency access was opened."""
    if not isinstance(actor, Professional):
        return False
    if decision.access_mode is not AccessMode.NORMAL:
        return await open_emergency_access(
            ctx, session, actor=actor, record=record, patient=patient, now=now
        )
    if "access" in decision.notify_patient and record.notify_on_access:
        await notify_access_once_a_day(
            session, actor=actor, patient=patient, record=record, now=now
        )
    return False


async def open_emergency_access(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    actor: Professional,
    record: m.Record,
    patient: m.Patient,
    now: dt.datetime,
) -> bool:
    """Delegate to ``access.emergency.ensure_emergency_access`` (same transaction): it
    opens the time-boxed access unless one is running, audits it and notifies the patient and
    the treating doctors."""
    opened = await ensure_emergency_access(
        ctx, session, actor=actor, record=record, patient=patient, now=now
    )
    return bool(opened)


def _day_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(PATIENT_ZONE)
    start = dt.datetime.combine(local.date(), dt.time(), tzinfo=PATIENT_ZONE)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=PATIENT_ZONE)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


# (record id, professional, start of the patient's day) of messages found queued; bounded,
# emptied when full (the look-up then runs again, as if the process had restarted).
_ALREADY_TOLD: set[tuple[Any, str, dt.datetime]] = set()
_ALREADY_TOLD_MAX = 50_000


def _remember_told(key: tuple[Any, str, dt.datetime]) -> None:
    if len(_ALREADY_TOLD) >= _ALREADY_TOLD_MAX:
        _ALREADY_TOLD.clear()
    _ALREADY_TOLD.add(key)


async def _told_today(
    session: AsyncSession, *, actor: Professional, record_id: uuid.UUID, now: dt.datetime
) -> bool:
    start, end = _day_bounds(now)
    already = (
        await session.execute(
            select(m.Outbox.id)
            .where(
                m.Outbox.record_id == record_id,
                m.Outbox.kind == NOTIFY_ACCESS_KIND,
                m.Outbox.created_at >= start,
                m.Outbox.created_at < end,
                m.Outbox.payload.contains(_marker(actor), autoescape=True),
            )
            .limit(1)
        )
    ).first()
    return already is not None


def _marker(actor: Professional) -> str:
    # The payload is canonical JSON written below; this fragment names the professional.
    return f'"professional":"{actor.idnat}"'


async def notify_access_once_a_day(
    session: AsyncSession,
    *,
    actor: Professional,
    patient: m.Patient,
    record: m.Record,
    now: dt.datetime,
) -> bool:
    """Queue one ``access`` message to the patient unless one was queued today for this
    professional on this record. Returns whether a message is queued (with a deferred-writes
    unit of work, at its commit, unless a concurrent read queued it first).

    Only the e-mail channel exists in the outbox today: a patient with a mobile number only
    is not notified until the SMS channel lands.
    """
    email, record_id = patient.email, record.id
    if not email:
        return False
    key = (record_id, actor.idnat, _day_bounds(now)[0])
    if key in _ALREADY_TOLD:
        return False
    if await _told_today(session, actor=actor, record_id=record_id, now=now):
        _remember_told(key)
        return False
    organization = ""
    if actor.organization:
        organization = (
            await session.execute(
                select(m.Organization.name).where(m.Organization.struct_idnat == actor.organization)
            )
        ).scalar_one_or_none() or actor.organization
    lang: Lang = "en" if record.preferred_language.startswith("en") else "fr"
    known = PROFESSIONS.get(actor.profession or "")
    profession = known.label(lang) if known else ""
    payload = {  # key order matters: ``_marker`` looks for "professional" as written
        "professional": actor.idnat,
        "who": actor.name or actor.idnat,
        "profession": profession,
        "organization": organization,
        "at": now.isoformat(),
        "mode": actor.access_mode.value,
    }
    language = record.preferred_language

    async def enqueue(into: AsyncSession) -> None:
        # The first access of the day: lock the record's chain head (as an emergency access
        # does) and look again, so that two concurrent reads do not both enqueue. Later
        # reads of the day stop at the first look, without any lock.
        await into.execute(
            select(m.AuditChain.seq)
            .where(m.AuditChain.chain == chain_of(record_id))
            .with_for_update()
        )
        if await _told_today(into, actor=actor, record_id=record_id, now=now):
            return
        await enqueue_notification(
            into,
            record_id=record_id,
            kind=NOTIFY_ACCESS_KIND,
            recipient=email,
            payload=payload,
            now=now,
            language=language,
        )

    await write_at_commit(session, enqueue)
    return True
