"""Issue 15, item 7: UTC stored, Paris shown — around midnight and the DST changes (last
Sunday of March: 01:00 UTC, +01:00 → +02:00; last Sunday of October: 01:00 UTC, back)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from opendmp.domain.local_time import french_stamp, paris, paris_date, utc_offset
from opendmp.services.records.onboarding import welcome_letter_pdf
from opendmp.web.patient.texts import day, stamped, when

UTC = dt.UTC
LATE_WINTER_EVENING = dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Paris
BEFORE_SPRING = dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC)  # 01:59 +01:00
AFTER_SPRING = dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 +02:00
BEFORE_AUTUMN = dt.datetime(2026, 10, 25, 0, 59, tzinfo=UTC)  # 02:59 +02:00
AFTER_AUTUMN = dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 02:00 +01:00


def test_the_paris_day_is_not_the_utc_day_before_midnight() -> None:
    assert LATE_WINTER_EVENING.date() == dt.date(2026, 3, 1)
    assert paris_date(LATE_WINTER_EVENING) == dt.date(2026, 3, 2)
    summer = dt.datetime(2026, 7, 14, 22, 30, tzinfo=UTC)  # 00:30 on 15 July (UTC+2)
    assert paris_date(summer) == dt.date(2026, 7, 15)
    assert paris_date(dt.datetime(2026, 7, 14, 21, 59, tzinfo=UTC)) == dt.date(2026, 7, 14)
    assert day(LATE_WINTER_EVENING, "fr") == "02/03/2026"
    assert when(LATE_WINTER_EVENING, "en") == "2026-03-02 00:30"


def test_the_offset_follows_the_dst_changes() -> None:
    assert (utc_offset(BEFORE_SPRING), f"{paris(BEFORE_SPRING):%H:%M}") == ("UTC+01:00", "01:59")
    assert (utc_offset(AFTER_SPRING), f"{paris(AFTER_SPRING):%H:%M}") == ("UTC+02:00", "03:00")
    assert (utc_offset(BEFORE_AUTUMN), f"{paris(BEFORE_AUTUMN):%H:%M}") == ("UTC+02:00", "02:59")
    # 02:00-02:59 happens twice in October: the offset tells them apart.
    assert (utc_offset(AFTER_AUTUMN), f"{paris(AFTER_AUTUMN):%H:%M}") == ("UTC+01:00", "02:00")
    assert stamped(AFTER_SPRING, "fr") == "29/03/2026 03:00 (UTC+02:00)"
    assert french_stamp(AFTER_AUTUMN) == "25/10/2026 à 02:00 (heure de Paris, UTC+01:00)"


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        paris(dt.datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 - the refusal under test


def test_the_welcome_letter_gives_the_paris_day_and_an_explicit_offset() -> None:
    """Created at 23:30 UTC on 1 March: the letter says 2 March. The one-time password ends
    30 days later, after the spring change: 23:30 UTC is then 01:30 (UTC+02:00) on 1 April."""
    pdf = welcome_letter_pdf(
        login="AB12CD34EF",
        password="provisoire-0000",
        name="Alex FICTIF",
        portal_url="https://dmp.example.test/patient",
        issued_at=LATE_WINTER_EVENING,
        valid_until=LATE_WINTER_EVENING + dt.timedelta(days=30),
    )
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    assert "créé le 02/03/2026" in text
    assert "jusqu'au 01/04/2026 à 01:30 (heure de Paris, UTC+02:00)" in text
