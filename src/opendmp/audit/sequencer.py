"""The sequencer: chains the audit events requests inserted unchained (docs/security.md,
"The audit trail").

A request inserts its event in its own transaction without touching the chain head
(writer.append), so concurrent requests on one record never queue on it. The sequencer, a
task beside the outbox worker on every node (notify/worker.py's loop; ``opendmp worker``),
then chains them: in one transaction it locks the heads of the chains with pending events
(``FOR UPDATE SKIP LOCKED``: a head another node's sequencer holds is left to it, so exactly
one sequencer extends a chain at a time and two never fork it), gives each pending event the
next number in the order of its id (the order the inserts happened; an event committed after
a later one was chained is chained after it), its predecessor's hash and its own, and moves
the heads. On SQLite the same code runs in a ``BEGIN IMMEDIATE`` transaction, exclusive by
itself. A crash before the commit leaves the events unchained, as they were: the next round
chains them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendmp.audit.chain import HASHED_FIELDS, SYSTEM_CHAIN, event_hash
from opendmp.storage.models import AuditChain, AuditEvent
from opendmp.storage.scope import global_query
from opendmp.storage.uow import UnitOfWork

log = logging.getLogger("opendmp.audit")

_EVENT = AuditEvent.metadata.tables[AuditEvent.__tablename__]
_CHAIN = AuditChain.metadata.tables[AuditChain.__tablename__]
_HASHED = [_EVENT.c[name] for name in HASHED_FIELDS if name not in ("seq", "prev_hash")]
_SEAL = (
    update(_EVENT)
    .where(
        _EVENT.c.id == bindparam("event_id"),
        _EVENT.c.record_id.is_not_distinct_from(bindparam("event_record")),
        _EVENT.c.seq.is_(None),
    )
    .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev"), hash=bindparam("new_hash"))
)
_ADVANCE = (
    update(_CHAIN)
    .where(_CHAIN.c.chain == bindparam("head_chain"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)

CHAINS_PER_ROUND = 200
EVENTS_PER_ROUND = 2000


@dataclass(frozen=True, slots=True)
class Pending:
    """A chain with events to chain: its name and its record (None: the system chain)."""

    chain: str
    record_id: uuid.UUID | None


def _of_chains(chains: Sequence[Pending]) -> ColumnElement[bool]:
    """The events of ``chains``, by record id (the system chain's have none)."""
    records = [p.record_id for p in chains if p.record_id is not None]
    mine: ColumnElement[bool] = _EVENT.c.record_id.in_(records)
    if any(p.record_id is None for p in chains):
        mine = or_(mine, and_(_EVENT.c.record_id.is_(None), _EVENT.c.chain == SYSTEM_CHAIN))
    return and_(mine, _EVENT.c.chain.in_([p.chain for p in chains]))


async def pending_chains(session: AsyncSession, limit: int = CHAINS_PER_ROUND) -> list[Pending]:
    """Chains with unchained events (the partial index ``ix_audit_event_unchained``)."""
    rows = await session.execute(
        global_query(
            select(_EVENT.c.chain, _EVENT.c.record_id)
            .where(_EVENT.c.seq.is_(None))
            .group_by(_EVENT.c.chain, _EVENT.c.record_id)
            .limit(limit),
            "audit-sequencer",
        )
    )
    return [Pending(row.chain, row.record_id) for row in rows]


async def _lock_heads(
    session: AsyncSession, chains: Sequence[Pending], *, skip_locked: bool
) -> dict[str, tuple[int, str]]:
    rows = await session.execute(
        select(_CHAIN.c.chain, _CHAIN.c.seq, _CHAIN.c.hash)
        .where(_CHAIN.c.chain.in_([p.chain for p in chains]))
        .with_for_update(skip_locked=skip_locked)
    )
    return {row.chain: (int(row.seq), str(row.hash)) for row in rows}


async def _chain(
    session: AsyncSession, chains: Sequence[Pending], heads: dict[str, tuple[int, str]]
) -> int:
    """Chain the pending events of ``chains`` (their heads locked by the caller), oldest
    insert first; moves ``heads`` on. Returns how many events were chained."""
    rows = await session.execute(
        select(_EVENT.c.id, *_HASHED)
        .where(_of_chains(chains), _EVENT.c.seq.is_(None))
        .order_by(_EVENT.c.id)
        .limit(EVENTS_PER_ROUND)
    )
    sealed: list[dict[str, Any]] = []
    moved: set[str] = set()
    for row in rows:
        fields = dict(row._mapping)
        seq, prev = heads[fields["chain"]]
        fields.update(seq=seq + 1, prev_hash=prev)
        digest = event_hash(fields)
        heads[fields["chain"]] = (seq + 1, digest)
        moved.add(fields["chain"])
        sealed.append(
            {
                "event_id": fields["id"],
                "event_record": fields["record_id"],
                "new_seq": seq + 1,
                "new_prev": prev,
                "new_hash": digest,
            }
        )
    if not sealed:
        return 0
    await session.execute(_SEAL, sealed)
    await session.execute(
        _ADVANCE,
        [{"head_chain": c, "new_seq": heads[c][0], "new_hash": heads[c][1]} for c in moved],
    )
    return len(sealed)


async def chain_pending(
    session: AsyncSession, chain: str, record_id: uuid.UUID | None
) -> tuple[int, str]:
    """Chain every pending event of one chain in the caller's transaction, waiting for its
    head (a record's destruction: writer.drop_chain). Returns the new head (seq, hash)."""
    pending = [Pending(chain, record_id)]
    heads = await _lock_heads(session, pending, skip_locked=False)
    if chain not in heads:
        raise RuntimeError(f"audit chain {chain} does not exist")
    while await _chain(session, pending, heads) == EVENTS_PER_ROUND:
        pass
    return heads[chain]


async def sequence_once(sessions: async_sessionmaker[AsyncSession]) -> int:
    """One round: chain the pending events of the chains whose head no other sequencer
    holds, in one transaction. Returns how many events were chained."""
    # Looked for without the write lock (SQLite): most rounds find nothing to do.
    async with UnitOfWork(sessions, read_only=True) as look:
        pending = await pending_chains(look.session)
    if not pending:
        return 0
    async with UnitOfWork(sessions) as uow:
        heads = await _lock_heads(uow.session, pending, skip_locked=True)
        mine = [p for p in pending if p.chain in heads]  # headless events: verify reports them
        chained = await _chain(uow.session, mine, heads) if mine else 0
        await uow.commit()
    return chained


async def sequence_all(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Rounds until nothing is left to chain (tests; a node that stops)."""
    total = 0
    while chained := await sequence_once(sessions):
        total += chained
    return total


async def run_sequencer(
    sessions: async_sessionmaker[AsyncSession], *, interval: float, stop: asyncio.Event
) -> None:
    """Chain pending events every ``interval`` seconds until ``stop`` is set; a full round
    is followed at once by the next. Errors are logged (no event content) and retried."""
    while not stop.is_set():
        chained = 0
        try:
            chained = await sequence_once(sessions)
        except Exception:
            log.exception("audit sequencer round failed")
        if chained >= EVENTS_PER_ROUND:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
