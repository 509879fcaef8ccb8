"""Delivery of the outbox: at least once, idempotent by outbox id, never losing a row.

Services write outbox rows in the same transaction as the change they announce, so a
notification exists if and only if its cause was committed. This module sends them.

How a batch goes:

1. **Claim** (one short transaction): the due rows (``pending``, ``next_attempt_at <= now``)
   are selected ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers take
   disjoint rows, and *leased*: their ``next_attempt_at`` moves to ``now + lease``. Once the
   claim commits, no other worker sees them as due until the lease runs out. On SQLite the
   claim transaction is ``BEGIN IMMEDIATE`` (storage/db.py): workers are serialised.
2. **Send**, outside any transaction: no database lock (and, on SQLite, no write lock of the
   whole database) is held while a slow relay answers.
3. **Record** each outcome in its own short transaction: ``sent`` only after the relay
   accepted the message; otherwise ``attempts + 1`` and a backoff, or ``failed`` after
   ``max_attempts`` (kept, never deleted, for the operator to see and requeue).

A crash anywhere leaves the row ``pending`` under its lease: it is sent again when the lease
runs out. A crash between the relay's acceptance and step 3 therefore sends the message a
second time, with the same ``Message-ID: <outbox id@opendmp>`` so the duplicate is
detectable. That is the price of at-least-once: the alternative (marking before sending)
loses messages on a crash, which docs/rules.md §5 cannot afford for emergency accesses.

The trade-off of the lease over holding the row lock while sending: a crashed worker's
rows wait for the lease (minutes) instead of being free at once, but no transaction stays
open across network I/O. A worker that runs late stops taking rows from its batch at half
the lease, and gives the rest back, so two workers never send one row at the same time.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendmp.notify.messages import render
from opendmp.notify.sender import DeliveryError, PermanentDeliveryError, Sender
from opendmp.storage import models as m

log = logging.getLogger("opendmp.notify")

PENDING, SENT, FAILED = "pending", "sent", "failed"
MAX_BACKOFF_SECONDS = 3600
DEFAULT_LEASE = dt.timedelta(minutes=5)
_ERROR_LENGTH = 200  # outbox.last_error is 255 wide


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    kind: str
    recipient: str
    language: str
    payload: str
    attempts: int


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failures: 2^n s, capped at one hour.

    Up to 10 % of jitter is added so that rows which failed together (relay down) do not
    all come back in the same second.
    """
    base = MAX_BACKOFF_SECONDS if attempts >= 12 else min(2**attempts, MAX_BACKOFF_SECONDS)
    jitter = base * secrets.randbelow(1001) / 10_000
    return dt.timedelta(seconds=base + jitter)


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    *,
    now: dt.datetime,
    batch: int = 50,
    max_attempts: int = 20,
    lease: dt.timedelta = DEFAULT_LEASE,
    channel: str = "email",
) -> DeliveryReport:
    """Send the outbox rows due at ``now`` (at most ``batch``) and record each outcome."""
    claimed = await _claim(sessions, now=now, batch=batch, lease=lease, channel=channel)
    deadline = time.monotonic() + lease.total_seconds() / 2
    sent = retried = failed = 0
    for index, row in enumerate(claimed):
        if time.monotonic() > deadline:
            # Running late (a slow relay): give the rest back before our lease runs out, so
            # that no other worker sends a row we are still holding.
            await _release(sessions, [r.id for r in claimed[index:]], now=now)
            log.warning("outbox batch cut short released=%d", len(claimed) - index)
            break
        outcome = await _deliver_one(sessions, sender, row, now=now, max_attempts=max_attempts)
        if outcome == SENT:
            sent += 1
        elif outcome == FAILED:
            failed += 1
        else:
            retried += 1
    report = DeliveryReport(sent, retried, failed)
    if report.handled:
        log.info("outbox delivered sent=%d retried=%d failed=%d", sent, retried, failed)
    return report


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """What waits in the outbox: the /metrics gauges (docs/deployment.md, "Monitoring")."""

    depth: int  # pending rows
    lag_seconds: float  # age of the oldest pending row, 0 when nothing waits


async def outbox_backlog(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime
) -> OutboxBacklog:
    """How many notifications wait, and for how long the oldest has."""
    async with sessions() as session:
        depth, oldest = (
            await session.execute(
                select(func.count(), func.min(m.Outbox.created_at)).where(
                    m.Outbox.status == PENDING
                )
            )
        ).one()
    lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    return OutboxBacklog(int(depth), lag)


async def outbox_lag_seconds(sessions: async_sessionmaker[AsyncSession], now: dt.datetime) -> float:
    """Age of the oldest pending row in seconds (0 when nothing waits)."""
    return (await outbox_backlog(sessions, now)).lag_seconds


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    batch: int,
    lease: dt.timedelta,
    channel: str,
) -> list[_Claimed]:
    o = m.Outbox
    query = (
        select(o.id, o.kind, o.recipient, o.language, o.payload, o.attempts)
        .where(o.status == PENDING, o.next_attempt_at <= now, o.channel == channel)
        .order_by(o.next_attempt_at)
        .limit(batch)
        # PostgreSQL: rows another worker is claiming are skipped, not waited for. SQLite
        # renders no FOR UPDATE; its BEGIN IMMEDIATE already serialises the claims.
        .with_for_update(skip_locked=True)
    )
    async with sessions() as session, session.begin():
        rows = [_Claimed(*row) for row in (await session.execute(query)).all()]
        if rows:
            await session.execute(
                update(o).where(o.id.in_([r.id for r in rows])).values(next_attempt_at=now + lease)
            )
    return rows


async def _deliver_one(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    row: _Claimed,
    *,
    now: dt.datetime,
    max_attempts: int,
) -> str:
    try:
        subject, body = render(row.kind, row.language, _payload(row.payload))
    except ValueError as exc:
        # A row that cannot be worded will never be: fail it now rather than 20 times.
        return await _record_failure(
            sessions, row, now=now, error=f"render: {exc}", permanent=True, max_attempts=1
        )
    try:
        await sender.send(str(row.id), row.recipient, subject, body)
    except PermanentDeliveryError as exc:
        return await _record_failure(
            sessions, row, now=now, error=str(exc), permanent=True, max_attempts=max_attempts
        )
    except DeliveryError as exc:
        return await _record_failure(
            sessions, row, now=now, error=str(exc), permanent=False, max_attempts=max_attempts
        )
    except Exception as exc:
        # An unexpected sender bug: retried like a transient failure. Only the type is
        # kept: its message could quote the recipient or the content.
        return await _record_failure(
            sessions,
            row,
            now=now,
            error=f"unexpected {type(exc).__name__}",
            permanent=False,
            max_attempts=max_attempts,
        )
    async with sessions() as session, session.begin():
        await session.execute(
            update(m.Outbox)
            .where(m.Outbox.id == row.id, m.Outbox.status == PENDING)
            .values(status=SENT, sent_at=now, last_error=None)
        )
    return SENT


async def _record_failure(
    sessions: async_sessionmaker[AsyncSession],
    row: _Claimed,
    *,
    now: dt.datetime,
    error: str,
    permanent: bool,
    max_attempts: int,
) -> str:
    attempts = row.attempts + 1
    status = FAILED if permanent or attempts >= max_attempts else PENDING
    async with sessions() as session, session.begin():
        await session.execute(
            update(m.Outbox)
            .where(m.Outbox.id == row.id, m.Outbox.status == PENDING)
            .values(
                status=status,
                attempts=attempts,
                next_attempt_at=now + backoff(attempts) if status == PENDING else now,
                last_error=error[:_ERROR_LENGTH],
            )
        )
    if status == FAILED:
        log.warning("outbox message failed id=%s kind=%s attempts=%d", row.id, row.kind, attempts)
    return status


async def _release(
    sessions: async_sessionmaker[AsyncSession], ids: Sequence[uuid.UUID], *, now: dt.datetime
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(m.Outbox)
            .where(m.Outbox.id.in_(ids), m.Outbox.status == PENDING)
            .values(next_attempt_at=now)
        )


def _payload(text: str) -> dict[str, str]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("payload is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("payload is not a JSON object")
    return {str(k): str(v) for k, v in data.items() if v is not None}
