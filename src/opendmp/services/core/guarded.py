"""The opening every record-scoped use case shares (docs/architecture.md §5).

``guarded`` opens the unit of work, finds the record (its row locked when the use case
writes), gathers the facts (``facts.actor_on_record``, completed with the settings that
shape them: ``AccessRules.blocked_may_deposit``) and asks the policy through the gate, which
audits and commits a refusal. The body runs only when the policy said yes::

    async with guarded(ctx, actor=actor, ins=ins, action=Action.CLOSE,
                       audit_action=AuditAction.RECORD_CLOSE, for_update=True) as g:
        ...  # g.uow, g.session, g.patient, g.record, g.facts, g.decision
        await g.uow.commit()

The transaction is the caller's to commit, as before: leaving the block without
``commit()`` rolls back. On one document (``document_id``) the gate's
``require_on_document`` answers, so that a caller who may not know of the document gets the
answer an unknown id gets (docs/security.md, "Existence").

A consultation (``audited_read`` without ``for_update``) finds the record, its patient, the
facts and the document in one statement, as transient entities outside the session
(services/core/opening.py): its body reads them and never changes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, NoReturn, TypedDict, Unpack

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.domain.actors import AccessMode, Actor
from opendmp.domain.errors import AccessDenied, NotFound, OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Decision, Facts, Reason
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.facts import ActorOnRecord, actor_on_record, document_facts_of
from opendmp.services.core.gate import audit, document_not_found, require, require_on_document
from opendmp.services.core.opening import Opening, open_for_read
from opendmp.services.core.records import ins_hash
from opendmp.storage import models as m
from opendmp.storage.document_filter import readable_documents
from opendmp.storage.repositories import find_document, find_record
from opendmp.storage.uow import UnitOfWork

# A step run on the record found, before the policy is asked: it completes the facts (e.g.
# whether the professional named is blocked) or refuses the input as the service did before
# asking (e.g. a paging cursor of another record).
Prepare = Callable[[AsyncSession, m.Record, Facts], Awaitable[Facts]]


class GuardOptions(TypedDict, total=False):
    """How ``guarded`` opens a use case; every option off by default."""

    for_update: bool  # lock the record row: the changes of one record are serialised
    read_only: bool  # a unit of work that never writes (``ctx.uow(read_only=True)``)
    # A consultation, whose only writes are its audit event and notification: on SQLite
    # they wait for the commit instead of holding the write lock through the reads
    # (``ctx.uow(deferred_writes=True)``, storage/uow.py). Not in an emergency mode, whose
    # access opening writes in the transaction. Its record, patient and document are
    # read in one statement, never to be changed (``_open``).
    audited_read: bool
    details: Mapping[str, Any]  # on the refusal's audit event
    # An unknown INS is a refusal audited in the system chain (with a hash of the INS, never
    # the INS itself), then 404 ``record-not-found``; without it, the 404 alone.
    audit_unknown_record: bool
    include_superseded: bool  # facts that let superseded versions be read
    prepare: Prepare
    # The policy is asked only when this holds of the record (closing a closed record is a
    # lifecycle error, not an access refusal).
    ask_when: Callable[[m.Record], bool]
    document_id: uuid.UUID  # the use case acts on this document of the record
    uow: UnitOfWork | None  # run in the caller's unit of work (it commits and closes it)


@dataclass(slots=True)
class Guarded:
    """What the body of a guarded use case works with."""

    ctx: ServiceContext
    uow: UnitOfWork
    actor: Actor
    patient: m.Patient
    record: m.Record
    who: ActorOnRecord
    facts: Facts  # as the policy was asked (``prepare`` included)
    now: dt.datetime
    decision: Decision | None = None  # None when ``ask_when`` said not to ask
    document: m.Document | None = None  # with ``document_id``: the document, found

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    def readable_documents(self) -> ColumnElement[bool]:
        """The policy's SQL filter: the record's documents this actor may read."""
        return readable_documents(
            record_id=self.record.id,
            actor=self.actor,
            facts=self.who.facts,
            matrix=self.ctx.matrix,
            actor_professional_id=self.who.professional_id,
            actor_organization_id=self.who.organization_id,
        )

    async def require(
        self,
        action: Action,
        audit_action: AuditAction,
        *,
        facts: Facts,
        details: Mapping[str, Any] | None = None,
        target_document_id: uuid.UUID | None = None,
    ) -> Decision:
        """A further decision on the same record (e.g. naming oneself treating doctor while
        declaring an authorisation, replacing a document while depositing), through the
        gate."""
        return await require(
            self.ctx,
            self.uow,
            actor=self.actor,
            action=action,
            facts=facts,
            audit_action=audit_action,
            record_id=self.record.id,
            target_document_id=target_document_id,
            details=details,
        )

    async def audit(
        self, audit_action: AuditAction, details: Mapping[str, Any] | None = None
    ) -> None:
        """The success event of the use case, in its transaction."""
        await audit(
            self.ctx,
            self.uow,
            actor=self.actor,
            action=audit_action,
            record_id=self.record.id,
            target_document_id=None if self.document is None else self.document.id,
            details=details,
        )

    async def audit_allowed(
        self, audit_action: AuditAction, details: Mapping[str, Any] | None = None
    ) -> None:
        """The success event carrying the policy's ``allowed`` reason (the access services:
        every decision's trace carries a reason)."""
        await audit(
            self.ctx,
            self.uow,
            actor=self.actor,
            action=audit_action,
            record_id=self.record.id,
            details=details,
            reason=Reason.ALLOWED,
        )

    async def fail(self, audit_action: AuditAction, error: OpenDMPError) -> NoReturn:
        """Undo the request, trace it as an error (the policy allowed it, the data did not:
        e.g. removing a representative who is not there), commit the trace, raise ``error``."""
        record_id = self.record.id  # the rollback expires the row
        await self.uow.rollback()
        await audit(
            self.ctx,
            self.uow,
            actor=self.actor,
            action=audit_action,
            record_id=record_id,
            outcome=Outcome.ERROR,
            reason=error.code,
        )
        await self.uow.commit()
        raise error


@asynccontextmanager
async def guarded(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    action: Action,
    audit_action: AuditAction,
    **options: Unpack[GuardOptions],
) -> AsyncIterator[Guarded]:
    """Open a record-scoped use case: see the module docstring."""
    async with _unit_of_work(ctx, actor, options) as uow:
        now = ctx.now()
        opened = await _open(ctx, uow, actor, ins, now, options)
        if opened is None:
            if options.get("audit_unknown_record", False):
                await _refuse_unknown(ctx, uow, actor, ins, action, audit_action)
            raise NotFound("no record exists for this INS", code="record-not-found")
        patient, record, who = opened.patient, opened.record, opened.who
        facts = who.facts
        prepare = options.get("prepare")
        if prepare is not None:
            facts = await prepare(uow.session, record, facts)
        g = Guarded(ctx, uow, actor, patient, record, who, facts, now)
        if "document_id" in options:
            await _ask_on_document(g, action, audit_action, opened.document)
        elif options.get("ask_when", _always)(record):
            g.decision = await g.require(
                action, audit_action, facts=facts, details=options.get("details")
            )
        yield g


async def _open(
    ctx: ServiceContext,
    uow: UnitOfWork,
    actor: Actor,
    ins: Ins,
    now: dt.datetime,
    options: GuardOptions,
) -> Opening | None:
    """The record, its patient, the actor's facts (completed with the settings, as in
    ``facts_on_record``) and the document named. A consultation reads them in one statement
    as transient entities (services/core/opening.py); every other use case loads the
    entities into its session (its writes flush them), then the facts and the document."""
    include_superseded = options.get("include_superseded", False)
    document_id = options.get("document_id")
    if options.get("audited_read", False) and not options.get("for_update", False):
        opened = await open_for_read(
            uow.session,
            ins=ins,
            actor=actor,
            now=now,
            include_superseded=include_superseded,
            document_id=document_id,
        )
        if opened is None:
            return None
        return replace(opened, who=_with_settings(ctx, opened.who))
    found = await find_record(uow.session, ins, for_update=options.get("for_update", False))
    if found is None:
        return None
    who = await facts_on_record(
        ctx, uow.session, actor=actor, found=found, now=now, include_superseded=include_superseded
    )
    document = None
    if document_id is not None:
        document = await find_document(uow.session, found[1].id, document_id)
    return Opening(found[0], found[1], who, document)


async def facts_on_record(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    actor: Actor,
    found: tuple[m.Patient, m.Record],
    now: dt.datetime,
    include_superseded: bool = False,
) -> ActorOnRecord:
    """``facts.actor_on_record`` completed with the settings that shape the facts, read here
    and nowhere else (``AccessRules.blocked_may_deposit``: docs/rules.md §3.2). For a look
    that asks ``decide`` without the gate (the deposit's read-only look ahead)."""
    patient, record = found
    who = await actor_on_record(
        session,
        actor=actor,
        patient=patient,
        record=record,
        now=now,
        include_superseded=include_superseded,
    )
    return _with_settings(ctx, who)


def _with_settings(ctx: ServiceContext, who: ActorOnRecord) -> ActorOnRecord:
    facts = replace(who.facts, blocked_may_deposit=ctx.access.blocked_may_deposit)
    return replace(who, facts=facts)


def _unit_of_work(
    ctx: ServiceContext, actor: Actor, options: GuardOptions
) -> AbstractAsyncContextManager[UnitOfWork]:
    outer = options.get("uow")
    if outer is not None:
        return nullcontext(outer)
    return ctx.uow(
        read_only=options.get("read_only", False),
        deferred_writes=options.get("audited_read", False) and audited_read_for(actor),
    )


def audited_read_for(actor: Actor) -> bool:
    """Whether ``actor``'s consultation writes only at its commit (``audited_read``)."""
    return actor.access_mode is AccessMode.NORMAL


def _always(record: m.Record) -> bool:
    return True


async def _refuse_unknown(
    ctx: ServiceContext,
    uow: UnitOfWork,
    actor: Actor,
    ins: Ins,
    action: Action,
    audit_action: AuditAction,
) -> NoReturn:
    """An unknown INS, as a refusal audited in the system chain (there is no record chain)
    with a hash of the INS, then 404 ``record-not-found`` like ``records.get_record``."""
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
    # Only CHECK_EXISTENCE and CREATE_RECORD are allowed without a record; they do not
    # come through here.
    raise NotFound("no record exists for this INS", code="record-not-found")


async def _ask_on_document(
    g: Guarded, action: Action, audit_action: AuditAction, doc: m.Document | None
) -> None:
    """The gate's ``require_on_document`` on the document found (None: the record has no
    such id): a document the caller may not know of is answered as an unknown one (404
    before 403; docs/security.md, "Existence")."""
    g.decision = await require_on_document(
        g.ctx,
        g.uow,
        actor=g.actor,
        action=action,
        record_facts=g.facts,
        facts=document_facts_of(doc, actor=g.actor, who=g.who, matrix=g.ctx.matrix),
        audit_action=audit_action,
        record_id=g.record.id,
        document_id=None if doc is None else doc.id,
    )
    if doc is None:
        raise document_not_found()
    g.document = doc
