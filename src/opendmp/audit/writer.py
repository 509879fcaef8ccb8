"""Append audit events to per-record hash chains, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import GENESIS_HASH, canonical_details, chain_of, event_hash
from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Professional
from opendmp.storage.models import AuditChain, AuditEvent


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
    via = VIA_TRANSACTION.get()
    if via is None or "transaction" in event.details:
        return canonical_details(event.details)
    return canonical_details({**event.details, "transaction": via})


# Built once: every API request appends at least one event. Table-level Core statements
# with bound parameters skip the ORM's bulk-insert path and the per-call ``.values()``
# construction, and hit SQLAlchemy's compiled cache directly.
_CHAIN = AuditChain.metadata.tables[AuditChain.__tablename__]
_HEAD = (
    select(_CHAIN.c.seq, _CHAIN.c.hash)
    .where(_CHAIN.c.chain == bindparam("head_chain"))
    .with_for_update()
)
_EVENT = AuditEvent.metadata.tables[AuditEvent.__tablename__]
_INSERT_EVENT = insert(_EVENT)
_ADVANCE = (
    update(_CHAIN)
    .where(_CHAIN.c.chain == bindparam("head_chain"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
# PostgreSQL: the event row and the new chain head in one statement (a data-modifying
# CTE), one network round trip instead of two. SQLite has no DML in CTEs: two statements.
_EVENT_FIELDS = tuple(column.name for column in _EVENT.c if column.name != "id")
_INSERT_AND_ADVANCE = _ADVANCE.add_cte(
    insert(_EVENT)
    .values({name: bindparam(f"event_{name}", type_=_EVENT.c[name].type) for name in _EVENT_FIELDS})
    .cte("new_event")
)


async def start_chain(session: AsyncSession, record_id: uuid.UUID) -> None:
    """Create a record's chain head; done with the record, in the same transaction."""
    await session.execute(
        insert(AuditChain).values(chain=chain_of(record_id), seq=0, hash=GENESIS_HASH)
    )


async def drop_chain(session: AsyncSession, record_id: uuid.UUID) -> tuple[int, str]:
    """Remove a destroyed record's chain; returns its final (seq, hash) for the tombstone event."""
    chain = chain_of(record_id)
    head = (
        await session.execute(
            select(AuditChain.seq, AuditChain.hash).where(AuditChain.chain == chain)
        )
    ).one()
    await session.execute(
        delete(AuditEvent).where(AuditEvent.record_id == record_id, AuditEvent.chain == chain)
    )
    await session.execute(delete(AuditChain).where(AuditChain.chain == chain))
    return int(head.seq), str(head.hash)


def _event_fields(event: NewEvent, chain: str, seq: int, prev_hash: str) -> dict[str, Any]:
    actor = event.actor
    professional = actor if isinstance(actor, Professional) else None
    return {
        "chain": chain,
        "seq": seq,
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
        "prev_hash": prev_hash,
    }


async def _head(session: AsyncSession, chain: str) -> tuple[int, str]:
    head = (await session.execute(_HEAD, {"head_chain": chain})).one_or_none()
    if head is None:
        raise RuntimeError(f"audit chain {chain} does not exist")
    return int(head.seq), str(head.hash)


async def append(session: AsyncSession, event: NewEvent) -> str:
    """Append ``event`` to its chain and return its hash.

    The chain head row is locked (``SELECT … FOR UPDATE``; SQLite transactions are already
    exclusive, see storage.db) so concurrent requests on one record keep the chain linear.
    """
    chain = chain_of(event.record_id)
    seq, prev_hash = await _head(session, chain)
    fields = _event_fields(event, chain, seq + 1, prev_hash)
    digest = event_hash(fields)
    advance = {"head_chain": chain, "new_seq": fields["seq"], "new_hash": digest}
    if session.get_bind().dialect.name == "postgresql":
        row = {**fields, "hash": digest}
        await session.execute(
            _INSERT_AND_ADVANCE, {**advance, **{f"event_{k}": row[k] for k in _EVENT_FIELDS}}
        )
    else:
        await session.execute(_INSERT_EVENT, {**fields, "hash": digest})
        await session.execute(_ADVANCE, advance)
    return digest


async def append_many(session: AsyncSession, events: list[NewEvent]) -> None:
    """Append ``events`` (one record's, in order) to their chain in three statements,
    whatever their number: the head, every event (one multi-row insert), the new head. A
    deposit of many documents so holds the write lock for a short time
    (services/documents/deposit.py)."""
    if not events:
        return
    chain = chain_of(events[0].record_id)
    if any(chain_of(event.record_id) != chain for event in events):
        raise ValueError("append_many takes the events of one chain")
    seq, digest = await _head(session, chain)
    rows = []
    for event in events:
        seq += 1
        fields = _event_fields(event, chain, seq, digest)
        digest = event_hash(fields)
        rows.append({**fields, "hash": digest})
    await session.execute(_INSERT_EVENT, rows)
    await session.execute(_ADVANCE, {"head_chain": chain, "new_seq": seq, "new_hash": digest})
