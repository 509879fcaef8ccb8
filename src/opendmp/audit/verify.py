"""Walk the hash chains and report the first broken link of each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import GENESIS_HASH, HASHED_FIELDS, SYSTEM_CHAIN, event_hash
from opendmp.storage.models import AuditChain, AuditEvent


@dataclass(frozen=True, slots=True)
class ChainReport:
    chain: str
    events: int
    ok: bool
    broken_at_seq: int | None = None
    problem: str | None = None


def chain_records(chain: str) -> ColumnElement[bool]:
    """The record id of a chain's events: one partition read (docs/database.md)."""
    try:
        record_id = None if chain == SYSTEM_CHAIN else uuid.UUID(chain)
    except ValueError:  # not a chain name this code writes: no record either
        record_id = None
    return (
        AuditEvent.record_id.is_(None) if record_id is None else AuditEvent.record_id == record_id
    )


async def verify_chain(session: AsyncSession, chain: str) -> ChainReport:
    head = (
        await session.execute(
            select(AuditChain.seq, AuditChain.hash).where(AuditChain.chain == chain)
        )
    ).one_or_none()
    if head is None:
        return ChainReport(chain, 0, False, None, "the chain head is missing")
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    columns = [getattr(AuditEvent, name) for name in HASHED_FIELDS]
    stream = await session.stream(
        select(*columns, AuditEvent.hash)
        .where(AuditEvent.chain == chain, chain_records(chain))
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=1000)
    )
    async for row in stream:
        fields: dict[str, Any] = dict(row._mapping)
        seq = int(fields["seq"])
        if seq != expected_seq:
            return ChainReport(
                chain, count, False, expected_seq, f"event {expected_seq} is missing"
            )
        if fields["prev_hash"] != prev_hash:
            return ChainReport(
                chain, count, False, seq, f"event {seq} does not link to event {seq - 1}"
            )
        if event_hash(fields) != fields["hash"]:
            return ChainReport(
                chain, count, False, seq, f"event {seq} was altered (its hash does not match)"
            )
        prev_hash = fields["hash"]
        expected_seq += 1
        count += 1
    if count != head.seq or prev_hash != head.hash:
        return ChainReport(
            chain,
            count,
            False,
            count + 1,
            f"the chain head says {head.seq} events but {count} were found "
            "(events removed from the end?)",
        )
    return ChainReport(chain, count, True)


async def chains(session: AsyncSession) -> AsyncIterator[str]:
    result = await session.stream_scalars(select(AuditChain.chain).order_by(AuditChain.chain))
    async for chain in result:
        yield chain
