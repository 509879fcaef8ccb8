"""Notifications (docs/rules.md §5): the outbox, the e-mail sender and the message wording."""

from opendmp.notify.messages import Rendered, render
from opendmp.notify.outbox import DeliveryReport, backoff, deliver_due, outbox_lag_seconds
from opendmp.notify.sender import DeliveryError, PermanentDeliveryError, Sender
from opendmp.notify.smtp import SmtpSender, message_id_for
from opendmp.notify.worker import run_worker

__all__ = [
    "DeliveryError",
    "DeliveryReport",
    "PermanentDeliveryError",
    "Rendered",
    "Sender",
    "SmtpSender",
    "backoff",
    "deliver_due",
    "message_id_for",
    "outbox_lag_seconds",
    "render",
    "run_worker",
]
