"""Emergency access: break-glass and the SAMU regulation centre (docs/rules.md §3.1, §3.4).

An emergency access is time-boxed (``ctx.access.emergency_access_duration``). Opening one
is traced (``access:emergency:open``, with its mode) and ALWAYS notified: to the patient,
whatever their notification preferences, and to every treating doctor of the record having
an e-mail address. The messages say who, their profession and structure, when and in which
mode; never the justification (it may describe the patient's condition) nor any health data.
The justification stays in the ``emergency_access`` row.

``ensure_emergency_access`` is the one place that opens an access; the read and search
paths call it inside their own transaction when the policy allowed them in an emergency mode.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import chain_of
from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import AccessMode, Professional
from opendmp.domain.codes import profession_label
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import NOTIFY_EMERGENCY, Action
from opendmp.services.access.common import audit_allowed
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.storage import models as m


@dataclass(frozen=True, slots=True)
class EmergencyAccessView:
    id: uuid.UUID
    record_id: uuid.UUID
    professional_idnat: str
    mode: AccessMode
    justification: str
    opened_at: dt.datetime
    expires_at: dt.datetime
    opened_now: bool  # False: an access opened earlier was still running


async def _open_access(
    session: AsyncSession, record_id: uuid.UUID, professional_id: uuid.UUID, now: dt.datetime
) -> m.EmergencyAccess | None:
    return (
        await session.execute(
            select(m.EmergencyAccess)
            .where(
                m.EmergencyAccess.record_id == record_id,
                m.EmergencyAccess.professional_id == professional_id,
                m.EmergencyAccess.expires_at > now,
            )
            .order_by(m.EmergencyAccess.expires_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _profession(code: str | None) -> str:
    if not code:
        return ""
    try:
        return profession_label(code)
    except InvalidInput:
        return code


async def ensure_emergency_access(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    actor: Professional,
    record: m.Record,
    patient: m.Patient,
    now: dt.datetime,
) -> bool:
    """Open an emergency access for ``actor`` on ``record`` unless one is running; True
    when opened. Runs in the caller's transaction, after the policy allowed the caller's
    action in an emergency mode; writes the row, the audit event and the notifications.

    It locks the record's audit chain head first (``SELECT … FOR UPDATE``): two concurrent
    requests of one professional then cannot both find no access and open two. Requests
    append their events without it (audit/writer.py); besides the rare paths that lock it
    like this one (after the record row, as every use case does), only the sequencer takes
    it, with ``SKIP LOCKED`` and nothing else held: no new lock order.
    """
    if actor.access_mode is AccessMode.NORMAL:
        raise ValueError("an emergency access needs the break-glass or regulation mode")
    await session.execute(
        select(m.AuditChain.seq).where(m.AuditChain.chain == chain_of(record.id)).with_for_update()
    )
    professional = await ensure_professional(session, actor, now=now)
    if await _open_access(session, record.id, professional.id, now) is not None:
        return False
    expires = now + ctx.access.emergency_access_duration
    await session.execute(
        insert(m.EmergencyAccess).values(
            id=uuid.uuid4(),
            record_id=record.id,
            professional_id=professional.id,
            mode=actor.access_mode.value,
            # Regulation needs no written justification (§3.1); the column wants a text.
            justification=(actor.justification or "").strip(),
            opened_at=now,
            expires_at=expires,
        )
    )
    await audit_allowed(
        ctx,
        session,
        actor=actor,
        action=AuditAction.EMERGENCY_OPEN,
        record_id=record.id,
        details={"mode": actor.access_mode.value, "expires_at": expires.isoformat()},
    )
    organization = actor.organization or ""
    if actor.organization:
        org = await ensure_organization(session, actor.organization, name=None, now=now)
        organization = org.name
    payload = {
        "who": actor.name or actor.idnat,
        "profession": _profession(actor.profession),
        "organization": organization,
        "at": now.isoformat(),
        "mode": actor.access_mode.value,
    }
    # §3.4: the patient is told of every emergency access, whatever their preferences.
    if patient.email:
        await enqueue_notification(
            session,
            record_id=record.id,
            kind=NOTIFY_EMERGENCY,
            recipient=patient.email,
            payload={**payload, "audience": "patient"},
            now=now,
            language=record.preferred_language,
        )
    doctors = await session.execute(
        select(m.Professional.email)
        .join(m.TreatingDoctor, m.TreatingDoctor.professional_id == m.Professional.id)
        .where(m.TreatingDoctor.record_id == record.id, m.Professional.email.is_not(None))
        .order_by(m.Professional.idnat)
    )
    for email in doctors.scalars():
        if email:
            await enqueue_notification(
                session,
                record_id=record.id,
                kind=NOTIFY_EMERGENCY,
                recipient=email,
                payload={**payload, "audience": "treating-doctor"},
                now=now,
            )
    return True


async def open_emergency_access(
    ctx: ServiceContext, *, actor: Professional, ins: Ins
) -> EmergencyAccessView:
    """Open (or find running) an emergency access, in break-glass mode with a written
    justification, or as the SAMU regulation centre; the patient's ETREAT/BTG choices and
    blocks are the policy's to judge."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.OPEN_EMERGENCY_ACCESS,
        audit_action=AuditAction.EMERGENCY_OPEN,
        for_update=True,
        audit_unknown_record=True,
        details={"mode": actor.access_mode.value},
    ) as g:
        record = g.record
        opened = await ensure_emergency_access(
            ctx, g.session, actor=actor, record=record, patient=g.patient, now=g.now
        )
        if not opened:
            # The decision is traced even when an access was already running.
            await g.audit_allowed(
                AuditAction.EMERGENCY_OPEN,
                {"mode": actor.access_mode.value, "already_open": True},
            )
        professional_id = (
            await g.session.execute(
                select(m.Professional.id).where(m.Professional.idnat == actor.idnat)
            )
        ).scalar_one()
        access = await _open_access(g.session, record.id, professional_id, g.now)
        assert access is not None
        view = EmergencyAccessView(
            id=access.id,
            record_id=record.id,
            professional_idnat=actor.idnat,
            mode=AccessMode(access.mode),
            justification=access.justification,
            opened_at=access.opened_at,
            expires_at=access.expires_at,
            opened_now=opened,
        )
        await g.uow.commit()
        return view
