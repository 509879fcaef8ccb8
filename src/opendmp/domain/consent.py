"""The traced creation consent (docs/rules.md §2: express, informed, captured electronically).

A record is only created with a consent that says who captured it, where, how, when, and
which wording of the information notice was shown (its version and SHA-256).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from opendmp.domain.errors import InvalidInput


class ConsentChannel(StrEnum):
    ONLINE = "online"
    DESK = "desk"
    PHARMACY = "pharmacy"
    PROFESSIONAL = "professional"
    OPERATOR = "operator"
    OPT_OUT = "opt-out"  # announced, not objected to within the period (no express consent)


class ConsentKind(StrEnum):
    CREATION = "creation"
    REACTIVATION = "reactivation"
    AUTHORIZATION = "authorization"


@dataclass(frozen=True, slots=True)
class Consent:
    kind: ConsentKind
    channel: ConsentChannel
    captured_by_kind: str
    captured_by_id: str
    captured_by_name: str | None
    place: str | None
    notice_version: str
    notice_sha256: str
    captured_at: dt.datetime
    patient_confirmed: bool

    def evidence_sha256(self, subject: str) -> str:
        """Hash of the consent's canonical content bound to the subject (a hashed INS)."""
        canonical = json.dumps(
            {
                "kind": self.kind.value,
                "channel": self.channel.value,
                "captured_by": [
                    self.captured_by_kind,
                    self.captured_by_id,
                    self.captured_by_name,
                ],
                "place": self.place,
                "notice": [self.notice_version, self.notice_sha256],
                "captured_at": self.captured_at.astimezone(dt.UTC).isoformat(),
                "confirmed": self.patient_confirmed,
                "subject": subject,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def require_express_consent(consent: Consent) -> None:
    """Refuse a consent that the person did not expressly confirm, or an untraceable one."""
    if not consent.patient_confirmed:
        raise InvalidInput(
            "the person's express consent is required to create a record",
            code="consent-not-given",
        )
    if consent.captured_at.tzinfo is None:
        raise InvalidInput("consent time must be timezone-aware", code="invalid-consent")
    if not consent.captured_by_id or not consent.notice_version:
        raise InvalidInput(
            "a consent must say who captured it and which notice was shown",
            code="invalid-consent",
        )
    if len(consent.notice_sha256) != 64:
        raise InvalidInput("the notice hash must be a SHA-256 hex digest", code="invalid-consent")
