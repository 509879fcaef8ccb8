"""Helpers shared by the document search, update, history and export tests: records,
deposits, access grants written as the access services will write them, audit and outbox
readers, and a statement counter."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.audit.sequencer import sequence_all
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.documents import DocumentView
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.factories import OPERATOR, make_ins, make_professional, new_record, submission
from tests.record_scope import document_by_id, whole_database

HOSPITAL = "1" + "990000018"  # Struct_IdNat of a fictitious establishment (1 + FINESS)
OTHER_HOSPITAL = "1" + "990000026"
AUTHOR = make_professional(11, organization=HOSPITAL)  # doctor, author of the documents
COLLEAGUE = make_professional(12, organization=HOSPITAL)  # same establishment
DOCTOR = make_professional(13, organization=OTHER_HOSPITAL)  # another doctor
TREATING = make_professional(14)  # treating doctor (médecin traitant DMP)
PHARMACIST = make_professional(15, profession="21", specialty=None)
BLOCKED = make_professional(16)
STRANGER = make_professional(17)  # no access basis at all
CONTENT = b"%PDF-1.4 synthetic document for FICTIF Alex"


async def new_patient_record(ctx: ServiceContext, **overrides: object) -> Ins:
    ins = make_ins()
    await records.create_record(
        ctx, actor=OPERATOR, request=new_record(ins, ctx.now(), **overrides)
    )
    return ins


async def deposit(
    ctx: ServiceContext,
    ins: Ins,
    *,
    actor: Actor = AUTHOR,
    content: bytes = CONTENT,
    **overrides: object,
) -> DocumentView:
    return await documents.deposit_document(
        ctx, actor=actor, ins=ins, submission=submission(ctx.now(), content, **overrides)
    )


async def grant(
    ctx: ServiceContext,
    ins: Ins,
    professional: Professional,
    *,
    state: str = "authorized",
    expires_at: dt.datetime | None = None,
) -> None:
    """An authorisation (or a block) of ``professional`` on the record, by the patient."""
    now = ctx.now()
    async with ctx.sessions() as session, session.begin():
        _, record = await get_record(session, ins)
        pro = await ensure_professional(session, professional, now=now)
        if professional.organization:
            await ensure_organization(session, professional.organization, name=None, now=now)
        session.add(
            m.Authorization(
                id=uuid.uuid4(),
                record_id=record.id,
                professional_id=pro.id,
                organization_id=None,
                state=state,
                granted_by_kind="patient",
                granted_by_id=str(ins),
                granted_at=now,
                expires_at=expires_at or now + dt.timedelta(days=365),
                updated_at=now,
            )
        )


async def name_treating_doctor(ctx: ServiceContext, ins: Ins, professional: Professional) -> None:
    now = ctx.now()
    async with ctx.sessions() as session, session.begin():
        _, record = await get_record(session, ins)
        pro = await ensure_professional(session, professional, now=now)
        session.add(
            m.TreatingDoctor(
                record_id=record.id, professional_id=pro.id, since=now, named_by_kind="patient"
            )
        )


async def record_events(ctx: ServiceContext, ins: Ins) -> list[m.AuditEvent]:
    await sequence_all(ctx.sessions)  # what the worker does within a fraction of a second
    async with ctx.sessions() as session:
        _, record = await get_record(session, ins)
        query = (
            select(m.AuditEvent)
            .where(m.AuditEvent.record_id == record.id, m.AuditEvent.chain == str(record.id))
            .order_by(m.AuditEvent.seq)
        )
        return list((await session.execute(query)).scalars())


async def last_event(ctx: ServiceContext, ins: Ins) -> m.AuditEvent:
    return (await record_events(ctx, ins))[-1]


async def document_row(ctx: ServiceContext, document_id: uuid.UUID) -> m.Document:
    async with ctx.sessions() as session:
        doc = await document_by_id(session, document_id)
    assert doc is not None
    return doc


async def outbox_rows(ctx: ServiceContext, kind: str | None = None) -> list[m.Outbox]:
    async with ctx.sessions() as session:
        query = select(m.Outbox).order_by(m.Outbox.created_at)
        if kind is not None:
            query = query.where(m.Outbox.kind == kind)
        return list((await session.execute(query)).scalars())


async def document_counts(ctx: ServiceContext) -> tuple[int, int, int]:
    """(documents, submission sets, superseded documents)."""
    async with ctx.sessions() as session:
        docs = (
            await session.execute(whole_database(select(func.count()).select_from(m.Document)))
        ).scalar_one()
        sets = (
            await session.execute(whole_database(select(func.count()).select_from(m.SubmissionSet)))
        ).scalar_one()
        superseded = (
            await session.execute(
                whole_database(
                    select(func.count())
                    .select_from(m.Document)
                    .where(m.Document.status == "superseded")
                )
            )
        ).scalar_one()
    return docs, sets, superseded


@contextmanager
def counted_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def before(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
