"""What the access-management use cases share: finding the record through the gate, and
recording a failure that happens after the policy said yes.

``access``, ``emergency`` and ``representatives`` build on these two helpers so that every
request leaves exactly one trace: a refusal (the gate), a failure (``fail``) or the
success event of each decision taken.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.domain.actors import Actor
from opendmp.domain.errors import AccessDenied, InvalidInput, NotFound, OpenDMPError
from opendmp.domain.identifiers import Ins, parse_idnat_ps, parse_struct_idnat
from opendmp.domain.policy import Action, Facts, Reason
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit, require
from opendmp.services.core.records import ins_hash
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record
from opendmp.storage.uow import UnitOfWork


async def locate(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    ins: Ins,
    action: Action,
    audit_action: AuditAction,
    for_update: bool = False,
) -> tuple[m.Patient, m.Record]:
    """The patient and record of ``ins``; an unknown INS is a refusal, audited.

    The refusal goes to the system chain (there is no record chain) with a hash of the INS,
    never the INS itself, and surfaces as ``NotFound`` (``record-not-found``, 404) like
    ``records.get_record``. ``for_update`` locks the record row: the changes of one record
    are serialised, which keeps its authorisation rows unique without a database constraint
    (the unique constraint cannot see NULLs).
    """
    found = await find_record(uow.session, ins, for_update=for_update)
    if found is not None:
        return found
    try:
        await require(
            ctx,
            uow,
            actor=actor,
            action=action,
            facts=Facts(record_status=None),
            audit_action=audit_action,
            record_id=None,
            details={"ins_hash": ins_hash(ins)},
        )
    except AccessDenied as denied:
        raise NotFound("no record exists for this INS", code="record-not-found") from denied
    # Only CHECK_EXISTENCE and CREATE_RECORD are allowed without a record; their callers
    # do not come through here.
    raise NotFound("no record exists for this INS", code="record-not-found")


async def audit_allowed(
    ctx: ServiceContext,
    uow: UnitOfWork | AsyncSession,
    *,
    actor: Actor,
    action: AuditAction,
    record_id: uuid.UUID | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """The success event of an allowed decision, in the caller's transaction: its reason is
    the policy's ``allowed``, so that every decision's trace carries a reason."""
    await audit(
        ctx,
        uow,
        actor=actor,
        action=action,
        record_id=record_id,
        details=details,
        reason=Reason.ALLOWED,
    )


async def fail(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    audit_action: AuditAction,
    record_id: uuid.UUID,
    error: OpenDMPError,
) -> NoReturn:
    """Undo the request, trace it as an error (the policy allowed it, the data did not) and
    raise ``error``: e.g. removing a representative who is not there."""
    await uow.rollback()
    await audit(
        ctx,
        uow,
        actor=actor,
        action=audit_action,
        record_id=record_id,
        outcome=Outcome.ERROR,
        reason=error.code,
    )
    await uow.commit()
    raise error


@dataclass(frozen=True, slots=True)
class AccessTarget:
    """The professional or structure an authorisation row is about."""

    kind: str  # professional | organization
    idnat: str


def parse_target(professional_idnat: str | None, organization_idnat: str | None) -> AccessTarget:
    if (professional_idnat is None) == (organization_idnat is None):
        raise InvalidInput(
            "name either a professional (IdNat_PS) or a structure (Struct_IdNat)",
            code="invalid-access-target",
        )
    if professional_idnat is not None:
        return AccessTarget("professional", parse_idnat_ps(professional_idnat).idnat)
    assert organization_idnat is not None
    return AccessTarget("organization", parse_struct_idnat(organization_idnat).idnat)


async def authorization_rows(
    session: AsyncSession, record_id: uuid.UUID, kind: str, target_id: uuid.UUID
) -> list[m.Authorization]:
    """The record's authorisation rows of a professional or structure (``kind``): at most
    one block and one authorisation (authorised or revoked), see ``services.access``."""
    column = (
        m.Authorization.professional_id
        if kind == "professional"
        else m.Authorization.organization_id
    )
    rows = await session.execute(
        select(m.Authorization).where(m.Authorization.record_id == record_id, column == target_id)
    )
    return list(rows.scalars())
