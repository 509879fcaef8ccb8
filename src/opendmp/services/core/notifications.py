"""Queueing a notification in the outbox, in the caller's transaction (docs/rules.md §5)."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.storage import models as m


async def enqueue_notification(
    session: AsyncSession,
    *,
    record_id: uuid.UUID | None,
    kind: str,
    recipient: str,
    payload: dict[str, str],
    now: dt.datetime,
    language: str = "fr",
) -> None:
    """Queue a message in the outbox, in the caller's transaction (no health data in it)."""
    await session.execute(
        insert(m.Outbox).values(
            id=uuid.uuid4(),
            record_id=record_id,
            kind=kind,
            channel="email",
            recipient=recipient,
            language=language,
            payload=orjson.dumps(payload).decode(),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
