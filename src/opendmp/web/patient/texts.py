"""How the patient portal words things: refusals, dates, codes (actions, professions…).

Times are Paris time (``domain.local_time``); ``stamped`` adds the UTC offset for what
leaves the portal (the export, the desk's consent record)."""

from __future__ import annotations

import datetime as dt

from opendmp.audit import vocabulary
from opendmp.domain.codes import DOCUMENT_TYPES, PROFESSIONS, SPECIALTIES
from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.domain.local_time import PARIS as PARIS
from opendmp.domain.local_time import paris, utc_offset
from opendmp.web import i18n
from opendmp.web.common import error_text


def local(value: dt.datetime) -> dt.datetime:
    return paris(value)


def when(value: dt.datetime | None, lang: str) -> str:
    """A moment in French time, as a person reads it."""
    if value is None:
        return "—"
    shown = local(value)
    return f"{shown:%d/%m/%Y %H:%M}" if lang == "fr" else f"{shown:%Y-%m-%d %H:%M}"


def stamped(value: dt.datetime, lang: str, *, time: bool = True) -> str:
    """A moment in French time with its offset made explicit (letters, files leaving the
    portal: a reader elsewhere or in another season knows which time it is); ``time=False``
    gives the French day alone."""
    if not time:
        return day(value, lang)
    return f"{when(value, lang)} ({utc_offset(value)})"


def day(value: dt.datetime | dt.date | None, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = local(value).date()
    return f"{value:%d/%m/%Y}" if lang == "fr" else value.isoformat()


def search_bound(value: str, *, end: bool) -> dt.datetime | None:
    """A search form's day (``YYYY-MM-DD``, empty for none) as the moment it starts in French
    time, or, for the ``end`` of a period, the moment the next day starts."""
    if not value:
        return None
    try:
        chosen = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a date: {value[:20]}", code="invalid-search") from None
    moment = dt.datetime.combine(chosen, dt.time.min, tzinfo=PARIS)
    return moment + dt.timedelta(days=1) if end else moment


def refusal(error: OpenDMPError, lang: str, now: dt.datetime) -> str:
    """The message of a refusal; a lockout or a rate limit says when to try again."""
    retry = getattr(error, "retry_after", None)
    if retry:
        minutes = max(1, (int(retry) + 59) // 60)
        at = local(now + dt.timedelta(seconds=int(retry)))
        key = f"patient.errors.{error.code}"
        if not i18n.has(key):
            key = "patient.errors.rate-limited"
        return i18n.t(key, lang, minutes=minutes, time=f"{at:%H:%M}")
    key = f"patient.errors.{error.code}"
    if i18n.has(key):
        return i18n.t(key, lang)
    return error_text(error, lang)


def action_label(action: str, lang: str) -> str:
    """A stored audit code as the history words it (audit/vocabulary.py)."""
    return vocabulary.label(action, i18n.language_of(lang))


def profession_label(code: str | None, lang: str) -> str:
    if not code:
        return "—"
    found = PROFESSIONS.get(code)
    return found.label(i18n.language_of(lang)) if found else code


def specialty_label(code: str | None, lang: str) -> str | None:
    if not code:
        return None
    found = SPECIALTIES.get(code)
    return found.label(i18n.language_of(lang)) if found else code


def type_label(code: str, lang: str) -> str:
    found = DOCUMENT_TYPES.get(code)
    return found.label(i18n.language_of(lang)) if found else code


def size_label(size: int, lang: str) -> str:
    if size < 1024:
        return f"{size} o" if lang == "fr" else f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} Ko" if lang == "fr" else f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} Mo" if lang == "fr" else f"{size / 1024 / 1024:.1f} MB"
