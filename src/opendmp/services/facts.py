"""Gather what the policy needs to know about an actor on a record.

One place builds ``Facts`` for every use case, so the rules see the same world whatever the
entry point (FHIR API, portals, CLI). Queries name ``record_id``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.actors import Actor, LegalRepresentative, Patient, Professional
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.policy import DocumentFacts, Facts
from opendmp.domain.records import RecordStatus
from opendmp.storage import models as m


@dataclass(frozen=True, slots=True)
class ActorOnRecord:
    """Record-level facts plus the actor's directory ids (for the SQL filter)."""

    facts: Facts
    professional_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None


async def directory_ids(
    session: AsyncSession, actor: Professional
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    pro_id = (
        await session.execute(select(m.Professional.id).where(m.Professional.idnat == actor.idnat))
    ).scalar_one_or_none()
    org_id = None
    if actor.organization:
        org_id = (
            await session.execute(
                select(m.Organization.id).where(m.Organization.struct_idnat == actor.organization)
            )
        ).scalar_one_or_none()
    return pro_id, org_id


async def actor_on_record(
    session: AsyncSession,
    *,
    actor: Actor,
    patient: m.Patient,
    record: m.Record,
    now: dt.datetime,
    include_superseded: bool = False,
) -> ActorOnRecord:
    base = Facts(
        record_status=RecordStatus(record.status),
        allow_regulation=record.allow_regulation,
        allow_break_glass=record.allow_break_glass,
        allow_masked_in_emergency=record.allow_masked_in_emergency,
        include_superseded=include_superseded,
    )
    if isinstance(actor, Patient):
        return ActorOnRecord(
            replace(base, is_subject=actor.ins == f"{patient.ins_oid}|{patient.ins_value}")
        )
    if isinstance(actor, LegalRepresentative):
        try:
            rep_id = uuid.UUID(actor.representative_id)
        except ValueError:
            return ActorOnRecord(base)
        known = (
            await session.execute(
                select(m.Representative.id).where(
                    m.Representative.record_id == record.id, m.Representative.id == rep_id
                )
            )
        ).first()
        return ActorOnRecord(replace(base, is_representative=known is not None))
    if not isinstance(actor, Professional):
        return ActorOnRecord(base)
    pro_id, org_id = await directory_ids(session, actor)
    if pro_id is None and org_id is None:
        return ActorOnRecord(base)
    grants = (
        await session.execute(
            select(
                m.Authorization.professional_id,
                m.Authorization.organization_id,
                m.Authorization.state,
                m.Authorization.expires_at,
            ).where(
                m.Authorization.record_id == record.id,
                or_(
                    and_(
                        m.Authorization.professional_id.is_not(None),
                        m.Authorization.professional_id == pro_id,
                    ),
                    and_(
                        m.Authorization.organization_id.is_not(None),
                        m.Authorization.organization_id == org_id,
                    ),
                ),
            )
        )
    ).all()
    blocked = any(g.state == "blocked" for g in grants)
    mine = [g for g in grants if g.professional_id is not None and g.state == "authorized"]
    authorized = any(g.expires_at is None or g.expires_at > now for g in mine)
    expired = bool(mine) and not authorized
    org_valid = any(
        g.organization_id is not None
        and g.state == "authorized"
        and (g.expires_at is None or g.expires_at > now)
        for g in grants
    )
    care_team = False
    if org_valid and pro_id is not None:
        care_team = (
            await session.execute(
                select(m.Membership.care_team).where(
                    m.Membership.professional_id == pro_id,
                    m.Membership.organization_id == org_id,
                )
            )
        ).scalar_one_or_none() is True
    treating = emergency = False
    if pro_id is not None:
        treating = (
            await session.execute(
                select(m.TreatingDoctor.professional_id).where(
                    m.TreatingDoctor.record_id == record.id,
                    m.TreatingDoctor.professional_id == pro_id,
                )
            )
        ).first() is not None
        emergency = (
            await session.execute(
                select(m.EmergencyAccess.id).where(
                    m.EmergencyAccess.record_id == record.id,
                    m.EmergencyAccess.professional_id == pro_id,
                    m.EmergencyAccess.expires_at > now,
                )
            )
        ).first() is not None
    return ActorOnRecord(
        replace(
            base,
            blocked=blocked,
            authorized=authorized,
            authorization_expired=expired,
            care_team=care_team,
            treating_doctor=treating,
            emergency_open=emergency,
        ),
        professional_id=pro_id,
        organization_id=org_id,
    )


def document_facts(
    doc: m.Document, *, actor: Actor, who: ActorOnRecord, matrix: AccessMatrix
) -> tuple[Facts, DocumentFacts]:
    """The record-level facts completed with one document's."""
    author_is_actor = author_org = False
    matrix_allows = True
    if isinstance(actor, Professional):
        author_is_actor = (
            doc.author_professional_id is not None
            and doc.author_professional_id == who.professional_id
        ) or (doc.deposited_by_kind == "professional" and doc.deposited_by_id == actor.idnat)
        author_org = (
            doc.author_organization_id is not None
            and doc.author_organization_id == who.organization_id
        )
        matrix_allows = matrix.may_read(actor.profession, actor.specialty, doc.type_code)
    elif isinstance(actor, Patient):
        author_is_actor = doc.deposited_by_kind == "patient"
    document = DocumentFacts(
        type_code=doc.type_code,
        deleted=doc.status == "deleted",
        superseded=doc.status == "superseded",
        archived=doc.archived,
        masked=doc.masked_by_patient,
        invisible_to_patient=doc.invisible_to_patient,
        invisible_to_representatives=doc.invisible_to_representatives,
        author_is_actor=author_is_actor,
        author_organization_is_actors=author_org,
        deposited_by_patient=doc.deposited_by_kind == "patient",
    )
    return replace(who.facts, matrix_allows=matrix_allows, document=document), document
