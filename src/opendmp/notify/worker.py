"""The outbox worker loop: ``opendmp worker``, or a task inside ``opendmp serve``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendmp.notify.outbox import DEFAULT_LEASE, deliver_due
from opendmp.notify.sender import Sender

log = logging.getLogger("opendmp.notify")


async def run_worker(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    *,
    interval: float,
    stop: asyncio.Event,
    clock: Callable[[], dt.datetime],
    batch: int = 50,
    max_attempts: int = 20,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> None:
    """Deliver due rows every ``interval`` seconds until ``stop`` is set.

    A full batch is followed at once by the next one (a backlog drains without waiting).
    Errors (database unreachable…) are logged without any content and retried at the next
    tick: the loop never stops on its own. ``stop`` is honoured between batches, so a
    message being handed to the relay is finished and recorded before the loop returns.
    """
    while not stop.is_set():
        full = False
        try:
            report = await deliver_due(
                sessions,
                sender,
                now=clock(),
                batch=batch,
                max_attempts=max_attempts,
                lease=lease,
            )
            full = report.handled >= batch
        except Exception:
            log.exception("outbox tick failed")
        if full:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
