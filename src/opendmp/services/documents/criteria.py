"""The search criteria (ITI-67 + PDSm) and their SQL conditions on ``document``.

Every condition is ANDed with the policy's SQL filter, which already restricts the rows to
one record: the few criteria that read JSON text (event codes, related ids) therefore scan
at most one record's documents, never the table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import cast

from opendmp.storage import models as m

# Core columns: a statement made of them runs without the ORM layer (a page is plain rows).
_D = m.Document.metadata.tables["document"].c

STATUSES = frozenset({"current", "superseded"})
SECURITY_LABELS = frozenset(
    {"N", "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"}
)

# Sort keys: each immutable once the document is deposited (the keyset relies on it). A
# document without a service start sorts by its creation time under ``period``.
SORT_KEYS: dict[str, ColumnElement[dt.datetime]] = {
    "date": _D.deposited_at,
    "creation": _D.creation_time,
    "period": func.coalesce(_D.service_start, _D.creation_time),
}


@dataclass(frozen=True, slots=True)
class DateRange:
    """FHIR date prefixes on one element: ``ge``, ``gt``, ``le``, ``lt`` (all optional)."""

    ge: dt.datetime | None = None
    gt: dt.datetime | None = None
    le: dt.datetime | None = None
    lt: dt.datetime | None = None

    def bounds(self) -> list[tuple[str, dt.datetime]]:
        pairs = (("ge", self.ge), ("gt", self.gt), ("le", self.le), ("lt", self.lt))
        return [(op, value) for op, value in pairs if value is not None]


@dataclass(frozen=True, slots=True)
class DocumentQuery:
    """ITI-67 + PDSm criteria. Within one criterion values are ORed; criteria are ANDed.

    ``statuses`` empty means ``current`` (plus ``superseded`` when ``include_superseded``).
    ``unique_ids``, ``entry_uuids`` and ``ids`` (logical ids) are the FHIR ``identifier``
    parameter: one criterion, matching any of the three. ``period`` has FHIR range semantics
    on [service start, service stop]: ``ge X`` = the act ends at or after X, ``le X`` = it
    starts at or before X; ``period_start`` / ``period_end`` (PDSm) compare one bound each.
    ``author_family`` matches the start of the author's name (stored "FAMILY Given"),
    ``author_given`` the start of a later word, case-insensitively (ASCII case on SQLite).
    ``related_ids`` match ``context.related[].identifier.value`` of the metadata kept as
    given. ``title`` matches a part of the title, any case (ASCII case on SQLite, as the
    author criteria). ``is_archived`` None lists both. ``sort``: ``date`` (deposit), ``creation`` or
    ``period`` (service start), ascending, or descending with a leading ``-``.
    """

    statuses: tuple[str, ...] = ()
    include_superseded: bool = False
    unique_ids: tuple[str, ...] = ()
    entry_uuids: tuple[str, ...] = ()
    ids: tuple[uuid.UUID, ...] = ()
    class_codes: tuple[str, ...] = ()
    type_codes: tuple[str, ...] = ()
    practice_settings: tuple[str, ...] = ()
    facility_types: tuple[str, ...] = ()
    event_codes: tuple[str, ...] = ()
    security_labels: tuple[str, ...] = ()
    format_codes: tuple[str, ...] = ()
    date: DateRange | None = None  # deposited_at (DocumentReference.date)
    creation: DateRange | None = None  # content.attachment.creation
    period: DateRange | None = None  # context.period
    period_start: DateRange | None = None
    period_end: DateRange | None = None
    related_ids: tuple[str, ...] = ()
    author_given: str | None = None
    author_family: str | None = None
    title: str | None = None  # the title contains this text (portal search), any case
    is_archived: bool | None = None
    sort: str = "-date"

    def wanted_statuses(self) -> frozenset[str]:
        if self.statuses:
            return frozenset(self.statuses)
        return STATUSES if self.include_superseded else frozenset({"current"})


def sort_key_of(sort: str, doc: m.Document | Row[Any]) -> dt.datetime:
    match sort.removeprefix("-"):
        case "date":
            return doc.deposited_at
        case "creation":
            return doc.creation_time
        case _:
            return doc.service_start or doc.creation_time


def _range(column: Any, found: DateRange | None) -> list[ColumnElement[bool]]:
    if found is None:
        return []
    ops = {
        "ge": column.__ge__,
        "gt": column.__gt__,
        "le": column.__le__,
        "lt": column.__lt__,
    }
    return [ops[op](value) for op, value in found.bounds()]


def _period(found: DateRange | None) -> list[ColumnElement[bool]]:
    """FHIR range semantics: the searched range and the act's period intersect."""
    if found is None:
        return []
    start = func.coalesce(_D.service_start, _D.creation_time)
    end = func.coalesce(_D.service_stop, start)
    conditions: list[ColumnElement[bool]] = []
    for op, value in found.bounds():
        match op:
            case "ge":
                conditions.append(end >= value)
            case "gt":
                conditions.append(end > value)
            case "le":
                conditions.append(start <= value)
            case _:
                conditions.append(start < value)
    return conditions


def _identifiers(query: DocumentQuery) -> list[ColumnElement[bool]]:
    options: list[ColumnElement[bool]] = []
    if query.unique_ids:
        # FHIR writes an OID uniqueId as urn:oid:…; XDS stores the bare OID.
        values = {v.removeprefix("urn:oid:") for v in query.unique_ids} | set(query.unique_ids)
        options.append(_D.unique_id.in_(sorted(values)))
    if query.entry_uuids:
        values = {f"urn:uuid:{v.removeprefix('urn:uuid:').lower()}" for v in query.entry_uuids}
        options.append(_D.entry_uuid.in_(sorted(values)))
    if query.ids:
        options.append(_D.id.in_(list(query.ids)))
    return [or_(*options)] if options else []


def _labels(labels: tuple[str, ...]) -> list[ColumnElement[bool]]:
    if not labels:
        return []
    flags = {
        "MASQUE_PS": _D.masked_by_patient,
        "INVISIBLE_PATIENT": _D.invisible_to_patient,
        "INVISIBLE_REPRESENTANTS_LEGAUX": _D.invisible_to_representatives,
    }
    options: list[ColumnElement[bool]] = [
        flags[label].is_(True) for label in sorted(set(labels)) if label in flags
    ]
    if "N" in labels:
        options.append(and_(*(not_(flag.is_(True)) for flag in flags.values())))
    return [or_(*options)]


def _related(values: tuple[str, ...], dialect: str) -> list[ColumnElement[bool]]:
    if not values:
        return []
    if dialect == "postgresql":
        related = cast(_D.extra, JSONB)["context"]["related"]
        return [
            and_(
                _D.extra.is_not(None),
                or_(*(related.contains([{"identifier": {"value": v}}]) for v in values)),
            )
        ]
    entries = func.json_each(_D.extra, "$.context.related").table_valued("value")
    return [
        and_(
            _D.extra.is_not(None),
            select(literal(1))
            .select_from(entries)
            .where(func.json_extract(entries.c.value, "$.identifier.value").in_(list(values)))
            .exists(),
        )
    ]


def _author(query: DocumentQuery) -> list[ColumnElement[bool]]:
    if not (query.author_family or query.author_given):
        return []
    name = func.lower(func.coalesce(_D.author_name, ""))
    conditions: list[ColumnElement[bool]] = []
    if query.author_family:
        conditions.append(name.startswith(query.author_family.strip().lower(), autoescape=True))
    if query.author_given:
        given = " " + query.author_given.strip().lower()
        conditions.append(name.contains(given, autoescape=True))
    return conditions


def _title(query: DocumentQuery) -> list[ColumnElement[bool]]:
    text = (query.title or "").strip().lower()
    if not text:
        return []
    return [func.lower(_D.title).contains(text, autoescape=True)]


def _codes(column: Any, values: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [column.in_(sorted(set(values)))] if values else []


def criteria_conditions(query: DocumentQuery, *, dialect: str) -> list[ColumnElement[bool]]:
    """The criteria of ``query`` as conditions (statuses and the access filter aside)."""
    conditions: list[ColumnElement[bool]] = [
        *_identifiers(query),
        *_codes(_D.class_code, query.class_codes),
        *_codes(_D.type_code, query.type_codes),
        *_codes(_D.practice_setting, query.practice_settings),
        *_codes(_D.facility_type, query.facility_types),
        *_codes(_D.format_code, query.format_codes),
        *_labels(query.security_labels),
        *_range(_D.deposited_at, query.date),
        *_range(_D.creation_time, query.creation),
        *_period(query.period),
        *_range(_D.service_start, query.period_start),
        *_range(_D.service_stop, query.period_end),
        *_related(query.related_ids, dialect),
        *_author(query),
        *_title(query),
    ]
    if query.event_codes:
        # Stored as a JSON list of strings: match the JSON-encoded code, quotes included.
        conditions.append(
            or_(
                *(
                    _D.event_codes.contains(orjson.dumps(code).decode(), autoescape=True)
                    for code in sorted(set(query.event_codes))
                )
            )
        )
    if query.is_archived is not None:
        conditions.append(_D.archived.is_(query.is_archived))
    return conditions
