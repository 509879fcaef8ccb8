"""Insert audit events in the caller's transaction; the sequencer chains them (sequencer.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import GENESIS_HASH, canonical_details, chain_of
from opendmp.audit.sequencer import chain_pending
from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Caregiver, Professional
from opendmp.storage.group_commit import InsertRows
from opendmp.storage.models import AuditChain, AuditEvent
from opendmp.storage.uow import write_at_commit


class Outcome:
    SUCCESS = "success"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What happened: ``action`` is one of the audit vocabulary (audit/vocabulary.py)."""

    action: AuditAction
    actor: Actor
    time: dt.datetime
    record_id: uuid.UUID | None = None
    outcome: str = Outcome.SUCCESS
    reason: str | None = None
    target_document_id: uuid.UUID | None = None
    client_address: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


# The IHE transaction a request came in by, when the services it reaches are those of another
# one (XDS.b ITI-41/18/43/57 run the ITI-65/66/67/68 use cases): set by the interface for the
# request (xds/api.py), written in every event's details as ``transaction`` and shown as the
# AuditEvent's subtype (fhir/audit.py). Unset, the vocabulary's own transaction stands.
VIA_TRANSACTION: ContextVar[str | None] = ContextVar("opendmp_via_transaction", default=None)


def _details(event: NewEvent) -> str | None:
    details = dict(event.details)
    via = VIA_TRANSACTION.get()
    if via is not None and "transaction" not in details:
        details["transaction"] = via
    if isinstance(event.actor, Caregiver):
        # docs/rules.md §3.7: a caregiver is traced as themself, on behalf of the record's
        # patient, under this delegation (the history words it so).
        details.setdefault("on_behalf_of", "patient")
        details.setdefault("delegation", event.actor.delegation_id)
    return canonical_details(details)


# Built once: every API request appends at least one event. A table-level Core statement
# with bound parameters skips the ORM's bulk-insert path and hits SQLAlchemy's compiled cache.
_EVENT = AuditEvent.metadata.tables[AuditEvent.__tablename__]
_INSERT_EVENT = insert(_EVENT)


async def start_chain(session: AsyncSession, record_id: uuid.UUID) -> None:
    """Create a record's chain head; done with the record, in the same transaction."""
    await session.execute(
        insert(AuditChain).values(chain=chain_of(record_id), seq=0, hash=GENESIS_HASH)
    )


async def drop_chain(session: AsyncSession, record_id: uuid.UUID) -> tuple[int, str]:
    """Remove a destroyed record's chain; returns its final (seq, hash) for the tombstone event.

    The head is locked first and the events still unchained are chained (the sequencer,
    which skips a locked head, then leaves the chain alone): the final hash covers every
    event the record ever had."""
    chain = chain_of(record_id)
    seq, digest = await chain_pending(session, chain, record_id)
    await session.execute(
        delete(AuditEvent).where(AuditEvent.record_id == record_id, AuditEvent.chain == chain)
    )
    await session.execute(delete(AuditChain).where(AuditChain.chain == chain))
    return seq, digest


def _event_fields(event: NewEvent, chain: str) -> dict[str, Any]:
    actor = event.actor
    professional = actor if isinstance(actor, Professional) else None
    return {
        "chain": chain,
        "seq": None,
        "record_id": event.record_id,
        "time": event.time,
        "action": str(event.action),
        "outcome": event.outcome,
        "reason": event.reason,
        "actor_kind": actor.kind.value,
        "actor_id": actor.actor_id,
        "actor_name": actor.name,
        "actor_profession": professional.profession if professional else None,
        "actor_organization": professional.organization if professional else None,
        "access_mode": actor.access_mode.value,
        "target_document_id": event.target_document_id,
        "client_address": event.client_address,
        "details": _details(event),
        "prev_hash": None,
        "hash": None,
        # The wall clock, not the service's clock (tests move that one): verify's bound on
        # how long an event may wait for the sequencer is real time.
        "inserted_at": dt.datetime.now(dt.UTC),
    }


async def append(session: AsyncSession, event: NewEvent) -> None:
    """Insert ``event``, unchained, in the caller's transaction: it is durable when the
    caller commits (a deferred-writes unit of work on SQLite inserts it as it commits:
    storage/uow.py). No lock is taken: concurrent requests on one record do not wait for
    each other; the sequencer (audit/sequencer.py) chains the event shortly after."""
    fields = _event_fields(event, chain_of(event.record_id))
    await write_at_commit(session, InsertRows(_INSERT_EVENT, [fields]))


async def append_many(session: AsyncSession, events: list[NewEvent]) -> None:
    """Insert ``events`` (one record's, in order) in one multi-row insert, unchained: the
    sequencer chains them in this order (services/documents/deposit.py)."""
    if not events:
        return
    chain = chain_of(events[0].record_id)
    if any(chain_of(event.record_id) != chain for event in events):
        raise ValueError("append_many takes the events of one chain")
    await session.execute(_INSERT_EVENT, [_event_fields(event, chain) for event in events])
