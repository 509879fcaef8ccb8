"""What every document use case shares: the view of a document entry and the record's key.

Kept apart from ``documents`` so that the search, update, history and export modules can
build on it without import cycles; ``documents`` re-exports the public names.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import orjson
from sqlalchemy import Row

from opendmp.domain.errors import Gone
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.keys import SealedDataKey, open_data_key
from opendmp.storage import models as m


@dataclass(frozen=True, slots=True)
class DocumentView:
    """Everything an interface needs to present a document entry (no content)."""

    id: uuid.UUID  # logicalId
    unique_id: str
    record_id: uuid.UUID
    title: str
    type_code: str
    class_code: str
    mime_type: str
    size: int
    sha256: str
    status: str
    deposited_at: dt.datetime
    entry_uuid: str = ""
    sha1: str = ""
    format_code: str = ""
    language: str = "fr-FR"
    archived: bool = False
    masked_by_patient: bool = False
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    author_idnat: str | None = None
    author_name: str | None = None
    author_role: str | None = None
    author_specialty: str | None = None
    author_organization_idnat: str | None = None
    practice_setting: str | None = None
    facility_type: str | None = None
    event_codes: tuple[str, ...] = ()
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    creation_time: dt.datetime | None = None
    replaces_id: uuid.UUID | None = None
    submission_set_id: uuid.UUID | None = None
    deposited_by_kind: str = ""
    version: int = 1
    updated_at: dt.datetime | None = None
    extra: str | None = None  # canonical JSON of the FHIR metadata kept as given
    deleted_at: dt.datetime | None = None


def document_view(doc: m.Document | Row[Any]) -> DocumentView:
    """The view of a mapped document, or of a row of the ``document`` table's columns."""
    return DocumentView(
        id=doc.id,
        unique_id=doc.unique_id,
        record_id=doc.record_id,
        title=doc.title,
        type_code=doc.type_code,
        class_code=doc.class_code,
        mime_type=doc.mime_type,
        size=doc.size,
        sha256=doc.sha256,
        status=doc.status,
        deposited_at=doc.deposited_at,
        entry_uuid=doc.entry_uuid,
        sha1=doc.sha1,
        format_code=doc.format_code,
        language=doc.language,
        archived=doc.archived,
        masked_by_patient=doc.masked_by_patient,
        invisible_to_patient=doc.invisible_to_patient,
        invisible_to_representatives=doc.invisible_to_representatives,
        author_idnat=doc.author_idnat,
        author_name=doc.author_name,
        author_role=doc.author_role,
        author_specialty=doc.author_specialty,
        author_organization_idnat=doc.author_organization_idnat,
        practice_setting=doc.practice_setting,
        facility_type=doc.facility_type,
        event_codes=tuple(orjson.loads(doc.event_codes)) if doc.event_codes else (),
        service_start=doc.service_start,
        service_stop=doc.service_stop,
        creation_time=doc.creation_time,
        replaces_id=doc.replaces_id,
        submission_set_id=doc.submission_set_id,
        deposited_by_kind=doc.deposited_by_kind,
        version=doc.version,
        updated_at=doc.updated_at,
        extra=doc.extra,
        deleted_at=doc.deleted_at,
    )


_FIELDS = tuple(f.name for f in fields(DocumentView))
_EVENT_CODES = _FIELDS.index("event_codes")
_ROW_READERS: dict[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] = {}


def document_views(rows: Iterable[Row[Any]]) -> list[DocumentView]:
    """``document_view`` of each row, its values taken by position: the same views for a
    quarter of the cost (a row's attribute reads and the keyword call cost ~19 µs a view,
    docs/benchmarks.md, "The search page"). The rows hold at least the view's columns."""
    views: list[DocumentView] = []
    read: Callable[[Any], tuple[Any, ...]] | None = None
    for row in rows:
        if read is None:
            read = _row_reader(row._fields)
        values = list(read(row))
        codes = values[_EVENT_CODES]
        values[_EVENT_CODES] = tuple(orjson.loads(codes)) if codes else ()
        views.append(DocumentView(*values))
    return views


def _row_reader(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    found = _ROW_READERS.get(names)
    if found is None:
        found = operator.itemgetter(*(names.index(name) for name in _FIELDS))
        _ROW_READERS[names] = found
    return found


def data_key_of(ctx: ServiceContext, record: m.Record) -> bytes:
    if record.wrapped_data_key is None:
        raise Gone("the record's key was destroyed", code="record-destroyed")
    return open_data_key(
        ctx, SealedDataKey(record.wrapped_data_key, record.kek_epoch, record.master_key_id)
    )
