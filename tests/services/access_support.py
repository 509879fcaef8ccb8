"""Helpers of the access-management tests: actors, records, and a snapshot of everything the
access services may change (to prove that a refusal changed nothing)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import func, insert, select, update

from opendmp.domain.actors import AccessMode, CardKind, Professional
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import RecordStatus
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.operations.maintenance import verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.factories import OPERATOR, make_ins, make_professional, new_record
from tests.record_scope import whole_database

ORG = "1750100125"  # Struct_IdNat: 1 + FINESS (synthetic, valid key)
PATIENT_EMAIL = "alex.fictif@example.org"
# A justification a message must never carry (it may describe the patient's condition).
SECRET = "JUSTIFICATION-CONFIDENTIELLE coma"

DOCTOR = make_professional(101, organization=ORG)
OTHER_DOCTOR = make_professional(102, organization=ORG)
COLLEAGUE = make_professional(103, profession="60", specialty=None, organization=ORG)
NURSE = make_professional(104, profession="60", specialty=None)
CPE = make_professional(105, card_kind=CardKind.CPE, organization=ORG)
STRANGER = make_professional(106)
BREAK_GLASS = dataclasses.replace(
    make_professional(107, organization=ORG),
    access_mode=AccessMode.BREAK_GLASS,
    justification=SECRET,
)
SAMU = dataclasses.replace(make_professional(108), access_mode=AccessMode.REGULATION)


async def create(ctx: ServiceContext, **overrides: object) -> Ins:
    ins = make_ins()
    request = new_record(ins, ctx.now(), **overrides)
    await records.create_record(ctx, actor=OPERATOR, request=request)
    return ins


async def record_row(ctx: ServiceContext, ins: Ins) -> m.Record:
    async with ctx.sessions() as session:
        return (await get_record(session, ins))[1]


async def register(ctx: ServiceContext, pro: Professional, *, email: str | None = None) -> None:
    """A professional known to the directory (as after a first sign-in), with an e-mail."""
    async with ctx.sessions() as session, session.begin():
        await ensure_professional(session, pro, now=ctx.now())
        if email is not None:
            await session.execute(
                update(m.Professional).where(m.Professional.idnat == pro.idnat).values(email=email)
            )


async def authorise_care_team(ctx: ServiceContext, ins: Ins, member: Professional) -> None:
    """The member's structure is authorised on the record and the member is in its care
    team (no service grants a structure yet: the rows are written as a migration would)."""
    assert member.organization is not None
    record = await record_row(ctx, ins)
    async with ctx.sessions() as session, session.begin():
        pro = await ensure_professional(session, member, now=ctx.now())
        org = await ensure_organization(
            session, member.organization, name="CH Fictif", now=ctx.now()
        )
        member_of = await session.get(m.Membership, (pro.id, org.id))
        if member_of is None:
            session.add(
                m.Membership(professional_id=pro.id, organization_id=org.id, care_team=True)
            )
        await session.execute(
            insert(m.Authorization).values(
                id=uuid.uuid4(),
                record_id=record.id,
                professional_id=None,
                organization_id=org.id,
                state="authorized",
                granted_by_kind="patient",
                granted_by_id=str(ins),
                granted_at=ctx.now(),
                expires_at=None,
                updated_at=ctx.now(),
            )
        )


async def close(ctx: ServiceContext, ins: Ins) -> None:
    from opendmp.domain.records import ClosureReason

    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    assert (await record_row(ctx, ins)).status == RecordStatus.CLOSED


# --- what the services may change ------------------------------------------------------------

_WATCHED: tuple[type[m.Base], ...] = (
    m.Authorization,
    m.TreatingDoctor,
    m.EmergencyAccess,
    m.Representative,
    m.Delegation,
    m.Outbox,
    m.Professional,
    m.Organization,
    m.Membership,
    m.Record,
)


def _as_tuple(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, c.key) for c in row.__table__.columns)


async def snapshot(ctx: ServiceContext) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with ctx.sessions() as session:
        for model in _WATCHED:
            rows = (await session.execute(whole_database(select(model)))).scalars().all()
            found[model.__tablename__] = sorted((_as_tuple(r) for r in rows), key=repr)
    return found


async def last_event_id(ctx: ServiceContext) -> int:
    async with ctx.sessions() as session:
        latest = whole_database(select(func.max(m.AuditEvent.id)))
        return int((await session.execute(latest)).scalar() or 0)


async def events_after(ctx: ServiceContext, event_id: int) -> list[m.AuditEvent]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            whole_database(
                select(m.AuditEvent).where(m.AuditEvent.id > event_id).order_by(m.AuditEvent.id)
            )
        )
        return list(rows.scalars())


async def outbox(ctx: ServiceContext) -> list[m.Outbox]:
    async with ctx.sessions() as session:
        rows = await session.execute(select(m.Outbox).order_by(m.Outbox.recipient))
        return list(rows.scalars())


async def assert_chains_verify(ctx: ServiceContext) -> None:
    reports = await verify_audit(ctx)
    assert reports
    assert all(r.ok for r in reports), reports
