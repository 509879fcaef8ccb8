"""The patient removes authorisations and blocks or unblocks a professional or a structure
(docs/rules.md §3.1.2, §3.3). See ``services.access`` for how the states are stored.

The three are idempotent: acting again changes nothing, returns False and is still traced
(``"changed": false``), as every decision is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.access.common import AccessTarget, authorization_rows, parse_target
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.storage import models as m

AUTHORIZED, BLOCKED, REVOKED = "authorized", "blocked", "revoked"
# By the kind of target (``AccessTarget.kind``).
_BLOCK = {
    "professional": AuditAction.PROFESSIONAL_BLOCK,
    "organization": AuditAction.ORGANIZATION_BLOCK,
}
_UNBLOCK = {
    "professional": AuditAction.PROFESSIONAL_UNBLOCK,
    "organization": AuditAction.ORGANIZATION_UNBLOCK,
}


async def _target_id(
    session: AsyncSession, target: AccessTarget, *, create: bool, now: dt.datetime
) -> uuid.UUID | None:
    if target.kind == "organization":
        if create:
            return (await ensure_organization(session, target.idnat, name=None, now=now)).id
        found = select(m.Organization.id).where(m.Organization.struct_idnat == target.idnat)
    else:
        if create:
            # Blocking someone never seen: the directory row starts from the IdNat alone.
            unknown = Professional(idnat=target.idnat, profession=None)
            return (await ensure_professional(session, unknown, now=now)).id
        found = select(m.Professional.id).where(m.Professional.idnat == target.idnat)
    return (await session.execute(found)).scalar_one_or_none()


async def revoke_authorization(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    professional_idnat: str | None = None,
    organization_idnat: str | None = None,
) -> bool:
    """The patient removes an authorisation; True when there was one to remove.

    Revoking under a block clears the authorisation beneath it: unblocking will not bring it
    back.
    """
    target = parse_target(professional_idnat, organization_idnat)
    return await _change(
        ctx,
        actor,
        ins,
        target,
        AuditAction.AUTHORIZATION_REVOKE,
        Action.MANAGE_AUTHORIZATIONS,
        _revoke,
    )


async def block(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    professional_idnat: str | None = None,
    organization_idnat: str | None = None,
) -> bool:
    """The patient blocks a professional or a structure (§3.1.2: over any authorisation,
    treating doctor and emergency included); True when it was not blocked yet."""
    target = parse_target(professional_idnat, organization_idnat)
    return await _change(ctx, actor, ins, target, _BLOCK[target.kind], Action.BLOCK, _block)


async def unblock(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    professional_idnat: str | None = None,
    organization_idnat: str | None = None,
) -> bool:
    """The patient lifts a block; what was authorised before comes back, with its date."""
    target = parse_target(professional_idnat, organization_idnat)
    action = _UNBLOCK[target.kind]
    return await _change(ctx, actor, ins, target, action, Action.BLOCK, _unblock)


class _Apply(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        record_id: uuid.UUID,
        target: AccessTarget,
        target_id: uuid.UUID | None,
        now: dt.datetime,
    ) -> bool: ...


async def _change(
    ctx: ServiceContext,
    actor: Actor,
    ins: Ins,
    target: AccessTarget,
    audit_action: AuditAction,
    action: Action,
    apply: _Apply,
) -> bool:
    details = {target.kind: target.idnat}
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=action,
        audit_action=audit_action,
        for_update=True,
        audit_unknown_record=True,
        details=details,
    ) as g:
        target_id = await _target_id(g.session, target, create=apply is _block, now=g.now)
        changed = await apply(g.session, g.record.id, target, target_id, g.now)
        await g.audit_allowed(audit_action, {**details, "changed": changed})
        await g.uow.commit()
        return changed


async def _revoke(
    session: AsyncSession,
    record_id: uuid.UUID,
    target: AccessTarget,
    target_id: uuid.UUID | None,
    now: dt.datetime,
) -> bool:
    # Under a block too: the block stays, and unblocking will not bring the grant back.
    changed = False
    if target_id is not None:
        for row in await authorization_rows(session, record_id, target.kind, target_id):
            if row.state == AUTHORIZED:
                row.state, row.expires_at, row.updated_at = REVOKED, now, now
                changed = True
    return changed


async def _block(
    session: AsyncSession,
    record_id: uuid.UUID,
    target: AccessTarget,
    target_id: uuid.UUID | None,
    now: dt.datetime,
) -> bool:
    assert target_id is not None  # created on first sight
    rows = await authorization_rows(session, record_id, target.kind, target_id)
    if any(r.state == BLOCKED for r in rows):
        return False
    # Beside the authorisation, if any, which is kept for the unblocking.
    await session.execute(
        insert(m.Authorization).values(
            id=uuid.uuid4(),
            record_id=record_id,
            professional_id=target_id if target.kind == "professional" else None,
            organization_id=target_id if target.kind == "organization" else None,
            state=BLOCKED,
            granted_by_kind="patient",
            granted_by_id="",
            granted_at=now,
            expires_at=None,
            updated_at=now,
        )
    )
    return True


async def _unblock(
    session: AsyncSession,
    record_id: uuid.UUID,
    target: AccessTarget,
    target_id: uuid.UUID | None,
    now: dt.datetime,
) -> bool:
    if target_id is None:
        return False
    rows = await authorization_rows(session, record_id, target.kind, target_id)
    blocks = [r.id for r in rows if r.state == BLOCKED]
    if blocks:
        await session.execute(
            delete(m.Authorization).where(
                m.Authorization.record_id == record_id, m.Authorization.id.in_(blocks)
            )
        )
    return bool(blocks)
