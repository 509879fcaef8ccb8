"""The SMTP relay refuses, then accepts (docs/security.md, "Faults").

A real SMTP server (aiosmtpd) answers 4xx and 5xx at every stage of the conversation
(MAIL, RCPT, DATA) for a while, then accepts. The actions that queue notifications (a record
created by an operator, a document deposited through the API) succeed regardless: they only
write outbox rows. The rows stay pending, are retried with a growing backoff (never before
it is due), and are delivered exactly once each when the relay accepts.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from opendmp.app import Runtime
from opendmp.notify.outbox import deliver_due
from opendmp.notify.smtp import SmtpSender, message_id_for
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.api.provide_support import create_record_for
from tests.conftest import Clock
from tests.factories import make_ins
from tests.faults.fault_support import deposit, http_client
from tests.notify.smtp_support import RefusingInbox, SmtpServer, free_port

# Two rows are due at each pass, so each pass takes two refusals.
REFUSALS = [
    ("MAIL", "421 4.3.2 Service not available, closing transmission channel"),
    ("RCPT", "450 4.2.1 Mailbox temporarily unavailable"),
    ("DATA", "451 4.3.0 Local error in processing"),
    ("MAIL", "554 5.7.1 Relay access denied"),
    ("DATA", "554 5.6.0 Transaction failed"),
    ("MAIL", "530 5.7.0 Authentication required"),
]
RECIPIENT = "alex.fictif@example.org"


@pytest.fixture
def relay() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), RefusingInbox(REFUSALS))
    server.start()
    yield server
    server.stop()


async def _outbox(ctx: ServiceContext) -> list[m.Outbox]:
    async with ctx.sessions() as session:
        return list((await session.execute(select(m.Outbox))).scalars())


async def test_a_refusing_relay_delays_notifications_which_arrive_once_when_it_accepts(
    app: FastAPI, runtime: Runtime, ctx: ServiceContext, clock: Clock, relay: SmtpServer
) -> None:
    inbox = relay.inbox
    assert isinstance(inbox, RefusingInbox)
    sender = SmtpSender("127.0.0.1", relay.port, "OpenDMP <no-reply@opendmp.localhost>", timeout=5)
    ins = make_ins()
    await create_record_for(runtime, ins, email=RECIPIENT)  # queues the welcome e-mail
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(m.Record).values(notify_on_new_document=True))
    async with http_client(app) as http:
        response = await deposit(http, ins, 1, at=ctx.now())  # queues "new document"
    assert response.status_code == 201, response.text
    rows = await _outbox(ctx)
    assert sorted(r.kind for r in rows) == ["new-document", "record-created"]

    waits = []
    for attempt in (1, 2, 3):
        report = await deliver_due(ctx.sessions, sender, now=clock.now)
        assert (report.sent, report.retried, report.failed) == (0, 2, 0)
        rows = await _outbox(ctx)
        assert {(r.status, r.attempts) for r in rows} == {("pending", attempt)}
        for stored in rows:
            assert stored.last_error and "SMTP" in stored.last_error
            assert RECIPIENT not in stored.last_error
        wait = min(r.next_attempt_at for r in rows) - clock.now
        waits.append(wait)
        # Not due before its backoff: a pass at the same instant talks to nobody.
        tried = inbox.attempts
        assert (await deliver_due(ctx.sessions, sender, now=clock.now)).handled == 0
        assert inbox.attempts == tried
        clock.now = max(r.next_attempt_at for r in rows)
    assert waits[0] >= dt.timedelta(seconds=2)
    assert waits[1] >= 2 * dt.timedelta(seconds=2) > waits[0]
    assert waits[2] >= 2 * dt.timedelta(seconds=4) > waits[1]
    assert inbox.messages == []
    assert not inbox.refusals  # every refusal was met

    report = await deliver_due(ctx.sessions, sender, now=clock.now)

    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    assert inbox.message_ids() == collections.Counter(message_id_for(str(r.id)) for r in rows)
    assert all(r == [RECIPIENT] for r in inbox.recipients)
    assert {(r.status, r.sent_at) for r in await _outbox(ctx)} == {("sent", clock.now)}
    clock.advance(days=1)
    assert (await deliver_due(ctx.sessions, sender, now=clock.now)).handled == 0
    assert (len(inbox.messages), inbox.attempts) == (2, len(REFUSALS) + 2)
