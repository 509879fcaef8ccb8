"""The one gate: ask the policy, audit the answer, raise on refusal.

A refusal is audited and committed on its own (the refusal is the only change a refused
request leaves behind), then ``AccessDenied`` carries the policy's reason code.

On one document (``require_on_document``), a caller who may not see the document gets the
very answer an unknown id gets (404 ``document-not-found``): "does not exist" and "exists
but not for you" are told apart only in the audit trail (docs/security.md, "Existence").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import NewEvent, Outcome, append
from opendmp.domain.actors import Actor
from opendmp.domain.errors import AccessDenied, Gone, NotFound
from opendmp.domain.policy import (
    Action,
    Decision,
    Facts,
    Reason,
    decide,
    may_know_of_document,
)
from opendmp.services.core.context import ServiceContext
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
    "no-live-delegation": "no delegation of this patient lets you act now",
    "right-not-delegated": "the patient did not give you this right",
    "no-open-invitation": "this invitation is unknown, answered or expired",
    "own-record-invitation": "you cannot accept an invitation to your own record",
}


async def require(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    action: Action,
    facts: Facts,
    audit_action: AuditAction,
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
    raise AccessDenied(_message(decision.reason), code=decision.reason)


def _message(reason: str) -> str:
    return _MESSAGES.get(reason, "access refused")


class RecordRefused(AccessDenied):
    """A refusal that a request about any document of this record, existing or not, gets
    (the record's rules refuse the caller). Where the caller did not name the record (a
    document addressed by its id alone), the API answers it as an unknown id."""


def document_not_found() -> NotFound:
    """The one answer for a document that does not exist *for this caller*."""
    return NotFound("no such document in this record", code="document-not-found")


async def seen_or_audited(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    facts: Facts,
    audit_action: AuditAction,
    record_id: uuid.UUID,
    document_id: uuid.UUID,
) -> bool:
    """True when ``actor`` may know of this document; else the refusal is audited (with the
    reason they may not read it) and False tells the caller to answer as for an unknown
    document (e.g. a replacement naming it: ``unresolved-reference``)."""
    if may_know_of_document(actor, facts):
        return True
    try:
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.READ_DOCUMENT,
            facts=replace(facts, include_superseded=True),
            audit_action=audit_action,
            record_id=record_id,
            target_document_id=document_id,
        )
    except AccessDenied:
        return False
    return True


async def require_on_document(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    actor: Actor,
    action: Action,
    record_facts: Facts,
    facts: Facts | None,
    audit_action: AuditAction,
    record_id: uuid.UUID,
    document_id: uuid.UUID | None,
) -> Decision:
    """``require`` for ``action`` on one document of the record, without telling a caller
    who may not know of it that it exists (``policy.may_know_of_document``;
    docs/security.md, "Existence").

    ``facts`` are the document's, None when the record has no such document (the caller
    then raises ``document_not_found`` when this allows). A refusal is audited with its
    true reason, then answered as a document that does not exist would be: with the
    record-level refusal (``RecordRefused``, the same for every id) when the record's rules
    refuse the caller, else ``document_not_found``. Only a caller who may know of the
    document gets the policy's own 403 for it, and 410 ``document-deleted`` only one who could
    have read it but for the deletion.
    """
    try:
        return await require(
            ctx,
            uow,
            actor=actor,
            action=action,
            facts=record_facts if facts is None else facts,
            audit_action=audit_action,
            record_id=record_id,
            target_document_id=document_id,
        )
    except AccessDenied as refused:
        if facts is not None:
            if refused.code == Reason.DOCUMENT_DELETED:
                raise Gone("this document was deleted", code="document-deleted") from None
            if may_know_of_document(actor, facts):
                raise
        verdict = decide(actor, action, record_facts)  # what an unknown id gets
        if not verdict.allowed:
            raise RecordRefused(_message(verdict.reason), code=verdict.reason) from None
        raise document_not_found() from None


async def audit(
    ctx: ServiceContext,
    uow: UnitOfWork | AsyncSession,
    *,
    actor: Actor,
    action: AuditAction,
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
