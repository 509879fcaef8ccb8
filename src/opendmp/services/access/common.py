"""What the access-management use cases share beyond ``core.guarded`` (which finds the
record, asks the policy and traces a refusal or, with ``Guarded.fail``, a failure after the
policy said yes): the success event of an allowed decision, and the authorisation rows.

Every request leaves exactly one trace: a refusal, a failure or the success event of each
decision taken.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import parse_idnat_ps, parse_struct_idnat
from opendmp.domain.policy import Reason
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.storage import models as m
from opendmp.storage.uow import UnitOfWork


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
