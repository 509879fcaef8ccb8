"""Gather what the policy needs to know about an actor on a record.

One place builds ``Facts`` for every use case, so the rules see the same world whatever the
entry point (FHIR API, portals, CLI). Queries name ``record_id``.

Which fact comes from where (docs/security.md, "Facts from credentials"): the IdNat_PS,
profession and specialty are the credential's (completed from the directory at sign-in by
``services.identity``); the structures a professional acts for, as far as blocks go, are
the one the credential names *and* every structure the directory links them to
(``membership``), so that a credential that omits or changes its structure never escapes a
block on a structure OpenDMP knows the professional acts for (``blocks_against``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Uuid,
    and_,
    bindparam,
    cast,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import FromClause

from opendmp.domain.actors import Actor, Caregiver, LegalRepresentative, Patient, Professional
from opendmp.domain.delegations import Kind, Right, Status, live_rights, load_rights
from opendmp.domain.local_time import paris_date
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.policy import DocumentFacts, Facts
from opendmp.domain.records import RecordStatus
from opendmp.storage import models as m
from opendmp.storage.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class ActorOnRecord:
    """Record-level facts plus the actor's directory ids (for the SQL filter)."""

    facts: Facts
    professional_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None


def blocks_against(
    professional_id: ColumnElement[uuid.UUID | None],
    organization_id: ColumnElement[uuid.UUID | None],
) -> ColumnElement[bool]:
    """``authorization`` rows (of any record) that block this professional.

    A block on the professional, on the structure the credential names
    (``organization_id``), or on any structure the directory links the professional to:
    the directory's links hold whatever the credential carries, so omitting the structure
    (or naming another one) never lifts a block (docs/security.md, "Facts from
    credentials"). NULL ids match nothing.
    """
    a = m.Authorization
    linked = select(m.Membership.organization_id).where(
        m.Membership.professional_id == professional_id
    )
    return and_(
        a.state == "blocked",
        or_(
            and_(a.professional_id.is_not(None), a.professional_id == professional_id),
            and_(
                a.organization_id.is_not(None),
                or_(a.organization_id == organization_id, a.organization_id.in_(linked)),
            ),
        ),
    )


def known_id(value: uuid.UUID | None) -> ColumnElement[uuid.UUID | None]:
    """A directory id as a bound value (NULL when unknown) for ``blocks_against``."""
    return literal(value, Uuid())


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


def record_facts(record: m.Record, *, include_superseded: bool = False) -> Facts:
    """The facts the record's own row gives (its state and the patient's settings)."""
    return Facts(
        record_status=RecordStatus(record.status),
        allow_regulation=record.allow_regulation,
        allow_break_glass=record.allow_break_glass,
        allow_masked_in_emergency=record.allow_masked_in_emergency,
        include_superseded=include_superseded,
    )


async def actor_on_record(
    session: AsyncSession,
    *,
    actor: Actor,
    patient: m.Patient,
    record: m.Record,
    now: dt.datetime,
    include_superseded: bool = False,
) -> ActorOnRecord:
    base = record_facts(record, include_superseded=include_superseded)
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
    if isinstance(actor, Caregiver):
        rights = await delegated_rights(session, actor=actor, record_id=record.id, now=now)
        return ActorOnRecord(replace(base, delegation_rights=rights))
    if not isinstance(actor, Professional):
        return ActorOnRecord(base)
    statement = _FACTS_WITH_ORGANIZATION if actor.organization else _FACTS
    row = (
        await session.execute(
            statement, {**professional_parameters(actor, now), "record_id": record.id}
        )
    ).one()
    return await professional_on_record(session, actor, base, row, record.id)


def professional_parameters(actor: Professional, now: dt.datetime) -> dict[str, Any]:
    """The bound values of ``professional_facts`` (but ``record_id`` when it is one)."""
    return {
        "idnat": actor.idnat,
        "org": actor.organization,
        "now": now,
        "profession": actor.profession or "",
        "specialty": actor.specialty or "",
    }


async def professional_on_record(
    session: AsyncSession, actor: Professional, base: Facts, row: Any, record_id: uuid.UUID
) -> ActorOnRecord:
    """``base`` completed with a row of ``professional_facts``' columns."""
    if row.narrowed:  # a second round trip only for the few records the patient narrowed
        base = replace(base, narrowed_categories=await _narrowed(session, record_id, actor))
    pro_id, org_id = row.pro_id, row.org_id
    if pro_id is None and org_id is None:
        return ActorOnRecord(base)
    authorized = bool(row.authorized)
    return ActorOnRecord(
        replace(
            base,
            blocked=bool(row.blocked),
            authorized=authorized,
            authorization_expired=bool(row.mine) and not authorized,
            care_team=bool(row.org_valid) and pro_id is not None and bool(row.care_team),
            treating_doctor=bool(row.treating),
            emergency_open=bool(row.emergency),
        ),
        professional_id=pro_id,
        organization_id=org_id,
    )


async def delegated_rights(
    session: AsyncSession, *, actor: Caregiver, record_id: uuid.UUID, now: dt.datetime
) -> frozenset[Right]:
    """The rights ``actor``'s delegation gives on this record now (docs/rules.md §3.7): read
    on every request, so a revocation or an end date takes effect at once, open sessions
    included. Nothing when it is not theirs, not a caregiver's, or not live."""
    try:
        delegation_id = uuid.UUID(actor.delegation_id)
        account_id = uuid.UUID(actor.account_id)
    except ValueError:
        return frozenset()
    d = m.Delegation
    row = (
        await session.execute(
            select(d.status, d.rights, d.starts_on, d.ends_on).where(
                d.record_id == record_id,
                d.id == delegation_id,
                d.kind == Kind.CAREGIVER.value,
                d.caregiver_account_id == account_id,
            )
        )
    ).first()
    if row is None:
        return frozenset()
    return live_rights(
        Status(row.status),
        load_rights(row.rights),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        today=paris_date(now),
    )


def _narrowing_of_reader(record_id: ColumnElement[uuid.UUID]) -> Select[Any]:
    """The patient's narrowings (§3.6) that bind the reader: of their profession, for every
    specialty (``""``) or theirs (bound parameters ``profession``, ``specialty``)."""
    n = m.MatrixNarrowing
    return select(n.category).where(
        n.record_id == record_id,
        n.profession == bindparam("profession"),
        n.specialty.in_(["", bindparam("specialty")]),
    )


_NARROWED = _narrowing_of_reader(bindparam("record_id", type_=Uuid()))


async def _narrowed(
    session: AsyncSession, record_id: uuid.UUID, actor: Professional
) -> frozenset[str]:
    params = {
        "record_id": record_id,
        "profession": actor.profession or "",
        "specialty": actor.specialty or "",
    }
    return frozenset((await session.execute(_NARROWED, params)).scalars())


def professional_facts(
    *, with_organization: bool, record_id: ColumnElement[uuid.UUID]
) -> tuple[FromClause, list[ColumnElement[Any]]]:
    """Everything the policy needs about a professional on a record: a one-row derived
    table of the actor's directory ids and the columns to select with it, on the record
    ``record_id`` names (a bound parameter in ``_FACTS``, the record row's id in the
    consultations' single statement, services/core/opening.py).

    This runs on every API request (deposit, search, read, existence test): one round
    trip instead of up to six (directory ids, grants, membership, treating doctor,
    emergency access) — each round trip is a thread hop with aiosqlite and a network
    exchange with PostgreSQL (whether the patient narrowed the matrix for the reader is one
    more EXISTS). The directory ids come from scalar subqueries in a one-row
    derived table, which the EXISTS tests below correlate with. Built once with bound
    parameters (``idnat``, ``org``, ``now``, ``profession``, ``specialty``): constructing
    it cost more than running it.
    """
    now = bindparam("now", type_=UTCDateTime())
    ids = select(
        select(m.Professional.id)
        .where(m.Professional.idnat == bindparam("idnat"))
        .scalar_subquery()
        .label("pro_id"),
        (
            select(m.Organization.id)
            .where(m.Organization.struct_idnat == bindparam("org"))
            .scalar_subquery()
            if with_organization
            else cast(null(), Uuid())
        ).label("org_id"),
    ).subquery("actor_ids")
    a = m.Authorization
    valid = or_(a.expires_at.is_(None), a.expires_at > now)
    grants = select(a.id).where(
        a.record_id == record_id,
        or_(
            and_(a.professional_id.is_not(None), a.professional_id == ids.c.pro_id),
            and_(a.organization_id.is_not(None), a.organization_id == ids.c.org_id),
        ),
    )
    mine = grants.where(a.professional_id.is_not(None), a.state == "authorized")
    return ids, [
        ids.c.pro_id,
        ids.c.org_id,
        select(a.id)
        .where(a.record_id == record_id, blocks_against(ids.c.pro_id, ids.c.org_id))
        .exists()
        .label("blocked"),
        mine.exists().label("mine"),
        mine.where(valid).exists().label("authorized"),
        grants.where(a.organization_id.is_not(None), a.state == "authorized", valid)
        .exists()
        .label("org_valid"),
        select(m.Membership.care_team)
        .where(
            m.Membership.professional_id == ids.c.pro_id,
            m.Membership.organization_id == ids.c.org_id,
        )
        .scalar_subquery()
        .label("care_team"),
        select(m.TreatingDoctor.professional_id)
        .where(
            m.TreatingDoctor.record_id == record_id,
            m.TreatingDoctor.professional_id == ids.c.pro_id,
        )
        .exists()
        .label("treating"),
        select(m.EmergencyAccess.id)
        .where(
            m.EmergencyAccess.record_id == record_id,
            m.EmergencyAccess.professional_id == ids.c.pro_id,
            m.EmergencyAccess.expires_at > now,
        )
        .exists()
        .label("emergency"),
        _narrowing_of_reader(record_id).exists().label("narrowed"),
    ]


def _professional_facts(*, with_organization: bool) -> Select[Any]:
    ids, columns = professional_facts(
        with_organization=with_organization, record_id=bindparam("record_id", type_=Uuid())
    )
    return select(*columns).select_from(ids)


_FACTS = _professional_facts(with_organization=False)
_FACTS_WITH_ORGANIZATION = _professional_facts(with_organization=True)


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


def document_facts_of(
    doc: m.Document | None, *, actor: Actor, who: ActorOnRecord, matrix: AccessMatrix
) -> Facts | None:
    """``document_facts`` of ``doc``'s, None when there is no document."""
    return None if doc is None else document_facts(doc, actor=actor, who=who, matrix=matrix)[0]
