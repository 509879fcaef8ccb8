"""FHIR search parameters as MHD/PDSm searches use them (ITI-66, ITI-67, the conditional
PATCH): the (name, value) pairs of GET and ``POST …/_search``, tokens, dates with their
precision, the patient (``patient`` / ``patient.identifier``), ``_count``, and the searchset
links with the service's opaque cursor.

A malformed value of a known parameter, an unsupported modifier or prefix, or a token
parameter repeated (AND) is a 400 ``invalid-search``; a parameter given more than
``OPENDMP_MAX_SEARCH_VALUES`` values (repeats and ``,`` alternatives together) is a 422
``too-many-values`` (docs/security.md, "Bounded work per request"); unknown parameters are
ignored (FHIR search rules) and left out of the ``self`` link. Dates without a time zone are read in
Europe/Paris (the DMP's zone); a value stands for the interval of its precision (``2026``,
``2026-03``, ``2026-03-01``, to the minute, second or microsecond): ``eq`` = within it,
``ge``/``le`` = from its start / to its end, ``gt``/``lt`` = after its end / before its
start. Repeats are ANDed (``date=ge2025&date=lt2026``).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.limits import check_value_counts
from opendmp.fhir.formats import read_body
from opendmp.fhir.identities import ins_of_patient_id, parse_ins_token
from opendmp.fhir.mapping import bundle
from opendmp.fhir.outcome import issue, outcome
from opendmp.services.documents import DateRange

PARIS = ZoneInfo("Europe/Paris")
MAX_FORM_BYTES = 64 * 1024
MAX_COUNT = 100
LOGICAL_ID_SYSTEM = "urn:opendmp:logical-id"
RFC3986 = "urn:ietf:rfc:3986"
SORTS = frozenset({"date", "-date", "creation", "-creation", "period", "-period"})


class InvalidSearch(InvalidInput):
    code = "invalid-search"

    def __init__(self, message: str, *, parameter: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.expression = parameter


# --- reading the parameters -------------------------------------------------------------------


async def search_pairs(request: Request) -> list[tuple[str, str]]:
    """The (name, value) pairs of a search: the query string, plus the form body of a
    ``POST …/_search`` (FHIR allows parameters in both)."""
    pairs = list(urllib.parse.parse_qsl(request.url.query, keep_blank_values=True))
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = await read_body(request, limit=MAX_FORM_BYTES)
        if body:
            if media != "application/x-www-form-urlencoded":
                raise InvalidSearch(
                    "_search takes application/x-www-form-urlencoded parameters",
                    code="unsupported-media-type",
                )
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidSearch("the form body is not UTF-8") from None
            pairs += urllib.parse.parse_qsl(text, keep_blank_values=True)
    check_value_counts(pairs, request.app.state.runtime.ctx.limits.max_search_values)
    return pairs


def _split_commas(value: str) -> list[str]:
    """FHIR ``,`` separates alternatives; ``\\,`` is a literal comma."""
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",") for p in parts]


@dataclass
class Params:
    """The known parameters of one search, with the modifiers each supports."""

    pairs: list[tuple[str, str]]
    known: dict[str, frozenset[str]]  # name -> accepted modifiers

    def __post_init__(self) -> None:
        self.used: list[tuple[str, str]] = []
        self._by_name: dict[str, list[str]] = {}
        for raw_name, value in self.pairs:
            name, _, modifier = raw_name.partition(":")
            if name not in self.known:
                continue  # FHIR: unknown parameters are ignored
            if modifier and modifier not in self.known[name]:
                raise InvalidSearch(
                    f"the modifier :{modifier} is not supported on {name}", parameter=name
                )
            self._by_name.setdefault(name, []).append(value)
            self.used.append((raw_name, value))

    def all(self, name: str) -> list[str]:
        return self._by_name.get(name, [])

    def one(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1:
            raise InvalidSearch(f"{name} may be given once", parameter=name)
        if values and not values[0].strip():
            raise InvalidSearch(f"{name} is empty", parameter=name)
        return values[0].strip() if values else None

    def tokens(self, name: str) -> list[tuple[str | None, str]]:
        """(system or None, code) alternatives; ``|code`` gives system ``""``."""
        value = self.one(name)
        if value is None:
            return []
        found: list[tuple[str | None, str]] = []
        for part in _split_commas(value):
            system, bar, code = part.rpartition("|")
            if not code.strip():
                raise InvalidSearch(f"{name}: a code is required ({part!r})", parameter=name)
            found.append((system if bar else None, code.strip()))
        return found

    def codes(self, name: str) -> tuple[str, ...]:
        return tuple(code for _, code in self.tokens(name))

    def string(self, name: str) -> str | None:
        return self.one(name)

    def boolean(self, name: str) -> bool | None:
        value = self.one(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise InvalidSearch(f"{name} must be true or false", parameter=name)
        return value == "true"

    def dates(self, name: str) -> DateRange | None:
        values = self.all(name)
        if not values:
            return None
        ge: dt.datetime | None = None
        lt: dt.datetime | None = None
        for value in values:
            if len(_split_commas(value)) > 1:
                raise InvalidSearch(f"{name}: alternatives (,) are not supported", parameter=name)
            for op, moment in date_bounds(name, value.strip()):
                if op == "ge":
                    ge = moment if ge is None else max(ge, moment)
                else:
                    lt = moment if lt is None else min(lt, moment)
        return DateRange(ge=ge, lt=lt)


_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,6})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _zone(tz: str | None) -> dt.tzinfo:
    """The zone of a dateTime's offset; Paris without one (ValueError beyond a day)."""
    if not tz:
        return PARIS
    if tz == "Z":
        return dt.UTC
    zone = dt.datetime.strptime(tz, "%z").tzinfo
    assert zone is not None  # %z always gives one
    return zone


def _time_interval(day: dt.datetime, found: re.Match[str]) -> tuple[dt.datetime, dt.datetime]:
    """The interval a dateTime stands for: its minute, second or microsecond."""
    lo = day.replace(hour=int(found["H"]), minute=int(found["M"]))
    step = dt.timedelta(minutes=1)
    if found["S"] is not None:
        lo = lo.replace(second=int(found["S"]))
        step = dt.timedelta(seconds=1)
    if found["f"]:
        lo = lo.replace(microsecond=int(found["f"][1:].ljust(6, "0")))
        step = dt.timedelta(microseconds=1)
    return lo, lo + step


def _interval(found: re.Match[str]) -> tuple[dt.datetime, dt.datetime]:
    """The half-open interval a FHIR date stands for (ValueError if it does not exist)."""
    zone = _zone(found["tz"])
    year = int(found["y"])
    if found["m"] is None:
        return dt.datetime(year, 1, 1, tzinfo=zone), dt.datetime(year + 1, 1, 1, tzinfo=zone)
    month = int(found["m"])
    if found["d"] is None:
        lo = dt.datetime(year, month, 1, tzinfo=zone)
        return lo, dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    day = dt.datetime(year, month, int(found["d"]), tzinfo=zone)
    if found["H"] is None:
        return day, day + dt.timedelta(days=1)
    return _time_interval(day, found)


def date_bounds(name: str, value: str) -> list[tuple[str, dt.datetime]]:
    """A FHIR date search value as half-open bounds: ``[("ge", lo)]``, ``[("lt", hi)]``…"""
    found = _DATE.match(value)
    if found is None:
        raise InvalidSearch(
            f"{name}: {value!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)",
            parameter=name,
        )
    prefix = found["prefix"] or "eq"
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise InvalidSearch(f"{name}: the prefix {prefix} is not supported", parameter=name)
    try:
        lo, hi = _interval(found)
    except ValueError:
        raise InvalidSearch(f"{name}: {value!r} is not a valid date", parameter=name) from None
    lo, hi = lo.astimezone(dt.UTC), hi.astimezone(dt.UTC)
    match prefix:
        case "eq":
            return [("ge", lo), ("lt", hi)]
        case "ge":
            return [("ge", lo)]
        case "gt":
            return [("ge", hi)]
        case "le":
            return [("lt", hi)]
        case _:
            return [("lt", lo)]


def patient_of(params: Params) -> Ins:
    """The INS of ``patient`` (``[base/]Patient/<id>``, the id scheme of ``fhir.identities``)
    or ``patient.identifier`` (``<INS system>|<INS>``); one of them is required (MHD)."""
    found: list[Ins] = []
    reference = params.one("patient")
    if reference is not None:
        path = reference.split("?", 1)[0].rstrip("/")
        head, _, last = path.rpartition("/")
        ins = ins_of_patient_id(last) if not head or head.endswith("Patient") else None
        if ins is None:
            raise InvalidSearch(
                "patient: expected Patient/ins-<INS OID>-<INS>; or use patient.identifier",
                parameter="patient",
            )
        found.append(ins)
    identifiers = params.all("patient.identifier")
    if len(identifiers) > 1 or (identifiers and len(_split_commas(identifiers[0])) > 1):
        raise InvalidSearch("patient.identifier names one patient", parameter="patient.identifier")
    if identifiers:
        found.append(parse_ins_token(identifiers[0], parameter="patient.identifier"))
    if not found:
        raise InvalidSearch("patient or patient.identifier is required", code="missing-parameter")
    if any(ins != found[0] for ins in found[1:]):
        raise InvalidSearch("patient and patient.identifier name different patients")
    return found[0]


def required_statuses(params: Params) -> tuple[str, ...]:
    statuses = params.tokens("status")
    if not statuses:
        raise InvalidSearch("status is required (current, superseded)", code="missing-parameter")
    if any(system for system, _ in statuses):
        raise InvalidSearch("status is a code without a system", parameter="status")
    return tuple(code for _, code in statuses)


def count_of(params: Params) -> int:
    value = params.one("_count")
    if value is None:
        return 20
    if not value.isdigit():
        raise InvalidSearch("_count must be a whole number", parameter="_count")
    return min(int(value), MAX_COUNT)


# --- the Bundle -------------------------------------------------------------------------------


def search_url(base: str, path: str, pairs: Iterable[tuple[str, str]]) -> str:
    query = urllib.parse.urlencode([(k, v) for k, v in pairs if k != "_cursor"])
    return f"{base}/fhir/{path}" + (f"?{query}" if query else "")


def links(
    base: str, path: str, params: Params, fmt: str | None, next_cursor: str | None
) -> list[dict[str, str]]:
    """``self`` (the parameters used, as a GET) and ``next`` (the same + the next cursor)."""
    pairs = list(params.used)
    if fmt:
        pairs.append(("_format", fmt))
    url = search_url(base, path, pairs)
    found = [{"relation": "self", "url": _with_cursor(url, params.one("_cursor"))}]
    if next_cursor:
        found.append({"relation": "next", "url": _with_cursor(url, next_cursor)})
    return found


def _with_cursor(url: str, cursor: str | None) -> str:
    if not cursor:
        return url
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"_cursor": cursor})


def outcome_entry(message: str, *, code: str, issue_type: str = "not-found") -> dict[str, Any]:
    """A warning entry of a searchset (MHD: warnings in an OperationOutcome entry)."""
    return {
        "resource": outcome(issue(message, code=code, severity="warning", issue_type=issue_type)),
        "search": {"mode": "outcome"},
    }


def unknown_patient_bundle(base: str, path: str, params: Params, fmt: str | None) -> dict[str, Any]:
    return bundle(
        "searchset",
        [outcome_entry("no record exists for this INS", code="unknown-patient")],
        total=0,
        links=links(base, path, params, fmt, None),
    )


def identifiers_of(
    params: Params,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[uuid.UUID, ...]]:
    """The ``identifier`` token as (uniqueIds, entryUUIDs, logical ids)."""
    unique_ids: list[str] = []
    entry_uuids: list[str] = []
    ids: list[uuid.UUID] = []
    for system, value in params.tokens("identifier"):
        if system == LOGICAL_ID_SYSTEM:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                raise InvalidSearch(
                    "identifier: a logical id is a UUID", parameter="identifier"
                ) from None
        elif value.startswith("urn:uuid:"):
            entry_uuids.append(value)
        elif system in (None, "") and _is_uuid(value):
            # A bare UUID: the entryUUID (the DocumentReference id) or the logical id.
            entry_uuids.append(value)
            ids.append(uuid.UUID(value))
        else:
            unique_ids.append(value)
    return tuple(unique_ids), tuple(entry_uuids), tuple(ids)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
