"""Delegations (docs/rules.md §3.7): a patient lets a relative act on their record.

Pure rules, no I/O: what rights exist, which dates an invitation may carry, the state a
delegation is in at a given moment and the rights it grants then. The services store the
rows and the policy (``policy.decide``) reads ``live_rights`` through the facts.

Stored statuses are ``pending`` (invited), ``accepted``, ``refused`` and ``revoked``;
``expired`` is never stored, it is read off the clock: a pending invitation past its
validity, an accepted delegation past its end date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from opendmp.domain.errors import InvalidInput

# An invitation names its dates; a delegation lasts at most this long (renewed by a new
# invitation: the patient is asked again, not left with a forgotten grant).
MAX_DURATION = dt.timedelta(days=5 * 366)


class Right(StrEnum):
    """What a caregiver may do on the record; never close, destroy, export or delegate."""

    DOCUMENTS = "documents"  # read documents (and the access history, which names them)
    CHOICES = "choices"  # manage choices: who has access, blocks, emergency, notifications


class Status(StrEnum):
    """What is stored."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    REVOKED = "revoked"


class State(StrEnum):
    """What a person reads: the stored status, with ``expired`` read off the clock."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Kind(StrEnum):
    CAREGIVER = "caregiver"  # aidant: the rights the patient chose, within the dates
    REPRESENTATIVE = "representative"  # a minor's second legal representative


def parse_rights(values: Iterable[str]) -> frozenset[Right]:
    """The rights ticked on a form or given to the CLI; at least one, all known."""
    chosen = {value.strip() for value in values if value.strip()}
    known = {right.value for right in Right}
    unknown = sorted(chosen - known)
    if unknown:
        raise InvalidInput(
            f"unknown right(s) {', '.join(unknown)} (expected documents, choices)",
            code="invalid-delegation-rights",
        )
    if not chosen:
        raise InvalidInput("choose at least one right", code="delegation-rights-required")
    return frozenset(Right(value) for value in chosen)


def dump_rights(rights: Iterable[Right]) -> str:
    """Stored form: ``choices,documents`` (sorted, comma separated)."""
    return ",".join(sorted(right.value for right in rights))


def load_rights(stored: str) -> frozenset[Right]:
    known = {right.value for right in Right}
    return frozenset(Right(part) for part in stored.split(",") if part in known)


def check_dates(starts_on: dt.date, ends_on: dt.date, today: dt.date) -> None:
    """An invitation's dates: from today or later, the end not before the start, at most
    ``MAX_DURATION`` long."""
    if starts_on < today:
        raise InvalidInput("the start date is in the past", code="delegation-start-past")
    if ends_on < starts_on:
        raise InvalidInput(
            "the end date is before the start date", code="delegation-end-before-start"
        )
    if ends_on - starts_on > MAX_DURATION:
        raise InvalidInput("a delegation lasts at most five years", code="delegation-too-long")


def state_of(
    status: Status,
    *,
    invitation_expires_at: dt.datetime,
    ends_on: dt.date | None,
    now: dt.datetime,
    today: dt.date,
) -> State:
    """The state of a delegation at ``now`` (``today``: the Paris date of ``now``)."""
    if status is Status.PENDING:
        return State.EXPIRED if now >= invitation_expires_at else State.PENDING
    if status is Status.ACCEPTED and ends_on is not None and today > ends_on:
        return State.EXPIRED
    return State(status.value)


def live_rights(
    status: Status,
    rights: frozenset[Right],
    *,
    starts_on: dt.date | None,
    ends_on: dt.date | None,
    today: dt.date,
) -> frozenset[Right]:
    """The rights a delegation grants on ``today``: those chosen when it is accepted and
    ``today`` is within its dates (both included); none otherwise."""
    if status is not Status.ACCEPTED:
        return frozenset()
    if starts_on is not None and today < starts_on:
        return frozenset()
    if ends_on is not None and today > ends_on:
        return frozenset()
    return rights
