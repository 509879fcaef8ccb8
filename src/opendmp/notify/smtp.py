"""E-mail over SMTP with the standard library, in a thread (no new dependency).

Each message carries ``Message-ID: <{outbox id}@opendmp>``: delivery is at least once, so a
crash between the server's acceptance and our bookkeeping sends the same row again with the
same Message-ID, which receivers and tests use to spot the duplicate.
"""

from __future__ import annotations

import asyncio
import email.utils
import smtplib
import ssl
from email.message import EmailMessage

from opendmp.notify.sender import DeliveryError, PermanentDeliveryError

MESSAGE_ID_DOMAIN = "opendmp"


def message_id_for(outbox_id: str) -> str:
    return f"<{outbox_id}@{MESSAGE_ID_DOMAIN}>"


class SmtpSender:
    """Send text/plain UTF-8 messages through one SMTP relay (one connection per message)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender_address: str,
        use_starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.host = host
        self.port = port
        self.sender_address = sender_address
        self.use_starttls = use_starttls
        self.username = username
        self._password = password
        self.timeout = timeout

    def __repr__(self) -> str:  # never the password
        return f"SmtpSender({self.host!r}, {self.port}, starttls={self.use_starttls})"

    def build(self, message_id: str, to: str, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender_address
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = message_id_for(message_id)
        # RFC 3834: tells auto-responders (out-of-office replies) to stay quiet.
        msg["Auto-Submitted"] = "auto-generated"
        # Quoted-printable keeps the body 7-bit: no reliance on the relay's 8BITMIME.
        msg.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
        return msg

    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        msg = self.build(message_id, to, subject, body)
        await asyncio.to_thread(self._send_blocking, msg)

    def _send_blocking(self, msg: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.use_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _reply in exc.recipients.values()})
            error = PermanentDeliveryError if all(c >= 500 for c in codes) else DeliveryError
            raise error(f"recipient refused: SMTP {','.join(map(str, codes))}") from None
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, authentication failed, STARTTLS refused…: these
            # are relay or configuration problems, so they are retried (the operator has
            # hours to fix them) rather than failing every message for good.
            raise DeliveryError(f"{type(exc).__name__}: SMTP {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused, timeout, TLS failure, dropped connection. The errno text is
            # safe; the exception's own message may quote the server.
            detail = f" {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
            raise DeliveryError(f"{type(exc).__name__}{detail}"[:200]) from None
