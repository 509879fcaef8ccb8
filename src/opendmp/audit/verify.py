"""Walk the hash chains and report the first broken link of each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import GENESIS_HASH, HASHED_FIELDS, event_hash
from opendmp.storage.models import AuditChain, AuditEvent


@dataclass(frozen=True, slots=True)
class ChainReport:
    chain: str
    events: int
    ok: bool
    broken_at_seq: int | None = None
    problem: str | None = None


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
        .where(AuditEvent.chain == chain)
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


async def verify_all(session: AsyncSession) -> list[ChainReport]:
    """Every chain with a head, then the events whose chain has no head (each a failure)."""
    reports = [await verify_chain(session, name) for name in [c async for c in chains(session)]]
    headless = (
        (
            await session.execute(
                select(AuditEvent.chain)
                .where(AuditEvent.chain.not_in(select(AuditChain.chain)))
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    headless_problem = "events without a chain head"
    reports += [ChainReport(name, 0, False, None, headless_problem) for name in headless]
    return reports
