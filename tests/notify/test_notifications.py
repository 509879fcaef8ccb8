"""Notification delivery (docs/rules.md §5): outbox rows written with their cause are e-mailed
by the worker at least once, idempotently by outbox id, and never lost.

A real SMTP server (aiosmtpd) listens on loopback. aiosmtpd cannot start on port 0 (its
readiness probe connects to the port it was given), so a free port is picked once per test
and the server is started, stopped and restarted on that fixed port.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from typer.testing import CliRunner

from opendmp.app import Runtime
from opendmp.cli import app as cli_app
from opendmp.notify.outbox import DEFAULT_LEASE, backoff, deliver_due, outbox_lag_seconds
from opendmp.notify.sender import DeliveryError, PermanentDeliveryError
from opendmp.notify.smtp import SmtpSender
from opendmp.notify.worker import run_worker
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins, make_professional, new_record, submission
from tests.notify.smtp_support import (  # noqa: F401 - the fixture smtp
    SmtpServer,
    body_of,
    free_port,
    smtp_fixture,
)

SENDER_ADDRESS = "OpenDMP <no-reply@opendmp.localhost>"
ACCESS_PAYLOAD = {
    "who": "TESTPRO1 Dominique",
    "profession": "Médecin",
    "organization": "Centre hospitalier fictif",
    "mode": "normal",
}


# --- a real SMTP server (tests/notify/smtp_support.py) ----------------------------------


@pytest.fixture
def sender(smtp: SmtpServer) -> SmtpSender:
    return SmtpSender("127.0.0.1", smtp.port, SENDER_ADDRESS, timeout=5)


def message_id(outbox_id: uuid.UUID) -> str:
    return f"<{outbox_id}@opendmp>"


# --- helpers --------------------------------------------------------------------------------


async def enqueue(
    ctx: ServiceContext,
    kind: str = "access",
    *,
    recipient: str = "alex.fictif@example.org",
    language: str = "fr",
    payload: dict[str, str] | None = None,
) -> uuid.UUID:
    """An outbox row written as the services write it; returns its id."""
    before = {r.id for r in await outbox_rows(ctx)}
    async with ctx.sessions() as session, session.begin():
        await enqueue_notification(
            session,
            record_id=None,
            kind=kind,
            recipient=recipient,
            payload=payload or {**ACCESS_PAYLOAD, "at": ctx.now().isoformat()},
            now=ctx.now(),
            language=language,
        )
    (new,) = {r.id for r in await outbox_rows(ctx)} - before
    return new


async def outbox_rows(ctx: ServiceContext) -> list[m.Outbox]:
    async with ctx.sessions() as session:
        return list((await session.execute(select(m.Outbox))).scalars())


async def row(ctx: ServiceContext, outbox_id: uuid.UUID) -> m.Outbox:
    async with ctx.sessions() as session:
        found = await session.get(m.Outbox, outbox_id)
    assert found is not None
    return found


async def deliver(ctx: ServiceContext, sender: Any, **kwargs: Any) -> Any:
    return await deliver_due(ctx.sessions, sender, now=ctx.now(), **kwargs)


class Crash(BaseException):
    """The process dies: nothing after it runs, not even ``except Exception``."""


class CrashAfterAccept:
    """Hands the message to the relay, then the worker process dies before recording it."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner

    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        await self.inner.send(message_id, to, subject, body)
        raise Crash


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        self.calls += 1
        raise self.error


# --- refusals and failures first ------------------------------------------------------------


async def test_nothing_is_sent_before_it_is_due(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    outbox_id = await enqueue(ctx)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(m.Outbox).values(next_attempt_at=clock.now + dt.timedelta(minutes=1))
        )
    report = await deliver(ctx, sender)
    assert (report.sent, report.retried, report.failed) == (0, 0, 0)
    assert smtp.inbox.messages == []
    assert (await row(ctx, outbox_id)).status == "pending"


async def test_smtp_down_keeps_every_row_pending_with_backoff_then_all_arrive_exactly_once(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    ids = [await enqueue(ctx, recipient=f"patient{i}@example.org") for i in range(5)]
    smtp.stop()

    report = await deliver(ctx, sender)

    assert (report.sent, report.retried, report.failed) == (0, 5, 0)
    for stored in await outbox_rows(ctx):
        assert stored.status == "pending"
        assert stored.attempts == 1
        assert stored.sent_at is None
        assert clock.now + dt.timedelta(seconds=2) <= stored.next_attempt_at
        assert stored.next_attempt_at <= clock.now + dt.timedelta(seconds=2.2)
        assert stored.last_error and "ConnectionRefusedError" in stored.last_error
        assert "example.org" not in stored.last_error
    # Not due again yet: a second pass at the same instant touches nothing.
    again = await deliver(ctx, sender)
    assert again.sent + again.retried + again.failed == 0

    clock.advance(seconds=3)
    await deliver(ctx, sender)
    assert {r.attempts for r in await outbox_rows(ctx)} == {2}

    smtp.start()  # the relay comes back on the same port
    clock.advance(hours=1)
    report = await deliver(ctx, sender)

    assert report.sent == 5
    assert smtp.inbox.message_ids() == collections.Counter(message_id(i) for i in ids)
    assert sorted(r[0] for r in smtp.inbox.recipients) == sorted(
        f"patient{i}@example.org" for i in range(5)
    )
    for stored in await outbox_rows(ctx):
        assert stored.status == "sent"
        assert stored.sent_at == clock.now
        assert stored.last_error is None
    # Delivered rows are never picked again.
    clock.advance(days=1)
    assert (await deliver(ctx, sender)).sent == 0
    assert sum(smtp.inbox.message_ids().values()) == 5


async def test_after_max_attempts_a_row_is_failed_and_kept(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    outbox_id = await enqueue(ctx)
    smtp.stop()
    for attempt in range(1, 4):
        report = await deliver(ctx, sender, max_attempts=3)
        assert report.handled == 1
        clock.advance(hours=2)
        stored = await row(ctx, outbox_id)
        assert stored.attempts == attempt
    assert stored.status == "failed"
    assert report.failed == 1
    smtp.start()
    clock.advance(days=1)
    assert (await deliver(ctx, sender)).handled == 0
    assert smtp.inbox.messages == []
    assert [r.id for r in await outbox_rows(ctx)] == [outbox_id]  # kept, never deleted


async def test_a_recipient_refused_for_good_fails_at_once(
    ctx: ServiceContext, clock: Clock
) -> None:
    outbox_id = await enqueue(ctx)
    refusing = Refusing(PermanentDeliveryError("recipient refused: SMTP 550"))
    report = await deliver(ctx, refusing)
    stored = await row(ctx, outbox_id)
    assert (report.failed, stored.status, stored.attempts) == (1, "failed", 1)
    assert stored.last_error == "recipient refused: SMTP 550"


async def test_an_unexpected_sender_error_is_retried_without_its_message(
    ctx: ServiceContext,
) -> None:
    outbox_id = await enqueue(ctx, recipient="secret.person@example.org")
    refusing = Refusing(RuntimeError("could not reach secret.person@example.org"))
    report = await deliver(ctx, refusing)
    stored = await row(ctx, outbox_id)
    assert (report.retried, stored.status, stored.attempts) == (1, "pending", 1)
    assert stored.last_error == "unexpected RuntimeError"


async def test_a_row_that_cannot_be_worded_fails_at_once_and_the_others_go_on(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender
) -> None:
    bad = await enqueue(ctx, kind="lottery-win")
    good = await enqueue(ctx)
    report = await deliver(ctx, sender)
    assert (report.sent, report.failed) == (1, 1)
    stored = await row(ctx, bad)
    assert stored.status == "failed"
    assert stored.last_error == "render: unknown notification kind 'lottery-win'"
    assert smtp.inbox.message_ids() == collections.Counter([message_id(good)])


async def test_a_crash_after_the_relay_accepted_resends_once_with_the_same_message_id(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    outbox_id = await enqueue(ctx)
    with pytest.raises(Crash):
        await deliver(ctx, CrashAfterAccept(sender))
    stored = await row(ctx, outbox_id)
    assert stored.status == "pending"  # the outcome was never recorded: nothing lost
    # The crashed worker's lease keeps the row from being sent again at once…
    assert (await deliver(ctx, sender)).handled == 0
    # …and once the lease is over, it is sent a second time: at least once, not lost.
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)
    assert (await deliver(ctx, sender)).sent == 1
    assert smtp.inbox.message_ids() == collections.Counter({message_id(outbox_id): 2})
    assert (await row(ctx, outbox_id)).status == "sent"


@pytest.mark.parametrize("workers", [2, 4])
async def test_concurrent_workers_never_send_a_row_twice(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, workers: int
) -> None:
    ids = [await enqueue(ctx, recipient=f"p{i}@example.org") for i in range(30)]
    smtp.inbox.delay = 0.01  # a slow relay widens the window for a race
    reports = await asyncio.gather(
        *(deliver(ctx, sender, batch=10) for _ in range(workers)),
        *(deliver(ctx, sender, batch=10) for _ in range(workers)),
    )
    while (extra := await deliver(ctx, sender, batch=10)).handled:
        reports.append(extra)
    assert sum(r.sent for r in reports) == 30
    assert smtp.inbox.message_ids() == collections.Counter(message_id(i) for i in ids)
    assert {r.status for r in await outbox_rows(ctx)} == {"sent"}


# --- what is sent ---------------------------------------------------------------------------


async def test_a_creation_by_an_operator_reaches_the_patient_in_french(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, clock.now))
    (outbox_id,) = [r.id for r in await outbox_rows(ctx)]

    report = await deliver(ctx, sender)

    assert report.sent == 1
    (message,) = smtp.inbox.messages
    assert smtp.inbox.recipients == [["alex.fictif@example.org"]]
    assert message["To"] == "alex.fictif@example.org"
    assert message["From"] == SENDER_ADDRESS
    assert message["Subject"] == "Votre dossier médical partagé (DMP) a été créé"
    assert message["Message-ID"] == message_id(outbox_id)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert "créé le 1er mars 2026 à 10 h 00 (heure de Paris) par un opérateur" in body_of(message)
    stored = await row(ctx, outbox_id)
    assert (stored.status, stored.sent_at, stored.attempts) == ("sent", clock.now, 0)


async def test_the_english_variant_is_sent_when_the_row_asks_for_it(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender
) -> None:
    outbox_id = await enqueue(ctx, language="en")
    await deliver(ctx, sender)
    (message,) = smtp.inbox.messages
    assert message["Subject"] == "A professional accessed your DMP"
    assert message["Message-ID"] == message_id(outbox_id)
    body = body_of(message)
    assert "Who: TESTPRO1 Dominique" in body
    assert "When: 1 March 2026 at 10:00 (Paris time)" in body
    assert "Access mode: normal access" in body


async def test_no_message_carries_the_ins_the_patients_name_or_a_document_title(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, clock.now))
    await documents.deposit_document(
        ctx,
        actor=make_professional(),
        ins=ins,
        submission=submission(clock.now, title="Compte rendu de consultation d'oncologie"),
    )
    at = clock.now.isoformat()
    # What the access and deposit paths queue (docs/rules.md §5), in both languages.
    for language in ("fr", "en"):
        await enqueue(ctx, "new-document", language=language, payload={"at": at})
        await enqueue(ctx, "access", language=language)
        emergency = {**ACCESS_PAYLOAD, "at": at, "mode": "break-glass"}
        await enqueue(ctx, "emergency-access", language=language, payload=emergency)
        await enqueue(
            ctx,
            "emergency-access",
            recipient="dr.traitant@example.org",
            language=language,
            payload={**emergency, "audience": "treating-doctor"},
        )

    await deliver(ctx, sender)

    rows = await outbox_rows(ctx)
    assert {r.status for r in rows} == {"sent"}
    texts = smtp.inbox.raw()
    assert len(texts) == len(rows) >= 9
    for text in texts:
        for secret in (ins.value, "FICTIF", "Alex", "oncologie", "11490-0", "1980"):
            assert secret not in text
    subjects = collections.Counter(str(msg["Subject"]) for msg in smtp.inbox.messages)
    assert subjects["Accès en urgence au DMP d'un de vos patients"] == 1
    assert subjects["Emergency access to your DMP"] == 1


# --- the worker loop, the lag gauge and the command -----------------------------------------


async def test_the_worker_loop_delivers_until_stopped(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(ctx.sessions, sender, interval=0.05, stop=stop, clock=ctx.now)
    )
    try:
        outbox_id = await enqueue(ctx)
        for _ in range(200):
            if smtp.inbox.messages:
                break
            await asyncio.sleep(0.025)
        assert smtp.inbox.message_ids() == collections.Counter([message_id(outbox_id)])
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert task.done() and task.exception() is None


async def test_the_outbox_lag_is_the_age_of_the_oldest_pending_row(
    ctx: ServiceContext, smtp: SmtpServer, sender: SmtpSender, clock: Clock
) -> None:
    assert await outbox_lag_seconds(ctx.sessions, clock.now) == 0.0
    await enqueue(ctx)
    clock.advance(seconds=90)
    await enqueue(ctx)
    assert await outbox_lag_seconds(ctx.sessions, clock.now + dt.timedelta(seconds=10)) == 100.0
    await deliver(ctx, sender)
    assert await outbox_lag_seconds(ctx.sessions, clock.now) == 0.0


def test_backoff_doubles_from_two_seconds_and_stops_at_an_hour() -> None:
    for attempts, base in [(1, 2), (2, 4), (5, 32), (11, 2048), (12, 3600), (19, 3600)]:
        delay = backoff(attempts).total_seconds()
        assert base <= delay <= base * 1.1
    assert backoff(10_000).total_seconds() <= 3960


async def test_the_smtp_sender_reports_a_dead_relay_without_the_message() -> None:
    dead = SmtpSender("127.0.0.1", free_port(), SENDER_ADDRESS, timeout=2)
    with pytest.raises(DeliveryError) as failed:
        await dead.send(str(uuid.uuid4()), "someone@example.org", "Sujet", "Corps")
    assert "example.org" not in str(failed.value)
    assert "Corps" not in str(failed.value)
    assert not isinstance(failed.value, PermanentDeliveryError)


def test_the_worker_command_delivers_and_stops_on_ctrl_c(tmp_path: Path, smtp: SmtpServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env |= {
        "OPENDMP_HOME": str(tmp_path),
        "OPENDMP_SMTP_PORT": str(smtp.port),
        "OPENDMP_WORKER_INTERVAL_SECONDS": "0.1",
    }
    runner = CliRunner()
    create = ["record", "create", "--ins", str(make_ins()), "--birth-name", "FICTIF"]
    create += ["--given", "Alex", "--birth-date", "1980-01-15", "--sex", "F"]
    create += ["--email", "alex.fictif@example.org"]
    for args in (["init"], create):
        result = runner.invoke(cli_app, args, env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr)

    worker = subprocess.Popen(
        [sys.executable, "-c", "from opendmp.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not smtp.inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp.inbox.messages) == 1
        worker.send_signal(signal.SIGINT)
        out, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err.decode()
    assert b"worker stopped" in out
    (message,) = smtp.inbox.messages
    assert message["Subject"] == "Votre dossier médical partagé (DMP) a été créé"


async def test_the_metrics_expose_the_outbox_lag_and_depth(runtime: Runtime, app: FastAPI) -> None:
    async with runtime.ctx.sessions() as session, session.begin():
        await enqueue_notification(
            session,
            record_id=None,
            kind="new-document",
            recipient="alex.fictif@example.org",
            payload={"at": "2020-01-01T00:00:00+00:00"},
            now=runtime.ctx.now() - dt.timedelta(minutes=10),
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = (await http.get("/metrics")).text
    (line,) = [x for x in body.splitlines() if x.startswith("opendmp_outbox_lag_seconds ")]
    assert 600 <= float(line.split()[1]) < 700
    assert 'opendmp_queue_depth{queue="outbox"} 1.0' in body.splitlines()
