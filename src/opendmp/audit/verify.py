"""Walk the hash chains and report the first broken link of each, and the unchained tail.

Events the sequencer has not chained yet (audit/sequencer.py) are counted, not walked: a
chain is sound when its chained part is, and its oldest unchained event has waited less than
``max_unchained_age`` (docs/security.md, "The audit trail").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.chain import GENESIS_HASH, HASHED_FIELDS, SYSTEM_CHAIN, event_hash
from opendmp.storage.models import AuditChain, AuditEvent
from opendmp.storage.scope import global_query


@dataclass(frozen=True, slots=True)
class ChainReport:
    chain: str
    events: int
    ok: bool
    broken_at_seq: int | None = None
    problem: str | None = None
    unchained: int = 0  # events inserted, not chained yet
    oldest_unchained: dt.datetime | None = None  # when the oldest of them was inserted


# Beyond this, an unchained event means the sequencer is not running (or is held back).
MAX_UNCHAINED_AGE = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Tail:
    count: int
    oldest: dt.datetime | None


async def unchained_tail(session: AsyncSession, chain: str) -> Tail:
    row = (
        await session.execute(
            select(func.count(), func.min(AuditEvent.inserted_at)).where(
                of_chain(chain), AuditEvent.seq.is_(None)
            )
        )
    ).one()
    return Tail(int(row[0]), row[1])


async def verify_chain(
    session: AsyncSession,
    chain: str,
    *,
    now: dt.datetime | None = None,
    max_unchained_age: dt.timedelta = MAX_UNCHAINED_AGE,
) -> ChainReport:
    """Walk ``chain``'s chained events, then count its unchained tail; ``now`` (the wall
    clock by default) dates the tail."""
    # A shared lock on the head: a sequencer skips it meanwhile, so the head and the walk
    # see the same chain (PostgreSQL; a SQLite transaction is exclusive already).
    head = (
        await session.execute(
            select(AuditChain.seq, AuditChain.hash)
            .where(AuditChain.chain == chain)
            .with_for_update(read=True)
        )
    ).one_or_none()
    if head is None:
        return ChainReport(chain, 0, False, None, "the chain head is missing")
    walked = await _walk(session, chain, int(head.seq), str(head.hash))
    tail = await unchained_tail(session, chain)
    report = replace(walked, unchained=tail.count, oldest_unchained=tail.oldest)
    age = (now or dt.datetime.now(dt.UTC)) - tail.oldest if tail.oldest else None
    if not report.ok or age is None or age <= max_unchained_age:
        return report
    return replace(
        report,
        ok=False,
        broken_at_seq=report.events + 1,
        problem=f"{tail.count} event(s) not chained, the oldest for "
        f"{int(age.total_seconds())} s (more than {int(max_unchained_age.total_seconds())} s: "
        "is the sequencer running?)",
    )


def of_chain(chain: str) -> ColumnElement[bool]:
    """The events of ``chain``, by their record (the system chain's have none)."""
    if chain == SYSTEM_CHAIN:
        return and_(AuditEvent.record_id.is_(None), AuditEvent.chain == chain)
    try:
        record = uuid.UUID(chain)
    except ValueError:  # no record's: a forged head, whose events only the name can find
        return AuditEvent.chain == chain
    return and_(AuditEvent.record_id == record, AuditEvent.chain == chain)


async def _walk(session: AsyncSession, chain: str, head_seq: int, head_hash: str) -> ChainReport:
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    columns = [getattr(AuditEvent, name) for name in HASHED_FIELDS]
    stream = await session.stream(
        select(*columns, AuditEvent.hash)
        .where(of_chain(chain), AuditEvent.seq.is_not(None))
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
    if count != head_seq or prev_hash != head_hash:
        return ChainReport(
            chain,
            count,
            False,
            count + 1,
            f"the chain head says {head_seq} events but {count} were found "
            "(events removed from the end?)",
        )
    return ChainReport(chain, count, True)


async def chains(session: AsyncSession) -> AsyncIterator[str]:
    result = await session.stream_scalars(select(AuditChain.chain).order_by(AuditChain.chain))
    async for chain in result:
        yield chain


async def verify_all(session: AsyncSession) -> list[ChainReport]:
    """Every chain with a head, then the events whose chain has no head (each a failure)."""
    reports = []
    for name in [c async for c in chains(session)]:
        reports.append(await verify_chain(session, name))
        await session.commit()  # lets the sequencer move this chain's head again
    headless = (
        (
            await session.execute(
                global_query(
                    select(AuditEvent.chain)
                    .where(AuditEvent.chain.not_in(select(AuditChain.chain)))
                    .distinct(),
                    "audit-verify",
                )
            )
        )
        .scalars()
        .all()
    )
    headless_problem = "events without a chain head"
    reports += [ChainReport(name, 0, False, None, headless_problem) for name in headless]
    return reports
