"""Treating doctors of a record (médecin traitant DMP, docs/rules.md §3.1, §3.3): several are
allowed; the patient names and removes them, a doctor names themself when declaring the
patient's consent (``access.declare_authorization``) and may step down."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins, parse_idnat_ps
from opendmp.domain.policy import DOCTOR, Action, Facts
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.storage import models as m


async def name_treating_doctor(
    session: AsyncSession,
    record_id: uuid.UUID,
    professional_id: uuid.UUID,
    *,
    by: Actor,
    now: dt.datetime,
) -> bool:
    exists = (
        await session.execute(
            select(m.TreatingDoctor.professional_id).where(
                m.TreatingDoctor.record_id == record_id,
                m.TreatingDoctor.professional_id == professional_id,
            )
        )
    ).first()
    if exists is not None:
        return False
    await session.execute(
        insert(m.TreatingDoctor).values(
            record_id=record_id,
            professional_id=professional_id,
            since=now,
            named_by_kind=by.kind.value,
        )
    )
    return True


@dataclass(slots=True)
class _Target:
    """The professional named, looked up on the record's session before the policy is asked:
    whether they are a doctor, or the actor themself, are facts of the decision."""

    actor: Actor
    idnat: str
    on: bool
    row: m.Professional | None = None

    async def facts(self, session: AsyncSession, record: m.Record, facts: Facts) -> Facts:
        self.row = (
            await session.execute(select(m.Professional).where(m.Professional.idnat == self.idnat))
        ).scalar_one_or_none()
        return replace(
            facts,
            target_is_actor=isinstance(self.actor, Professional) and self.actor.idnat == self.idnat,
            # Removing is never refused for the target's profession.
            target_is_doctor=not self.on or self.row is None or self.row.profession == DOCTOR,
        )


async def set_treating_doctor(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, professional_idnat: str, on: bool
) -> bool:
    """The patient names (``on``) or removes a treating doctor (médecin traitant DMP;
    several are allowed); True when something changed. A doctor may step down themself;
    naming oneself goes through ``declare_authorization``'s ``treating_doctor``."""
    idnat = parse_idnat_ps(professional_idnat).idnat
    audit_action = AuditAction.TREATING_DOCTOR_SET if on else AuditAction.TREATING_DOCTOR_UNSET
    found = _Target(actor, idnat, on)
    details = {"professional": idnat}
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SET_TREATING_DOCTOR,
        audit_action=audit_action,
        for_update=True,
        audit_unknown_record=True,
        details=details,
        prepare=found.facts,
    ) as g:
        session, record, now, target = g.session, g.record, g.now, found.row
        if target is None and on:
            # Whether a stranger is a doctor is unknown: they must have used the DMP first.
            error = NotFound("no professional with this IdNat_PS", code="professional-not-found")
            await g.fail(audit_action, error)
        changed = False
        if target is not None and on:
            changed = await name_treating_doctor(session, record.id, target.id, by=actor, now=now)
        elif target is not None:
            result = await session.execute(
                delete(m.TreatingDoctor).where(
                    m.TreatingDoctor.record_id == record.id,
                    m.TreatingDoctor.professional_id == target.id,
                )
            )
            changed = bool(getattr(result, "rowcount", 0))
        await g.audit_allowed(audit_action, {**details, "changed": changed})
        await g.uow.commit()
        return changed
