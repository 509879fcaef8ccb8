"""Legal representatives of a minor (DMP-RULES §2): recorded by the patient's side or by an
operator on documentary evidence; never by a representative (the policy says so)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert

from opendmp.domain.actors import Actor
from opendmp.domain.codes import REPRESENTATIVE_RELATIONS
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.access_common import audit_allowed, fail, locate
from opendmp.services.context import ServiceContext
from opendmp.services.facts import actor_on_record
from opendmp.services.gate import require
from opendmp.storage import models as m

ADD = "access:representative:add"
REMOVE = "access:representative:remove"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class RepresentativeView:
    id: uuid.UUID
    record_id: uuid.UUID
    relation: str
    family_name: str
    given_name: str
    email: str | None
    created_at: dt.datetime


def _validate(relation: str, family_name: str, given_name: str, email: str | None) -> None:
    problems = []
    if relation not in REPRESENTATIVE_RELATIONS:
        known = ", ".join(REPRESENTATIVE_RELATIONS)
        problems.append(f"relation {relation!r} is not known (expected one of {known})")
    if not family_name.strip() or not given_name.strip():
        problems.append("the family name and the given name are required")
    if len(family_name) > 128 or len(given_name) > 128:
        problems.append("names are at most 128 characters")
    if email is not None and (len(email) > 255 or not _EMAIL.match(email)):
        problems.append("the e-mail address is not valid")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-representative")


async def add_representative(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    relation: str,
    family_name: str,
    given_name: str,
    email: str | None = None,
) -> RepresentativeView:
    relation = relation.strip().upper()
    _validate(relation, family_name, given_name, email)
    now = ctx.now()
    async with ctx.uow() as uow:
        session = uow.session
        patient, record = await locate(
            ctx,
            uow,
            actor=actor,
            ins=ins,
            action=Action.MANAGE_REPRESENTATIVES,
            audit_action=ADD,
            for_update=True,
        )
        who = await actor_on_record(session, actor=actor, patient=patient, record=record, now=now)
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.MANAGE_REPRESENTATIVES,
            facts=who.facts,
            audit_action=ADD,
            record_id=record.id,
            details={"relation": relation},
        )
        view = RepresentativeView(
            id=uuid.uuid4(),
            record_id=record.id,
            relation=relation,
            family_name=family_name.strip().upper(),
            given_name=given_name.strip(),
            email=email,
            created_at=now,
        )
        await session.execute(
            insert(m.Representative).values(
                id=view.id,
                record_id=record.id,
                relation=view.relation,
                family_name=view.family_name,
                given_name=view.given_name,
                email=view.email,
                account_id=None,
                created_at=now,
            )
        )
        # Names stay out of the trace (it is kept with the record, names are in the row).
        await audit_allowed(
            ctx,
            uow,
            actor=actor,
            action=ADD,
            record_id=record.id,
            details={"representative": str(view.id), "relation": relation},
        )
        await uow.commit()
        return view


async def remove_representative(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, representative_id: uuid.UUID
) -> None:
    async with ctx.uow() as uow:
        session = uow.session
        patient, record = await locate(
            ctx,
            uow,
            actor=actor,
            ins=ins,
            action=Action.MANAGE_REPRESENTATIVES,
            audit_action=REMOVE,
            for_update=True,
        )
        who = await actor_on_record(
            session, actor=actor, patient=patient, record=record, now=ctx.now()
        )
        details = {"representative": str(representative_id)}
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.MANAGE_REPRESENTATIVES,
            facts=who.facts,
            audit_action=REMOVE,
            record_id=record.id,
            details=details,
        )
        result = await session.execute(
            delete(m.Representative).where(
                m.Representative.record_id == record.id, m.Representative.id == representative_id
            )
        )
        if not getattr(result, "rowcount", 0):
            error = NotFound("no such representative", code="representative-not-found")
            await fail(ctx, uow, actor=actor, audit_action=REMOVE, record_id=record.id, error=error)
        await audit_allowed(
            ctx, uow, actor=actor, action=REMOVE, record_id=record.id, details=details
        )
        await uow.commit()
