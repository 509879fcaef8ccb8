"""The time people live in (issue 15): OpenDMP stores and exchanges UTC; whatever a person
reads — a page, a letter, a file they take away — is French civil time (Europe/Paris), and
what leaves the portal says its offset from UTC, which changes twice a year.

The calendar day is Paris's too: "today" for an age, a birth date in the future, a letter's
date is the Paris date, not UTC's (they differ between 22:00/23:00 UTC and midnight).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["PARIS", "french_stamp", "paris", "paris_date", "utc_offset"]

PARIS = ZoneInfo("Europe/Paris")


def paris(moment: dt.datetime) -> dt.datetime:
    """``moment`` (timezone-aware) in Paris time."""
    if moment.tzinfo is None:
        raise ValueError("a moment must carry its time zone")
    return moment.astimezone(PARIS)


def paris_date(moment: dt.datetime) -> dt.date:
    """The calendar day in Paris at ``moment``."""
    return paris(moment).date()


def utc_offset(moment: dt.datetime) -> str:
    """``UTC+01:00`` in winter, ``UTC+02:00`` in summer."""
    return "UTC" + paris(moment).isoformat()[-6:]


def french_stamp(moment: dt.datetime) -> str:
    """``02/03/2026 à 00:30 (heure de Paris, UTC+01:00)``: for French letters and pages that
    leave the portal."""
    local = paris(moment)
    return f"{local:%d/%m/%Y} à {local:%H:%M} (heure de Paris, {utc_offset(moment)})"
