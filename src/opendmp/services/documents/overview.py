"""The professional view without clutter (docs/portals.md, "The professional view"; FHIR
``_view=episodes``, docs/api.md): a record's documents grouped into care episodes, versions
and duplicates folded, the reader's profession's relevant documents first, what is new since
the reader's last visit marked.

Everything goes through the access filter first: the rows are the policy's SQL filter AND the
criteria, so what the reader may not see is never counted, folded or hinted at. The grouping
itself (``domain.overview``) needs the whole match set: one statement reads the matching
documents' metadata (no content) — a record of 300 documents is one small query — bounded
by a snapshot, as the search's pages are. Pages are ``count`` episodes each, with a signed
cursor pinning the record, the criteria, the snapshot and the offset: the episodes of a
snapshot never move, so no page repeats or skips one.

The reader's *last visit* is their previous successful access to this record (a search or a
read) before the current visit began, from the audit trail (its index on record and time):
the portal's visit begins when the professional opened the patient in their session, an API
client's at the first page of its search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field

import orjson
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.codes import DOCUMENT_TYPES
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.overview import Entry, Overview, build_overview
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.core.matrix_loader import load_relevance
from opendmp.services.documents.consultation import consulted
from opendmp.services.documents.criteria import DocumentQuery, criteria_conditions
from opendmp.services.documents.search import (
    PageRequest,
    _b64,
    _cursor_key,
    _unb64,
    query_digest,
)
from opendmp.services.documents.views import DocumentView, document_view
from opendmp.storage import models as m
from opendmp.storage.replica import search_reader

__all__ = ["OverviewPage", "OverviewQuery", "document_overview"]

DEFAULT_EPISODES = 10
MAX_EPISODES = 50
_DOCUMENT_COLUMNS = tuple(m.Document.metadata.tables["document"].c)
# What counts as having looked at the record (the visit's accesses).
VISIT_ACTIONS = (AuditAction.DOCUMENT_SEARCH, AuditAction.DOCUMENT_READ)


@dataclass(frozen=True, slots=True)
class OverviewQuery:
    """The filters of the view (``documents``: type, class, period, author, archived; its
    statuses and sort are the view's own) and ``text``, searched in titles and type names."""

    documents: DocumentQuery = field(default_factory=DocumentQuery)
    text: str | None = None


@dataclass(frozen=True, slots=True)
class OverviewPage:
    overview: Overview  # pinned and first on the first page only; this page's episodes
    views: dict[uuid.UUID, DocumentView]  # every document the page shows or folds
    documents: int  # documents matched (folded ones included)
    episodes: int  # episodes matched
    last_visit: dt.datetime | None
    next_cursor: str | None


def _invalid_cursor() -> InvalidInput:
    return InvalidInput("the paging cursor is not valid", code="invalid-cursor")


def _digest(query: OverviewQuery) -> str:
    text = (query.text or "").strip().lower()
    return query_digest(query.documents) + hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode(ctx: ServiceContext, body: dict[str, object]) -> str:
    raw = orjson.dumps({"v": 1, "view": "episodes", **body})
    return f"{_b64(raw)}.{_b64(hmac.new(_cursor_key(ctx), raw, hashlib.sha256).digest())}"


def _decode(
    ctx: ServiceContext, token: str, record_id: uuid.UUID, digest: str
) -> tuple[dt.datetime, int]:
    """(snapshot, offset) of a cursor made by us for this record and these criteria."""
    try:
        body_text, mac_text = token.split(".", 1)
        raw, mac = _unb64(body_text), _unb64(mac_text)
        expected = hmac.new(_cursor_key(ctx), raw, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise _invalid_cursor()
        data = orjson.loads(raw)
        if (data.get("view"), data.get("r"), data.get("q")) != ("episodes", str(record_id), digest):
            raise _invalid_cursor()
        offset = int(data["o"])
        snapshot = dt.datetime.fromisoformat(str(data["t"]))
    except (ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError):
        raise _invalid_cursor() from None
    if offset < 0 or snapshot.tzinfo is None:
        raise _invalid_cursor()
    return snapshot, offset


def _text_condition(text: str | None) -> list[ColumnElement[bool]]:
    """The text in the title, or in the type's name (French or English) or code."""
    wanted = (text or "").strip().lower()
    if not wanted:
        return []
    types = sorted(
        code
        for code, known in DOCUMENT_TYPES.items()
        if wanted in code.lower() or wanted in known.fr.lower() or wanted in known.en.lower()
    )
    title = func.lower(m.Document.title).contains(wanted, autoescape=True)
    return [or_(title, m.Document.type_code.in_(types)) if types else title]


def _entry(view: DocumentView) -> Entry:
    act = view.service_start or view.creation_time or view.deposited_at
    return Entry(
        id=view.id,
        type_code=view.type_code,
        status=view.status,
        act=act,
        act_end=max(view.service_stop or act, act),
        deposited_at=view.deposited_at,
        sha256=view.sha256,
        establishment=view.author_organization_idnat,
        author=view.author_idnat,
        replaces_id=view.replaces_id,
    )


async def _last_visit(
    session: AsyncSession, record_id: uuid.UUID, actor: Actor, before: dt.datetime
) -> dt.datetime | None:
    found = (
        await session.execute(
            select(func.max(m.AuditEvent.time)).where(
                m.AuditEvent.record_id == record_id,
                m.AuditEvent.actor_id == actor.actor_id,
                m.AuditEvent.outcome == "success",
                m.AuditEvent.action.in_([a.value for a in VISIT_ACTIONS]),
                m.AuditEvent.time < before,
            )
        )
    ).scalar_one_or_none()
    return found


def _page(overview: Overview, offset: int, count: int) -> Overview:
    return Overview(
        pinned=overview.pinned if offset == 0 else (),
        first=overview.first if offset == 0 else (),
        episodes=overview.episodes[offset : offset + count],
    )


async def document_overview(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    query: OverviewQuery = OverviewQuery(),
    page: PageRequest = PageRequest(count=DEFAULT_EPISODES),
    visit_started: dt.datetime | None = None,
) -> OverviewPage:
    """One page (``page.count`` episodes) of the view of ``ins``'s record for ``actor``;
    audited as a search (``document:document:search``, counts only, ``view: episodes``)."""
    count, cursor = page.count, page.cursor
    if not 1 <= count <= MAX_EPISODES:
        raise InvalidInput(f"count must be from 1 to {MAX_EPISODES}", code="invalid-search")
    digest = _digest(query)
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SEARCH_DOCUMENTS,
        audit_action=AuditAction.DOCUMENT_SEARCH,
        include_superseded=True,
        audited_read=True,
    ) as g:
        snapshot, offset = g.now, 0
        if cursor is not None:
            snapshot, offset = _decode(ctx, cursor, g.record.id, digest)
        last_visit = await _last_visit(g.session, g.record.id, actor, visit_started or snapshot)
        where = [
            g.readable_documents(),
            m.Document.status.in_(["current", "superseded"]),
            m.Document.deposited_at <= snapshot,
            *criteria_conditions(query.documents, dialect=g.session.get_bind().dialect.name),
            *_text_condition(query.text),
        ]
        async with search_reader(g.session, ctx.replica) as reader:
            rows = (await reader.execute(select(*_DOCUMENT_COLUMNS).where(*where))).all()
        views = {view.id: view for view in map(document_view, rows)}
        whole = build_overview(
            map(_entry, views.values()),
            relevance=load_relevance(),
            profession=getattr(actor, "profession", None),
            last_visit=last_visit,
        )
        shown = _page(whole, offset, count)
        next_cursor = None
        if offset + count < len(whole.episodes):
            body = {
                "r": str(g.record.id),
                "q": digest,
                "t": snapshot.isoformat(),
                "o": offset + count,
            }
            next_cursor = _encode(ctx, body)
        await consulted(
            g,
            AuditAction.DOCUMENT_SEARCH,
            {
                "view": "episodes",
                "count": sum(len(e.lines) for e in shown.episodes),
                "total": len(views),
                "page": "next" if cursor else "first",
            },
        )
        await g.uow.commit()
        return OverviewPage(shown, views, len(views), len(whole.episodes), last_visit, next_cursor)
