"""Search a record's documents (ITI-67 / PDSm, DMP TD3.1) with keyset paging.

The WHERE clause is the policy's SQL filter (``storage.document_filter.readable_documents``)
AND the criteria: documents are never loaded to be filtered in Python. A page costs three
statements whatever its size: the page, the total, the entryUUIDs of replaced versions.

Paging is keyset on (sort key, id) — no OFFSET — with an opaque cursor signed by a key
derived from the master key. The cursor pins:

- the record and a digest of the criteria (a cursor is refused with other criteria);
- the sort, and the (key, id) of the last row served;
- a snapshot bound: the first page's time ``T``; later pages only consider documents with
  ``deposited_at <= T``.

Every sort key (deposit time, creation time, service start) is immutable once deposited, so a
row's place in the order never moves: no page repeats a row and none skips a document that
existed when the first page was served, whatever is deposited or replaced between page
fetches. The bound is on ``deposited_at``, not on ``updated_at``, on purpose: the snapshot pins
*which documents are candidates*, never *what the reader may see*. Access rights and
metadata (mask, visibility, status, archive) are evaluated at each page against the current
state, so a document masked or deleted after the first page is not served by later pages —
the access rules win over snapshot consistency. A deposit whose transaction began before
``T`` but committed after the first page may appear on a later page or not (it did not exist
for the first one); either way it appears at most once. The total is counted under the same
bound, so it is stable unless documents leave the reader's view meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field, fields, replace
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Facts
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.documents.consultation import consulted
from opendmp.services.documents.criteria import (
    SECURITY_LABELS,
    SORT_KEYS,
    STATUSES,
    DateRange,
    DocumentQuery,
    criteria_conditions,
    sort_key_of,
)
from opendmp.services.documents.views import DocumentView, document_views
from opendmp.storage import models as m
from opendmp.storage.document_filter import BoundFilter, bound_readable_documents
from opendmp.storage.replica import search_reader

__all__ = [
    "Cursor",
    "DateRange",
    "DocumentPage",
    "DocumentQuery",
    "PageRequest",
    "decode_cursor",
    "encode_cursor",
    "search_documents",
]

DEFAULT_COUNT = 20
MAX_COUNT = 100
_CURSOR_CONTEXT = b"opendmp:document-search-cursor:v1"
_DOCUMENT_COLUMNS = tuple(m.Document.metadata.tables["document"].c)


@dataclass(frozen=True, slots=True)
class PageRequest:
    count: int = DEFAULT_COUNT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentPage:
    items: list[DocumentView]
    total: int
    next_cursor: str | None
    # logicalId of a replaced version -> its entryUUID (for ``relatesTo``), for the items
    # that replace another version.
    replaced_entry_uuids: dict[uuid.UUID, str] = field(default_factory=dict)


# --- validation -------------------------------------------------------------------------------


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid-search")


def _validate(query: DocumentQuery, page: PageRequest) -> int:
    problems: list[str] = []
    unknown = set(query.statuses) - STATUSES
    if unknown:
        problems.append(f"status must be current or superseded, not {', '.join(sorted(unknown))}")
    labels = set(query.security_labels) - SECURITY_LABELS
    if labels:
        problems.append(f"unknown security label {', '.join(sorted(labels))}")
    if query.sort.removeprefix("-") not in SORT_KEYS:
        problems.append(f"sort must be one of {', '.join(sorted(SORT_KEYS))} (optionally -)")
    for name in ("date", "creation", "period", "period_start", "period_end"):
        found: DateRange | None = getattr(query, name)
        if found and any(v.tzinfo is None for _, v in found.bounds()):
            problems.append(f"{name} bounds must carry a time zone")
    if page.count < 0:
        problems.append("count must not be negative")
    if problems:
        raise _invalid("; ".join(problems))
    return min(page.count, MAX_COUNT)


# --- cursor -----------------------------------------------------------------------------------


def _cursor_key(ctx: ServiceContext) -> bytes:
    return _derived_key(ctx.master_key.raw)


@functools.lru_cache(maxsize=4)
def _derived_key(master_key: bytes) -> bytes:
    # A key of its own, derived from the master key: the master key itself signs nothing.
    return hmac.new(master_key, _CURSOR_CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_QUERY_FIELDS = tuple(f.name for f in fields(DocumentQuery))


def query_digest(query: DocumentQuery) -> str:
    """A digest of the criteria (no value in clear: the cursor travels in URLs and logs).

    The JSON of ``asdict(query)`` with sorted keys, without ``asdict``'s deep copy (a tenth
    of the cost): orjson writes the nested ``DateRange`` itself, its fields in declaration
    order, which is sorted (ge, gt, le, lt)."""
    values = {name: getattr(query, name) for name in _QUERY_FIELDS}
    canonical = orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Cursor:
    record_id: uuid.UUID
    digest: str
    sort: str
    key: dt.datetime
    last_id: uuid.UUID
    snapshot: dt.datetime


def encode_cursor(ctx: ServiceContext, cursor: Cursor) -> str:
    body = orjson.dumps(
        {
            "v": 1,
            "r": str(cursor.record_id),
            "q": cursor.digest,
            "s": cursor.sort,
            "k": cursor.key.isoformat(),
            "i": str(cursor.last_id),
            "t": cursor.snapshot.isoformat(),
        }
    )
    mac = hmac.new(_cursor_key(ctx), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def decode_cursor(ctx: ServiceContext, token: str) -> Cursor:
    """The cursor, or ``invalid-cursor`` if it was not made by us, altered, or malformed."""
    refused = InvalidInput("the paging cursor is not valid", code="invalid-cursor")
    try:
        body_text, mac_text = token.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        raise refused from None
    expected = hmac.new(_cursor_key(ctx), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise refused
    try:
        data: dict[str, Any] = orjson.loads(body)
        cursor = Cursor(
            record_id=uuid.UUID(data["r"]),
            digest=str(data["q"]),
            sort=str(data["s"]),
            key=dt.datetime.fromisoformat(data["k"]),
            last_id=uuid.UUID(data["i"]),
            snapshot=dt.datetime.fromisoformat(data["t"]),
        )
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        raise refused from None
    if data.get("v") != 1:
        raise refused
    return cursor


@dataclass(slots=True)
class PageCursor:
    """A paging token, decoded and checked against the record once the record is found
    (404 before 400) and before the policy is asked (``guarded``'s ``prepare``)."""

    ctx: ServiceContext
    token: str | None
    digest: str
    sort: str
    cursor: Cursor | None = None

    async def check(self, session: AsyncSession, record: m.Record, facts: Facts) -> Facts:
        self.cursor = decode_cursor(self.ctx, self.token) if self.token is not None else None
        if self.cursor is not None and (
            self.cursor.record_id != record.id
            or self.cursor.digest != self.digest
            or self.cursor.sort != self.sort
        ):
            raise InvalidInput("the paging cursor is not valid", code="invalid-cursor")
        return facts


# --- the search -------------------------------------------------------------------------------

_TABLE = m.Document.metadata.tables["document"]
_D = _TABLE.c
_ID = bindparam("after_id", type_=_D.id.type)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a search statement's text depends on; every value in it is a bind parameter
    (``snapshot``, ``page_limit``, ``after_key``, ``after_id`` and the access filter's),
    so the statement of a shape without criteria is built once."""

    access: BoundFilter = field(compare=False)  # compared by its key
    access_key: tuple[Any, ...] | None
    statuses: tuple[str, ...]
    sort: str
    after: bool  # a later page: rows after the cursor's (key, id)
    # Criteria carry their values as literals: a shape with criteria is never cached.
    criteria: tuple[ColumnElement[bool], ...] = field(default=(), compare=False)


def _where(shape: _Shape) -> list[ColumnElement[bool]]:
    return [
        shape.access.condition,
        _D.status.in_(shape.statuses) if shape.statuses else false(),
        _D.deposited_at <= bindparam("snapshot"),
        *shape.criteria,
    ]


def _after(sort: str) -> ColumnElement[bool]:
    """Rows strictly after the cursor's (key, id) in the page order."""
    key = SORT_KEYS[sort.removeprefix("-")]
    after_key = bindparam("after_key", type_=key.type)
    if sort.startswith("-"):
        return or_(key < after_key, and_(key == after_key, _D.id < _ID))
    return or_(key > after_key, and_(key == after_key, _D.id > _ID))


def _page_statement(shape: _Shape) -> Select[Any]:
    # Plain rows, not ORM objects: a page is read-only, and loading 21 mapped instances
    # into the identity map cost more than the query. On the first page the page's own
    # rows are the whole match set, so the total rides along as a window count instead of
    # a second statement.
    key = SORT_KEYS[shape.sort.removeprefix("-")]
    order = (key.desc(), _D.id.desc()) if shape.sort.startswith("-") else (key, _D.id)
    columns: list[ColumnElement[Any]] = [*_DOCUMENT_COLUMNS]
    where = _where(shape)
    if shape.after:
        where.append(_after(shape.sort))
    else:
        columns.append(func.count().over().label("match_total"))
    limit = bindparam("page_limit", type_=Integer())
    return select(*columns).where(*where).order_by(*order).limit(limit)


def _total_statement(shape: _Shape) -> Select[Any]:
    return select(func.count()).select_from(_TABLE).where(*_where(shape))


# The statements of the shapes without criteria (the usual ITI-67 search), built once each.
_cached_page = functools.lru_cache(maxsize=256)(_page_statement)
_cached_total = functools.lru_cache(maxsize=256)(_total_statement)


def _page(shape: _Shape) -> Select[Any]:
    return _page_statement(shape) if shape.criteria else _cached_page(shape)


def _total(shape: _Shape) -> Select[Any]:
    return _total_statement(shape) if shape.criteria else _cached_total(shape)


async def search_documents(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    query: DocumentQuery,
    page: PageRequest = PageRequest(),
) -> DocumentPage:
    """One page of the documents of ``ins``'s record that ``actor`` may read and that match
    ``query``; audited once as ``document:document:search`` (counts only, no criteria)."""
    count = _validate(query, page)
    digest = query_digest(query)
    paging = PageCursor(ctx, page.cursor, digest, query.sort)
    statuses = query.wanted_statuses()
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SEARCH_DOCUMENTS,
        audit_action=AuditAction.DOCUMENT_SEARCH,
        include_superseded="superseded" in statuses,
        prepare=paging.check,
        audited_read=True,
    ) as g:
        session, record, now = g.session, g.record, g.now
        cursor = paging.cursor
        snapshot = cursor.snapshot if cursor is not None else now
        access = bound_readable_documents(
            record_id=record.id,
            actor=g.actor,
            facts=g.who.facts,
            matrix=ctx.matrix,
            actor_professional_id=g.who.professional_id,
            actor_organization_id=g.who.organization_id,
        )
        shape = _Shape(
            access,
            access.key,
            tuple(sorted(statuses)),
            query.sort,
            after=cursor is not None,
            criteria=tuple(criteria_conditions(query, dialect=session.get_bind().dialect.name)),
        )
        values = {**access.values, "snapshot": snapshot}
        # The rows may come from a read replica that has caught up with this transaction;
        # the decision above and the audit event below stay on the primary (docs/database.md).
        async with search_reader(session, ctx.replica) as reader:
            items: list[DocumentView] = []
            next_cursor = None
            total: int | None = None
            if count:
                params = {**values, "page_limit": count + 1}
                if cursor is not None:
                    params |= {"after_key": cursor.key, "after_id": cursor.last_id}
                statement = _page(shape)
                rows = list((await reader.execute(statement, params)).all())
                if cursor is None:
                    total = int(rows[0].match_total) if rows else 0
                items = document_views(rows[:count])
                if len(rows) > count:
                    last = rows[count - 1]
                    next_cursor = encode_cursor(
                        ctx,
                        Cursor(
                            record.id,
                            digest,
                            query.sort,
                            sort_key_of(query.sort, last),
                            last.id,
                            snapshot,
                        ),
                    )
            if total is None:
                statement = _total(replace(shape, after=False))
                total = int((await reader.execute(statement, values)).scalar_one())
            replaced_ids = sorted({v.replaces_id for v in items if v.replaces_id is not None})
            replaced: dict[uuid.UUID, str] = {}
            if replaced_ids:
                replaced = {
                    row.id: row.entry_uuid
                    for row in await reader.execute(
                        select(_D.id, _D.entry_uuid).where(
                            _D.record_id == record.id, _D.id.in_(replaced_ids)
                        )
                    )
                }
        await consulted(
            g,
            AuditAction.DOCUMENT_SEARCH,
            {"count": len(items), "total": total, "page": "next" if cursor else "first"},
        )
        await g.uow.commit()
        return DocumentPage(items, total, next_cursor, replaced)
