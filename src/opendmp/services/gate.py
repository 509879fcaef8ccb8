"""The one gate: ask the policy, audit the answer, raise on refusal.

A refusal is audited and committed on its own (the refusal is the only change a refused
request leaves behind), then ``AccessDenied`` carries the policy's reason code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.writer import NewEvent, Outcome, append
from opendmp.domain.actors import Actor
from opendmp.domain.errors import AccessDenied
from opendmp.domain.policy import Action, Decision, Facts, decide
from opendmp.services.context import ServiceContext
from opendmp.storage.uow import UnitOfWork

_MESSAGES = {
    "record-closed": "the record is closed",
    "record-destroyed": "the record was destroyed",
    "not-own-record": "this is not your record",
    "actor-not-permitted": "you may not do this",
    "cpe-never-reads": "establishment staff cards (CPE) never read documents",
    "blocked-by-patient": "the patient has blocked this access",
    "not-authorized": "you are not authorised on this record",
    "record-not-found": "no record exists for this INS",
    "authorization-expired": "your authorisation on this record has expired",
    "justification-required": "an emergency access needs a written justification",
    "emergency-opposed-by-patient": "the patient refused this kind of emergency access",
    "emergency-mode-required": "open an emergency access in break-glass or regulation mode",
    "type-not-allowed-for-profession": "your profession may not read this type of document",
    "masked-by-patient": "the patient has masked this document",
    "document-superseded": "this version was replaced",
    "document-deleted": "this document was deleted",
    "invisible-to-patient": "this document is not yet visible to the patient",
    "invisible-to-representatives": "this document is not visible to legal representatives",
    "not-author": "only the author or the author's organisation may do this",
    "not-own-document": "the patient may only delete the documents they added",
    "not-a-doctor": "only a doctor can be a treating doctor",
    "target-blocked-by-patient": "the patient has blocked this professional",
}


async def require(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    action: Action,
    facts: Facts,
    audit_action: str,
    record_id: uuid.UUID | None,
    target_document_id: uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> Decision:
    decision = decide(actor, action, facts)
    if decision.allowed:
        return decision
    await uow.rollback()
    await append(
        uow.session,
        NewEvent(
            action=audit_action,
            actor=actor,
            time=ctx.now(),
            record_id=record_id,
            outcome=Outcome.DENIED,
            reason=decision.reason,
            target_document_id=target_document_id,
            details=details or {},
        ),
    )
    await uow.commit()
    raise AccessDenied(_MESSAGES.get(decision.reason, "access refused"), code=decision.reason)


async def audit(
    ctx: ServiceContext,
    uow: UnitOfWork | AsyncSession,
    *,
    actor: Actor,
    action: str,
    record_id: uuid.UUID | None,
    target_document_id: uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
    outcome: str = Outcome.SUCCESS,
    reason: str | None = None,
    client_address: str | None = None,
) -> None:
    """Record an action in the caller's transaction (a success unless ``outcome`` says not).

    ``uow`` may also be a bare session, for use cases that run inside another one's
    transaction (e.g. an account created with its record).
    """
    session = uow.session if isinstance(uow, UnitOfWork) else uow
    await append(
        session,
        NewEvent(
            action=action,
            actor=actor,
            time=ctx.now(),
            record_id=record_id,
            outcome=outcome,
            reason=reason,
            target_document_id=target_document_id,
            client_address=client_address,
            details=details or {},
        ),
    )
