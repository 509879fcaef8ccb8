"""What the professional portal needs around one patient, beyond the access services.

- ``look_up_patient``: the existence test (TD0.2, ``access.authorization_status``, audited)
  plus the patient's identity, shown only to a professional who may read the record (a
  valid basis, or an emergency access running): the portal must let them check they hold
  the right person (identitovigilance), while a stranger typing an INS learns only what the
  existence test answers.
- ``open_emergency``: break-glass or SAMU regulation through ``emergency.open_emergency_access``;
  the regulation mode is offered to doctors only (the médecin régulateur of a centre 15) —
  a refusal of either leaves its audit event.
- ``my_patients``: the records where the professional holds a valid authorisation or is a
  treating doctor, with the date of their last document; audited once.

Queries that span records (``my_patients``) go through the professional's own rows
(authorisations and treating-doctor rows by ``professional_id``), then name ``record_id``
for everything per record.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.domain.actors import AccessMode, Professional
from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import RecordStatus
from opendmp.services.access.authorisations import (
    AccessState,
    AuthorizationStatus,
    authorization_status,
)
from opendmp.services.access.emergency import EmergencyAccessView, open_emergency_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import actor_on_record, blocks_against, directory_ids, known_id
from opendmp.services.core.gate import audit
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record
from opendmp.storage.scope import global_query

__all__ = [
    "MAX_JUSTIFICATION",
    "MyPatient",
    "PatientCard",
    "look_up_patient",
    "my_patients",
    "open_emergency",
]

DOCTOR = "10"
MAX_JUSTIFICATION = 1000


@dataclass(frozen=True, slots=True)
class PatientCard:
    """The existence test's answer and, when the caller may read, who the patient is."""

    ins: Ins
    status: AuthorizationStatus
    emergency_open: bool = False
    emergency_until: dt.datetime | None = None
    birth_name: str | None = None
    given_names: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None

    @property
    def exists(self) -> bool:
        return self.status.record_status is not None

    @property
    def active(self) -> bool:
        return self.status.record_status is RecordStatus.ACTIVE

    @property
    def may_read(self) -> bool:
        return self.active and (self.status.state is AccessState.VALIDE or self.emergency_open)


async def look_up_patient(ctx: ServiceContext, *, actor: Professional, ins: Ins) -> PatientCard:
    """TD0.2 for the portal (see the module docstring); audited by the existence test."""
    status = await authorization_status(ctx, actor=actor, ins=ins)
    card = PatientCard(ins=ins, status=status)
    if status.record_status is None:
        return card
    now = ctx.now()
    async with ctx.uow() as uow:
        session = uow.session
        found = await find_record(session, ins)
        if found is None:  # pragma: no cover - destroyed between the two transactions
            return card
        patient, record = found
        who = await actor_on_record(session, actor=actor, patient=patient, record=record, now=now)
        until = None
        if who.facts.emergency_open and who.professional_id is not None:
            until = (
                await session.execute(
                    select(func.max(m.EmergencyAccess.expires_at)).where(
                        m.EmergencyAccess.record_id == record.id,
                        m.EmergencyAccess.professional_id == who.professional_id,
                    )
                )
            ).scalar_one_or_none()
        card = replace(card, emergency_open=who.facts.emergency_open, emergency_until=until)
        if card.may_read:
            card = replace(
                card,
                birth_name=patient.birth_name,
                given_names=patient.given_names,
                birth_date=patient.birth_date,
                sex=patient.sex,
            )
        return card


async def _refuse(
    ctx: ServiceContext, *, actor: Professional, ins: Ins, reason: str, message: str
) -> AccessDenied:
    """Audit a refusal the policy does not express, on the record's chain."""
    async with ctx.uow() as uow:
        found = await find_record(uow.session, ins)
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.EMERGENCY_OPEN,
            record_id=found[1].id if found else None,
            outcome=Outcome.DENIED,
            reason=reason,
            details={"mode": actor.access_mode.value},
        )
        await uow.commit()
    return AccessDenied(message, code=reason)


async def open_emergency(
    ctx: ServiceContext,
    *,
    actor: Professional,
    ins: Ins,
    mode: AccessMode,
    justification: str,
) -> EmergencyAccessView:
    """Open a time-boxed emergency access for ``actor`` in ``mode``.

    The mode and the justification ride on the actor, as every emergency read will: the
    policy judges them (``justification-required``, ``emergency-opposed-by-patient``,
    ``blocked-by-patient``, ``cpe-never-reads``) and the gate audits its refusals.
    """
    text = " ".join(justification.split())
    if len(text) > MAX_JUSTIFICATION:
        raise InvalidInput(
            f"the justification exceeds {MAX_JUSTIFICATION} characters",
            code="invalid-justification",
        )
    if mode is AccessMode.NORMAL:
        raise InvalidInput("choose break-glass or regulation", code="invalid-access-mode")
    emergency = replace(actor, access_mode=mode, justification=text or None)
    if mode is AccessMode.REGULATION and actor.profession != DOCTOR:
        # The regulation centre's reader is its regulating doctor (médecin régulateur).
        raise await _refuse(
            ctx,
            actor=emergency,
            ins=ins,
            reason="regulation-doctors-only",
            message="the regulation-centre mode is for SAMU regulating doctors",
        )
    return await open_emergency_access(ctx, actor=emergency, ins=ins)


@dataclass(frozen=True, slots=True)
class MyPatient:
    ins: Ins
    birth_name: str
    given_names: str
    birth_date: dt.date
    treating_doctor: bool
    authorized_until: dt.datetime | None
    last_document_at: dt.datetime | None  # latest deposit of a current document


async def my_patients(
    ctx: ServiceContext, *, actor: Professional, limit: int = 200
) -> list[MyPatient]:
    """The active records where ``actor`` holds a valid authorisation or is a treating
    doctor (and is not blocked), most recent document first; audited once (system chain,
    a count only: the list itself names patients)."""
    now = ctx.now()
    async with ctx.uow() as uow:
        session = uow.session
        pro_id, org_id = await directory_ids(session, actor)
        found: list[MyPatient] = []
        if pro_id is not None:
            authorized = dict(
                (
                    await session.execute(
                        global_query(
                            select(m.Authorization.record_id, m.Authorization.expires_at).where(
                                m.Authorization.professional_id == pro_id,
                                m.Authorization.state == "authorized",
                            ),
                            "directory",
                        )
                    )
                ).all()
            )
            authorized = {rid: exp for rid, exp in authorized.items() if exp is None or exp > now}
            treating = set(
                (
                    await session.execute(
                        global_query(
                            select(m.TreatingDoctor.record_id).where(
                                m.TreatingDoctor.professional_id == pro_id
                            ),
                            "directory",
                        )
                    )
                ).scalars()
            )
            blocked = set(
                (
                    await session.execute(
                        global_query(
                            select(m.Authorization.record_id).where(
                                blocks_against(known_id(pro_id), known_id(org_id))
                            ),
                            "directory",
                        )
                    )
                ).scalars()
            )
            record_ids = sorted((set(authorized) | treating) - blocked)
            found = [
                item
                for record_id in record_ids
                if (
                    item := await _my_patient(
                        session, record_id, authorized.get(record_id), record_id in treating
                    )
                )
                is not None
            ]
        found.sort(
            key=lambda p: p.last_document_at or dt.datetime.min.replace(tzinfo=dt.UTC),
            reverse=True,
        )
        found = found[:limit]
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.MY_PATIENTS_LIST,
            record_id=None,
            details={"count": len(found)},
        )
        await uow.commit()
        return found


async def _my_patient(
    session: AsyncSession, record_id: uuid.UUID, until: dt.datetime | None, treating: bool
) -> MyPatient | None:
    row = (
        await session.execute(
            select(m.Record, m.Patient)
            .join(m.Patient, m.Patient.id == m.Record.patient_id)
            .where(m.Record.id == record_id)
        )
    ).first()
    if row is None:
        return None
    record, patient = row
    if record.status != RecordStatus.ACTIVE.value:
        return None
    last = (
        await session.execute(
            select(func.max(m.Document.deposited_at)).where(
                m.Document.record_id == record_id, m.Document.status == "current"
            )
        )
    ).scalar_one_or_none()
    return MyPatient(
        ins=Ins(patient.ins_value, patient.ins_oid),
        birth_name=patient.birth_name,
        given_names=patient.given_names,
        birth_date=patient.birth_date,
        treating_doctor=treating,
        authorized_until=until,
        last_document_at=last,
    )
