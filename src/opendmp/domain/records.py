"""Lifecycle of a record (docs/rules.md §2): active → closed → destroyed, and reactivation.

Pure functions over an immutable ``Lifecycle``: each returns the next state or raises
``IllegalTransition`` with a stable code. Time comes in as an argument.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum

from opendmp.domain.errors import IllegalTransition, InvalidInput


class RecordStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    DESTROYED = "destroyed"


class ClosureReason(StrEnum):
    """Closure reason codes kept with the record."""

    PATIENT_REQUEST = "FERMETURE_DEMANDE_PATIENT"
    DEATH = "DECES"
    FRAUD = "FERMETURE_FRAUDE"
    OPERATOR = "FERMETURE_OPERATEUR"


@dataclass(frozen=True, slots=True)
class RetentionRules:
    """Retention periods (configurable by order; the defaults are the DMP's)."""

    years_after_closure: int = 10
    early_destruction_days: int = 90  # "honoured within 3 months"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    status: RecordStatus
    created_at: dt.datetime
    closed_at: dt.datetime | None = None
    closure_reason: ClosureReason | None = None
    closure_text: str | None = None
    destroy_after: dt.datetime | None = None
    destruction_requested_at: dt.datetime | None = None
    reactivated_at: dt.datetime | None = None


def new_lifecycle(now: dt.datetime) -> Lifecycle:
    return Lifecycle(status=RecordStatus.ACTIVE, created_at=now)


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    """Same calendar day ``years`` later; 29 February falls back to 28 February."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def _refuse_destroyed(lc: Lifecycle, what: str) -> None:
    if lc.status is RecordStatus.DESTROYED:
        raise IllegalTransition(f"cannot {what}: the record was destroyed", code="record-destroyed")


def close(
    lc: Lifecycle,
    *,
    reason: ClosureReason,
    text: str | None,
    now: dt.datetime,
    rules: RetentionRules,
) -> Lifecycle:
    """Close an active record; it is kept ``years_after_closure`` then destroyed."""
    _refuse_destroyed(lc, "close")
    if lc.status is RecordStatus.CLOSED:
        raise IllegalTransition("the record is already closed", code="record-already-closed")
    if text is not None and len(text) > 2000:
        raise InvalidInput("closure text is limited to 2000 characters", code="text-too-long")
    return replace(
        lc,
        status=RecordStatus.CLOSED,
        closed_at=now,
        closure_reason=reason,
        closure_text=text,
        destroy_after=add_years(now, rules.years_after_closure),
        destruction_requested_at=None,
    )


def reactivate(lc: Lifecycle, *, now: dt.datetime) -> Lifecycle:
    """Reopen a closed record: the archived content comes back (docs/rules.md §2)."""
    _refuse_destroyed(lc, "reactivate")
    if lc.status is RecordStatus.ACTIVE:
        raise IllegalTransition("the record is not closed", code="record-not-closed")
    if lc.closure_reason is ClosureReason.DEATH:
        raise IllegalTransition(
            "a record closed on the patient's death cannot be reactivated",
            code="record-closed-on-death",
        )
    return replace(
        lc,
        status=RecordStatus.ACTIVE,
        closed_at=None,
        closure_reason=None,
        closure_text=None,
        destroy_after=None,
        destruction_requested_at=None,
        reactivated_at=now,
    )


def request_destruction(lc: Lifecycle, *, now: dt.datetime, rules: RetentionRules) -> Lifecycle:
    """Early destruction of a closed record, honoured within ``early_destruction_days``."""
    _refuse_destroyed(lc, "request destruction")
    if lc.status is not RecordStatus.CLOSED:
        raise IllegalTransition(
            "only a closed record can be destroyed early: close it first",
            code="record-not-closed",
        )
    if lc.destruction_requested_at is not None:
        raise IllegalTransition(
            "destruction was already requested", code="destruction-already-requested"
        )
    deadline = now + dt.timedelta(days=rules.early_destruction_days)
    assert lc.destroy_after is not None
    return replace(lc, destruction_requested_at=now, destroy_after=min(lc.destroy_after, deadline))


def is_due_for_destruction(lc: Lifecycle, *, now: dt.datetime) -> bool:
    return (
        lc.status is RecordStatus.CLOSED
        and lc.destroy_after is not None
        and lc.destroy_after <= now
    )


def destroy(lc: Lifecycle, *, now: dt.datetime) -> Lifecycle:
    """Final state: only a closed record past its ``destroy_after`` is destroyed."""
    _refuse_destroyed(lc, "destroy")
    if lc.status is not RecordStatus.CLOSED:
        raise IllegalTransition("only a closed record can be destroyed", code="record-not-closed")
    if not is_due_for_destruction(lc, now=now):
        raise IllegalTransition(
            "the record's retention period has not ended", code="destruction-not-due"
        )
    return replace(lc, status=RecordStatus.DESTROYED)
