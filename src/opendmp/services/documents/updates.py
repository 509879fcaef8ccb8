"""Metadata updates of a document (DMP TD3.3 = ITI-57; PDSm PATCH on ``securityLabel``,
``status`` and the ``isArchived`` extension).

Each change is one function per intention, asks the policy with its own ``Action``, and in
one transaction writes the row and its audit event. A change issues a new ``entry_uuid``
(XDS: every metadata version has its own entryUUID), ``version + 1`` (``meta.versionId``)
and ``updated_at``, and keeps the ``unique_id`` and the logical id. A refused change leaves
the row untouched (the gate rolls back and commits only the refusal's audit event). Asking
for the state the document is already in is not a new version: the call is audited with
``changed: false`` and returns the document as it is.

Order of checks: record → policy (record-level, then author/patient rules, deletion last)
→ service-level restrictions the policy does not express (see ``set_visibility``). A
refused caller who may not see the document gets the answer of an unknown id (404
``document-not-found``, ``gate.require_on_document``); one who sees it gets the policy's
403 with its reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import update

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.domain.actors import Actor, LegalRepresentative, Patient
from opendmp.domain.errors import AccessDenied, Conflict, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.services.core.guarded import guarded
from opendmp.services.documents.views import DocumentView, document_view
from opendmp.storage import models as m

__all__ = ["archive_document", "delete_document", "mask_document", "set_visibility"]


async def _change(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    document_id: uuid.UUID,
    action: Action,
    audit_action: AuditAction,
    values: Mapping[str, Any],
    patient_may_change: frozenset[str] | None = None,
) -> DocumentView:
    """Apply ``values`` (column -> new value) as a new metadata version, if allowed.

    ``patient_may_change``: when set, the columns a patient or representative may change
    under ``action`` (others are refused with ``actor-not-permitted``, audited).
    """
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=action,
        audit_action=audit_action,
        for_update=True,
        include_superseded=True,
        document_id=document_id,
    ) as g:
        uow, session, record, doc, now = g.uow, g.session, g.record, g.document, g.now
        assert doc is not None
        if patient_may_change is not None and isinstance(actor, Patient | LegalRepresentative):
            forbidden = set(values) - patient_may_change
            if forbidden:
                # §3.5: INVISIBLE_PATIENT is the author's to set; the policy allows the
                # patient SET_VISIBILITY for INVISIBLE_REPRESENTANTS_LEGAUX only.
                record_id, doc_id = record.id, doc.id  # the rollback expires the rows
                await uow.rollback()
                await audit(
                    ctx,
                    uow,
                    actor=actor,
                    action=audit_action,
                    record_id=record_id,
                    target_document_id=doc_id,
                    outcome=Outcome.DENIED,
                    reason="actor-not-permitted",
                )
                await uow.commit()
                raise AccessDenied(
                    "only the author may change this visibility", code="actor-not-permitted"
                )
        changed = {k: v for k, v in values.items() if getattr(doc, k) != v}
        view = document_view(doc)  # taken before the UPDATE refreshes ``doc`` in the session
        if changed:
            entry_uuid, version = f"urn:uuid:{uuid.uuid4()}", view.version + 1
            result = await session.execute(
                update(m.Document)
                .where(
                    m.Document.record_id == record.id,
                    m.Document.id == doc.id,
                    m.Document.version == view.version,
                )
                .values(**changed, entry_uuid=entry_uuid, version=version, updated_at=now)
            )
            if getattr(result, "rowcount", 1) != 1:  # the record lock makes this a bug
                raise Conflict("the document changed meanwhile", code="concurrent-update")
            view = replace(view, **changed, entry_uuid=entry_uuid, version=version, updated_at=now)
        await g.audit(
            audit_action,
            {
                **{k: v for k, v in values.items() if isinstance(v, bool | str)},
                "changed": bool(changed),
                "version": view.version,
            },
        )
        await uow.commit()
        return view


async def mask_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID, masked: bool
) -> DocumentView:
    """Set or clear ``MASQUE_PS`` (TD3.3a): the patient, or a professional at their request."""
    return await _change(
        ctx,
        actor=actor,
        ins=ins,
        document_id=document_id,
        action=Action.MASK_DOCUMENT,
        audit_action=AuditAction.DOCUMENT_MASK,
        values={"masked_by_patient": masked},
    )


async def set_visibility(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    document_id: uuid.UUID,
    invisible_to_patient: bool | None = None,
    invisible_to_representatives: bool | None = None,
) -> DocumentView:
    """Set ``INVISIBLE_PATIENT`` / ``INVISIBLE_REPRESENTANTS_LEGAUX`` (TD3.3b); None = keep.

    The author (or the author's structure) sets both; the patient only the second one (a
    minor's secret is theirs to keep); a legal representative neither (policy).
    """
    values: dict[str, Any] = {}
    if invisible_to_patient is not None:
        values["invisible_to_patient"] = invisible_to_patient
    if invisible_to_representatives is not None:
        values["invisible_to_representatives"] = invisible_to_representatives
    if not values:
        raise InvalidInput("nothing to change", code="invalid-update")
    return await _change(
        ctx,
        actor=actor,
        ins=ins,
        document_id=document_id,
        action=Action.SET_VISIBILITY,
        audit_action=AuditAction.DOCUMENT_SET_VISIBILITY,
        values=values,
        patient_may_change=frozenset({"invisible_to_representatives"}),
    )


async def archive_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID, archived: bool
) -> DocumentView:
    """Archive or unarchive (TD3.3d, PDSm ``isArchived``): the author only."""
    return await _change(
        ctx,
        actor=actor,
        ins=ins,
        document_id=document_id,
        action=Action.ARCHIVE_DOCUMENT,
        audit_action=AuditAction.DOCUMENT_ARCHIVE,
        values={"archived": archived},
    )


async def delete_document(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, document_id: uuid.UUID
) -> DocumentView:
    """Logical delete (TD3.3c): status ``deleted``; the author only, the patient only their
    own uploads (``not-own-document``). The blob stays until the record is destroyed; reads
    then answer 410 ``document-deleted``."""
    return await _change(
        ctx,
        actor=actor,
        ins=ins,
        document_id=document_id,
        action=Action.DELETE_DOCUMENT,
        audit_action=AuditAction.DOCUMENT_DELETE,
        values={"status": "deleted", "deleted_at": ctx.now()},
    )
