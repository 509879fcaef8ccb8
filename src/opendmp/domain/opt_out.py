"""Opt-out opening of records (CSP R1111-28; docs/rules.md §2, "Opt-out opening").

An operator announces a record to a beneficiary; the beneficiary may object within the
objection period, with the notice's code and their birth date; without objection the record
opens. Pure rules: the states, the code's format, the opening date.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum

# Crockford's base 32: no I, L, O, U, so that a code read from paper is typed back right.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# 80 random bits, shown as XXXX-XXXX-XXXX-XXXX: enough that its stored SHA-256 cannot be
# searched back, so the digest needs no key (it must outlive master-key rotations).
CODE_LENGTH = 16
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


class AnnouncementStatus(StrEnum):
    ANNOUNCED = "announced"  # told, within the objection period
    OPENED = "opened"  # the record exists (opened by the worker, or by express consent)
    OPPOSED = "opposed"  # the person objected: no record, or the record closed


class NoticeChannel(StrEnum):
    EMAIL = "email"
    LETTER = "letter"


class OppositionChannel(StrEnum):
    ONLINE = "online"  # the portal page, with the code and the birth date
    DESK = "desk"  # an admission desk, with the code and the birth date


@dataclass(frozen=True, slots=True)
class OptOutRules:
    """``OPENDMP_CREATION_MODE`` and ``OPENDMP_OPT_OUT_OBJECTION_DAYS``."""

    enabled: bool = False
    objection_period: dt.timedelta = dt.timedelta(days=42)  # six weeks

    def opens_at(self, announced_at: dt.datetime) -> dt.datetime:
        return announced_at + self.objection_period


def new_notice_code() -> str:
    """A random notice code, ``CODE_LENGTH`` characters of ``CODE_ALPHABET``."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """``ABCD1234WXYZ5678`` -> ``ABCD-1234-WXYZ-5678`` (as printed and e-mailed)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_code(typed: str) -> str | None:
    """The code as typed (any case, spaces or hyphens, O for 0, I or L for 1), or None when
    it cannot be a notice code."""
    code = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code
