"""What the outbox needs of a channel: ``send`` one message, or say why it could not."""

from __future__ import annotations

from typing import Protocol


class DeliveryError(Exception):
    """The message was not accepted; worth retrying later (network, 4xx, authentication).

    Its text goes to ``outbox.last_error``: senders put there what failed and the server's
    code, never the message, the recipient or a server reply that could echo them.
    """


class PermanentDeliveryError(DeliveryError):
    """The message will never be accepted as it is (e.g. every recipient refused with 5xx)."""


class Sender(Protocol):
    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        """Hand one message over; return only once the next hop accepted it."""
        ...
