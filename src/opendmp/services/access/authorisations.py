"""Who may access a record: authorisations and blocks (docs/rules.md §3.1, §3.3).

One function per intention. Each opens with ``core.guarded`` (the record found and its row
locked: the changes of one record are serialised; the facts gathered; the policy asked, a
refusal audited and nothing else left) and writes its audit event in the same transaction
as the change. This module is also the entry point of the
access-management services: the listing, the existence test and the treating doctors live
in ``access_list`` and ``treating_doctors`` and are re-exported here.

Storage of the states: per record × professional (or × structure), at most one
authorisation row, ``authorized`` until ``expires_at`` (none for a structure's care team) or
``revoked``, and at most one ``blocked`` row beside it. Keeping the block apart means that
unblocking gives back exactly what the patient had granted (still dated: it may have expired
meanwhile), and that facts, listing and the SQL filters need no knowledge of history: a
``blocked`` row blocks, an unexpired ``authorized`` row authorises. The table's unique
constraint cannot see NULL columns, so uniqueness is kept by the services, which lock the
record row before changing its authorisations.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import Ins, parse_idnat_ps
from opendmp.domain.policy import Action, Facts
from opendmp.services.access.blocks import BLOCKED, block, revoke_authorization, unblock
from opendmp.services.access.common import authorization_rows
from opendmp.services.access.listing import (
    AccessBasis,
    AccessEntry,
    AccessState,
    AuthorizationStatus,
    access_entries,
    authorization_status,
    authorization_status_and_record,
    list_access,
    state_of,
)
from opendmp.services.access.treating_doctors import name_treating_doctor, set_treating_doctor
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import blocks_against, directory_ids, known_id
from opendmp.services.core.guarded import guarded
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.storage import models as m

__all__ = [
    "AccessBasis",
    "AccessEntry",
    "AccessState",
    "AuthorizationStatus",
    "Colleague",
    "ProfessionalLike",
    "authorization_status",
    "authorization_status_and_record",
    "authorize_professional",
    "block",
    "declare_authorization",
    "extend_authorization",
    "list_access",
    "revoke_authorization",
    "set_treating_doctor",
    "state_of",
    "unblock",
]

AUTHORIZED = "authorized"


class ProfessionalLike(Protocol):
    """What is known of a colleague: a ``Professional`` or a ``Colleague``."""

    @property
    def idnat(self) -> str: ...
    @property
    def profession(self) -> str | None: ...
    @property
    def specialty(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def organization(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Colleague:
    """A colleague to whom care is entrusted, as the extending professional names them."""

    idnat: str
    profession: str | None
    specialty: str | None = None
    name: str | None = None
    organization: str | None = None


# --- rows ------------------------------------------------------------------------------------


async def _register(session: AsyncSession, pro: Professional, now: dt.datetime) -> m.Professional:
    """The directory row of a professional met through a credential or a colleague's word.

    A row created by a block knows only the IdNat; it is completed, never overwritten.
    """
    row = await ensure_professional(session, pro, now=now)
    if row.profession is None and pro.profession:
        row.profession, row.specialty = pro.profession, pro.specialty
    if row.family_name == row.idnat and pro.name:
        row.family_name, _, row.given_name = pro.name.partition(" ")
    if pro.organization:
        await ensure_organization(session, pro.organization, name=None, now=now)
    return row


async def _grant(
    session: AsyncSession,
    record_id: uuid.UUID,
    professional_id: uuid.UUID,
    *,
    by: Actor,
    now: dt.datetime,
    expires: dt.datetime,
) -> bool:
    """Authorise (or renew); True when an authorisation existed and was refreshed."""
    rows = await authorization_rows(session, record_id, "professional", professional_id)
    row = next((r for r in rows if r.state != BLOCKED), None)
    renewed = row is not None and row.state == AUTHORIZED
    if row is None:
        await session.execute(
            insert(m.Authorization).values(
                id=uuid.uuid4(),
                record_id=record_id,
                professional_id=professional_id,
                organization_id=None,
                state=AUTHORIZED,
                granted_by_kind=by.kind.value,
                granted_by_id=by.actor_id,
                granted_at=now,
                expires_at=expires,
                updated_at=now,
            )
        )
    else:
        row.state, row.expires_at, row.updated_at = AUTHORIZED, expires, now
        row.granted_by_kind, row.granted_by_id, row.granted_at = by.kind.value, by.actor_id, now
    return renewed


async def _target_blocked(session: AsyncSession, record_id: uuid.UUID, pro: Professional) -> bool:
    """Whether the patient blocked this professional, the structure they act for, or one
    the directory links them to (``facts.blocks_against``)."""
    pro_id, org_id = await directory_ids(session, pro)
    blocks = select(m.Authorization.id).where(
        m.Authorization.record_id == record_id,
        blocks_against(known_id(pro_id), known_id(org_id)),
    )
    return bool((await session.execute(select(blocks.exists()))).scalar())


async def _entry(
    session: AsyncSession, record: m.Record, idnat: str, now: dt.datetime
) -> AccessEntry:
    for entry in await access_entries(session, record.id, now):
        if entry.kind == "professional" and entry.idnat == idnat:
            return entry
    raise NotFound("no access for this professional", code="access-not-found")


# --- authorisations ------------------------------------------------------------------------


async def declare_authorization(
    ctx: ServiceContext, *, actor: Professional, ins: Ins, treating_doctor: bool = False
) -> AccessEntry:
    """The professional records the patient's consent to their access (DMP TD0.3).

    Valid for ``ctx.access.authorization_validity``; declaring again renews it. With
    ``treating_doctor`` the professional also names themself treating doctor (doctors only):
    both decisions are taken before anything is written, so a refusal of either leaves only
    its own trace.
    """
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.DECLARE_AUTHORIZATION,
        audit_action=AuditAction.AUTHORIZATION_DECLARE,
        for_update=True,
        audit_unknown_record=True,
    ) as g:
        if treating_doctor:
            # The declaration written below, in this transaction, is the basis of naming
            # oneself: the policy is asked with the facts as they will be.
            declared = replace(
                g.facts, authorized=True, authorization_expired=False, target_is_actor=True
            )
            await g.require(
                Action.SET_TREATING_DOCTOR,
                AuditAction.TREATING_DOCTOR_SET,
                facts=declared,
                details={"professional": actor.idnat},
            )
        session, record, now = g.session, g.record, g.now
        row = await _register(session, actor, now)
        expires = now + ctx.access.authorization_validity
        renewed = await _grant(session, record.id, row.id, by=actor, now=now, expires=expires)
        await g.audit_allowed(
            AuditAction.AUTHORIZATION_DECLARE,
            {"expires_at": expires.isoformat(), "renewed": renewed},
        )
        if treating_doctor:
            changed = await name_treating_doctor(session, record.id, row.id, by=actor, now=now)
            await g.audit_allowed(
                AuditAction.TREATING_DOCTOR_SET,
                {"professional": actor.idnat, "changed": changed},
            )
        await g.uow.commit()
        return await _entry(session, record, actor.idnat, now)


async def authorize_professional(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, professional_idnat: str
) -> bool:
    """The patient (or their representative) authorises a professional the directory knows,
    for ``ctx.access.authorization_validity``; True when an authorisation was renewed.

    A professional the directory does not know is refused (what they may read depends on a
    profession only the directory or their card tells). Under a block the authorisation
    waits beneath it, as one granted before the block would: the block wins until lifted.
    """
    idnat = parse_idnat_ps(professional_idnat).idnat
    details = {"professional": idnat}
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.DECLARE_AUTHORIZATION,
        audit_action=AuditAction.AUTHORIZATION_GRANT,
        for_update=True,
        audit_unknown_record=True,
        details=details,
    ) as g:
        session, record, now = g.session, g.record, g.now
        row = (
            await session.execute(select(m.Professional).where(m.Professional.idnat == idnat))
        ).scalar_one_or_none()
        if row is None:
            error = NotFound("no professional with this IdNat_PS", code="professional-not-found")
            await g.fail(AuditAction.AUTHORIZATION_GRANT, error)
        expires = now + ctx.access.authorization_validity
        renewed = await _grant(session, record.id, row.id, by=actor, now=now, expires=expires)
        await g.audit_allowed(
            AuditAction.AUTHORIZATION_GRANT,
            {**details, "expires_at": expires.isoformat(), "renewed": renewed},
        )
        await g.uow.commit()
        return renewed


async def extend_authorization(
    ctx: ServiceContext, *, actor: Professional, ins: Ins, colleague: ProfessionalLike
) -> AccessEntry:
    """An authorised professional extends access to a colleague to whom care is entrusted."""
    idnat = parse_idnat_ps(colleague.idnat).idnat
    if idnat == actor.idnat:
        raise InvalidInput(
            "one cannot extend an authorisation to oneself", code="invalid-colleague"
        )
    other = Professional(
        idnat=idnat,
        profession=colleague.profession,
        specialty=colleague.specialty,
        organization=colleague.organization,
        name=colleague.name,
    )

    async def target_blocked(session: AsyncSession, record: m.Record, facts: Facts) -> Facts:
        return replace(facts, target_blocked=await _target_blocked(session, record.id, other))

    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.EXTEND_AUTHORIZATION,
        audit_action=AuditAction.AUTHORIZATION_EXTEND,
        for_update=True,
        audit_unknown_record=True,
        details={"colleague": idnat},
        prepare=target_blocked,
    ) as g:
        session, record, now = g.session, g.record, g.now
        row = await _register(session, other, now)
        expires = now + ctx.access.authorization_validity
        renewed = await _grant(session, record.id, row.id, by=actor, now=now, expires=expires)
        await g.audit_allowed(
            AuditAction.AUTHORIZATION_EXTEND,
            {"colleague": idnat, "expires_at": expires.isoformat(), "renewed": renewed},
        )
        await g.uow.commit()
        return await _entry(session, record, idnat, now)
