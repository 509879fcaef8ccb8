"""The list of who has access to a record and why (docs/rules.md §3.1, §3.3), as views.

Built from the rows ``access`` and ``emergency`` write: authorisations (of a professional, or
of a structure whose care team is then deemed authorised), treating doctors, open emergency
accesses. One entry per professional or structure, with every basis it holds; a block wins
over all of them (§3.1.2), so a blocked entry is ``INTERDIT`` whatever else holds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Facts, decide
from opendmp.domain.records import RecordStatus
from opendmp.services.access.common import audit_allowed
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import actor_on_record
from opendmp.services.core.gate import audit, require
from opendmp.services.core.guarded import guarded
from opendmp.services.records.lifecycle import RecordView, record_view, show_record
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record
from opendmp.storage.uow import UnitOfWork


class AccessState(StrEnum):
    """The DMP's authorisation states (docs/rules.md §3.1)."""

    NON_EXISTE = "NON_EXISTE"
    VALIDE = "VALIDE"
    EXPIRE = "EXPIRE"
    INTERDIT = "INTERDIT"


class AccessBasis(StrEnum):
    AUTHORIZATION = "authorization"  # the patient's consent, declared or extended
    CARE_TEAM = "care-team"  # a structure's care team (an entry for the structure)
    TREATING_DOCTOR = "treating-doctor"  # médecin traitant DMP
    EMERGENCY = "emergency"  # an open break-glass or regulation access


@dataclass(frozen=True, slots=True)
class AccessEntry:
    kind: str  # professional | organization
    idnat: str  # IdNat_PS or Struct_IdNat
    name: str
    state: AccessState
    bases: tuple[AccessBasis, ...] = ()
    profession: str | None = None
    specialty: str | None = None
    granted_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None  # of the authorisation
    granted_by_kind: str | None = None  # patient | professional (an extension) | …
    granted_by_id: str | None = None
    blocked_since: dt.datetime | None = None
    emergency_mode: str | None = None
    emergency_expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationStatus:
    """TD0.2: does a record exist for this INS, and what is the asking professional's access."""

    state: AccessState
    treating_doctor: bool
    record_status: RecordStatus | None  # None: no record for this INS
    closed_at: dt.datetime | None = None
    closure_reason: str | None = None


def state_of(facts: Facts) -> AccessState:
    """The DMP's authorisation state of a professional, from the facts the policy sees."""
    if facts.blocked:
        return AccessState.INTERDIT
    if facts.authorized or facts.care_team or facts.treating_doctor:
        return AccessState.VALIDE
    if facts.authorization_expired:
        return AccessState.EXPIRE
    return AccessState.NON_EXISTE


@dataclass
class _Draft:
    kind: str
    idnat: str
    name: str
    profession: str | None = None
    specialty: str | None = None
    bases: list[AccessBasis] = field(default_factory=list)
    valid: bool = False
    expired: bool = False
    blocked_since: dt.datetime | None = None
    authorization: m.Authorization | None = None
    emergency: m.EmergencyAccess | None = None

    def entry(self) -> AccessEntry:
        if self.blocked_since is not None:
            state = AccessState.INTERDIT
        elif self.valid:
            state = AccessState.VALIDE
        else:
            state = AccessState.EXPIRE if self.expired else AccessState.NON_EXISTE
        auth = self.authorization
        return AccessEntry(
            kind=self.kind,
            idnat=self.idnat,
            name=self.name,
            state=state,
            bases=tuple(self.bases),
            profession=self.profession,
            specialty=self.specialty,
            granted_at=auth.granted_at if auth else None,
            expires_at=auth.expires_at if auth else None,
            granted_by_kind=auth.granted_by_kind if auth else None,
            granted_by_id=(auth.granted_by_id or None) if auth else None,
            blocked_since=self.blocked_since,
            emergency_mode=self.emergency.mode if self.emergency else None,
            emergency_expires_at=self.emergency.expires_at if self.emergency else None,
        )


def _person(row: m.Professional) -> _Draft:
    name = f"{row.family_name} {row.given_name}".strip()
    return _Draft("professional", row.idnat, name, row.profession, row.specialty)


async def access_entries(
    session: AsyncSession, record_id: uuid.UUID, now: dt.datetime
) -> list[AccessEntry]:
    """Every professional and structure with access (or a block, or an expired
    authorisation) on the record. Revoked authorisations are not listed."""
    drafts: dict[tuple[str, uuid.UUID], _Draft] = {}

    def professional(row: m.Professional) -> _Draft:
        return drafts.setdefault(("professional", row.id), _person(row))

    grants = await session.execute(
        select(m.Authorization, m.Professional, m.Organization)
        .outerjoin(m.Professional, m.Professional.id == m.Authorization.professional_id)
        .outerjoin(m.Organization, m.Organization.id == m.Authorization.organization_id)
        .where(m.Authorization.record_id == record_id)
    )
    for auth, pro, org in grants:
        if pro is not None:
            draft = professional(pro)
            basis = AccessBasis.AUTHORIZATION
        elif org is not None:
            key = ("organization", org.id)
            draft = drafts.setdefault(key, _Draft("organization", org.struct_idnat, org.name))
            basis = AccessBasis.CARE_TEAM
        else:  # pragma: no cover - a row names one or the other
            continue
        if auth.state == "blocked":  # a row of its own, beside any authorisation
            draft.blocked_since = auth.updated_at
        elif auth.state == "authorized":
            draft.bases.append(basis)
            draft.authorization = auth
            if auth.expires_at is None or auth.expires_at > now:
                draft.valid = True
            else:
                draft.expired = True

    doctors = await session.execute(
        select(m.Professional)
        .join(m.TreatingDoctor, m.TreatingDoctor.professional_id == m.Professional.id)
        .where(m.TreatingDoctor.record_id == record_id)
    )
    for pro in doctors.scalars():
        draft = professional(pro)
        draft.bases.append(AccessBasis.TREATING_DOCTOR)
        draft.valid = True

    emergencies = await session.execute(
        select(m.EmergencyAccess, m.Professional)
        .join(m.Professional, m.Professional.id == m.EmergencyAccess.professional_id)
        .where(m.EmergencyAccess.record_id == record_id, m.EmergencyAccess.expires_at > now)
        .order_by(m.EmergencyAccess.opened_at)
    )
    for access, pro in emergencies:
        draft = professional(pro)
        if AccessBasis.EMERGENCY not in draft.bases:
            draft.bases.append(AccessBasis.EMERGENCY)
        draft.emergency = access
        draft.valid = True

    entries = [d.entry() for d in drafts.values() if d.bases or d.blocked_since is not None]
    return sorted(entries, key=lambda e: (e.kind, e.name, e.idnat))


async def list_access(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> list[AccessEntry]:
    """Every professional and structure with access to the record, why, and in which state.

    Read by the patient (or a representative) and by the treating doctors; audited.
    """
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_ACCESS_LIST,
        audit_action=AuditAction.ACCESS_LIST_READ,
        audit_unknown_record=True,
    ) as g:
        entries = await access_entries(g.session, g.record.id, g.now)
        await g.audit_allowed(AuditAction.ACCESS_LIST_READ)
        await g.uow.commit()
        return entries


async def authorization_status(
    ctx: ServiceContext, *, actor: Professional, ins: Ins
) -> AuthorizationStatus:
    """The existence test TD0.2: the record's status and the professional's access state."""
    status, _ = await authorization_status_and_record(ctx, actor=actor, ins=ins)
    return status


async def authorization_status_and_record(
    ctx: ServiceContext,
    *,
    actor: Professional,
    ins: Ins,
    show_record_if: Callable[[AuthorizationStatus], bool] | None = None,
) -> tuple[AuthorizationStatus, RecordView | None]:
    """The existence test, then — when ``show_record_if(status)`` — the record as
    ``records.show_record`` shows it, in the same transaction (TD0.2 answered with the
    Patient resource: one unit of work, one record lookup, instead of two). Both events
    are audited as when done apart; a refused record read is left to ``show_record``,
    which audits and commits the refusal on its own."""
    now = ctx.now()
    async with ctx.uow() as uow:
        session = uow.session
        found = await find_record(session, ins)
        if found is None:
            await require(
                ctx,
                uow,
                actor=actor,
                action=Action.CHECK_EXISTENCE,
                facts=Facts(None),
                audit_action=AuditAction.RECORD_CHECK_EXISTENCE,
                record_id=None,
            )
            # The INS is not written in the system chain: it holds no record of this person.
            await audit_allowed(
                ctx,
                uow,
                actor=actor,
                action=AuditAction.RECORD_CHECK_EXISTENCE,
                record_id=None,
                details={"exists": False},
            )
            await uow.commit()
            return AuthorizationStatus(AccessState.NON_EXISTE, False, None), None
        patient, record = found
        who = await actor_on_record(session, actor=actor, patient=patient, record=record, now=now)
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.CHECK_EXISTENCE,
            facts=who.facts,
            audit_action=AuditAction.RECORD_CHECK_EXISTENCE,
            record_id=record.id,
        )
        state = state_of(who.facts)
        await audit_allowed(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.RECORD_CHECK_EXISTENCE,
            record_id=record.id,
            details={"exists": True, "state": state.value},
        )
        status = AuthorizationStatus(
            state=state,
            treating_doctor=who.facts.treating_doctor,
            record_status=RecordStatus(record.status),
            closed_at=record.closed_at,
            closure_reason=record.closure_reason,
        )
        view = None
        if show_record_if is not None and show_record_if(status):
            view = await _read_status_in(
                ctx, uow, actor=actor, facts=who.facts, patient=patient, record=record
            )
        await uow.commit()
    if show_record_if is not None and view is None and show_record_if(status):
        view = await show_record(ctx, actor=actor, ins=ins)  # refused: audited there
    return status, view


async def _read_status_in(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    facts: Facts,
    patient: m.Patient,
    record: m.Record,
) -> RecordView | None:
    """``records.show_record`` inside the caller's transaction, on the record it holds;
    None (nothing written) when the policy refuses: the caller then calls ``show_record``,
    which audits and commits the refusal on its own, as before. ``facts`` are the
    existence test's: ``guarded`` asks ``show_record``'s policy with the same."""
    if not decide(actor, Action.READ_RECORD_STATUS, facts).allowed:
        return None
    await audit(ctx, uow, actor=actor, action=AuditAction.RECORD_READ_STATUS, record_id=record.id)
    return record_view(patient, record)
