"""A real SMTP server on loopback (aiosmtpd) for the notification tests.

aiosmtpd cannot start on port 0 (its readiness probe connects to the port it was given), so
a free port is picked once per test and the server is started, stopped and restarted on that
fixed port.
"""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler keeping every accepted message (it runs in the server's thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.delay = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def message_ids(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(str(msg["Message-ID"]) for msg in self.messages)

    def raw(self) -> list[str]:
        """Each message as text, headers decoded, body decoded from quoted-printable.

        The Message-ID is left out: it is random, so it could spell any digits a test
        looks for (a year of birth, say)."""
        with self._lock:
            return [
                "\n".join(f"{k}: {v}" for k, v in msg.items() if k.lower() != "message-id")
                + "\n"
                + body_of(msg)
                for msg in self.messages
            ]


class RefusingInbox(Inbox):
    """An inbox that first refuses: each attempt takes the next ``(stage, reply)`` of
    ``refusals`` (stage MAIL, RCPT or DATA; reply e.g. ``"451 4.3.0 Try again later"``) and
    answers it at that stage; once they are used up, messages are accepted."""

    def __init__(self, refusals: list[tuple[str, str]]) -> None:
        super().__init__()
        self.refusals = collections.deque(refusals)
        self.attempts = 0
        self._refusing: tuple[str, str] | None = None

    def _answer(self, stage: str) -> str | None:
        if self._refusing is not None and self._refusing[0] == stage:
            reply = self._refusing[1]
            self._refusing = None
            return reply
        return None

    async def handle_MAIL(
        self, _server: Any, _session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self._lock:
            self.attempts += 1
            self._refusing = self.refusals.popleft() if self.refusals else None
        refused = self._answer("MAIL")
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refused = self._answer("RCPT")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self._answer("DATA") or await super().handle_DATA(server, session, envelope)


class SmtpServer:
    def __init__(self, port: int, inbox: Inbox | None = None) -> None:
        self.port = port
        self.inbox = inbox or Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, for one test."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())
