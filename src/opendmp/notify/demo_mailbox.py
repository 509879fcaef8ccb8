"""The demo's built-in mailbox (docs/portals.md, "Demo mailbox"): a real SMTP server on
loopback (aiosmtpd) that ``opendmp demo`` starts and points the outbox at, so every message
still takes the real delivery path (outbox → worker → ``SmtpSender`` → SMTP); each message
it accepts is written under ``OPENDMP_HOME/demo-mails/`` (folder 0700, files 0600) and the
portals show them at ``/demo/mails`` in demo mode only.

The folder holds what the demo sends — synthetic people only; no other mode starts it.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from opendmp.storage.private_files import make_private_dir, write_private_file

FOLDER = "demo-mails"
_NAME = re.compile(r"^[0-9]{8}T[0-9]{12}-[0-9a-f]{32}$")


def mailbox_folder(home: Path) -> Path:
    return home / FOLDER


@dataclass(frozen=True, slots=True)
class Mail:
    id: str
    to: str
    subject: str
    date: str
    body: str


class MailboxHandler:
    """aiosmtpd handler: each accepted message becomes one private file, named so that the
    names sort by arrival."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        make_private_dir(folder)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        write_private_file(self.folder / f"{stamp}-{uuid.uuid4().hex}.eml", envelope.content)
        return "250 Message accepted for delivery"


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DemoMailbox:
    """The SMTP server (in a thread of its own) writing into ``mailbox_folder(home)``."""

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.folder = mailbox_folder(home)
        # aiosmtpd cannot start on port 0: its readiness probe connects to the given port.
        self.port = port or free_loopback_port()
        self._controller: Any = None

    def start(self) -> DemoMailbox:
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            MailboxHandler(self.folder), hostname="127.0.0.1", port=self.port
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _parse(path: Path) -> Mail:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(preferencelist=("plain",))
    body = part.get_content() if isinstance(part, EmailMessage) else ""
    return Mail(
        path.stem,
        str(parsed["To"] or ""),
        str(parsed["Subject"] or ""),
        str(parsed["Date"] or ""),
        str(body),
    )


def list_mails(home: Path) -> list[Mail]:
    """Every message received, newest first."""
    folder = mailbox_folder(home)
    if not folder.is_dir():
        return []
    names = sorted((p for p in folder.glob("*.eml") if _NAME.match(p.stem)), reverse=True)
    return [_parse(path) for path in names]


def read_mail(home: Path, mail_id: str) -> Mail | None:
    """One message by its id, or ``None`` (an id that is not a mailbox name is unknown)."""
    if not _NAME.match(mail_id):
        return None
    path = mailbox_folder(home) / f"{mail_id}.eml"
    return _parse(path) if path.is_file() else None
