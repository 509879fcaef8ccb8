"""The professional view as a FHIR search option (docs/api.md, "The professional view"):
``GET /fhir/DocumentReference?…&_view=episodes``, with ``_text`` to search titles and types.

The same service as the portal's view (``services.documents.overview``), so the same access
filter first: a document the reader may not see is never counted, folded or hinted at. The
searchset lists, on the first page, the pinned documents and those first for the reader's
profession, then ``_count`` care episodes (newest first) and, in each, its key document, the
other documents and what is folded under each. Every entry says its place in the view in
``entry.search.extension`` (``OVERVIEW``): a document may appear twice (pinned or first,
then in its episode); ``total`` counts documents once.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.domain.overview import Episode, Line
from opendmp.fhir.formats import fhir_response
from opendmp.fhir.mapping import bundle, document_reference, fhir_instant
from opendmp.fhir.provide import _ctx
from opendmp.fhir.search_params import InvalidSearch, Params, links
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery, PageRequest
from opendmp.services.documents.overview import (
    DEFAULT_EPISODES,
    MAX_EPISODES,
    OverviewPage,
    OverviewQuery,
    document_overview,
)
from opendmp.services.documents.views import DocumentView

OVERVIEW = "https://opendmp.example/fhir/StructureDefinition/document-overview"
VIEWS = frozenset({"episodes"})


def overview_query(params: Params, documents: DocumentQuery) -> OverviewQuery:
    """The view's criteria: the ITI-67 filters, ``_text``; its own order and statuses."""
    if params.one("_view") not in VIEWS:
        raise InvalidSearch("_view must be episodes", parameter="_view")
    if params.one("_sort") is not None:
        raise InvalidSearch("_view=episodes has its own order: leave _sort out", parameter="_sort")
    if "current" not in documents.wanted_statuses():
        raise InvalidSearch(
            "_view=episodes shows current documents (superseded ones folded under them): "
            "status must include current",
            parameter="status",
        )
    text = params.one("_text")
    if text is not None and len(text) > 100:
        raise InvalidSearch("_text must be at most 100 characters", parameter="_text")
    return OverviewQuery(documents, text=text)


def _episode_count(params: Params) -> int:
    value = params.one("_count")
    if value is None:
        return DEFAULT_EPISODES
    if not value.isdigit() or not 1 <= int(value) <= MAX_EPISODES:
        raise InvalidSearch(
            f"_count (episodes a page) must be from 1 to {MAX_EPISODES}", parameter="_count"
        )
    return int(value)


def _place(role: str, line: Line, episode: Episode | None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"url": "role", "valueCode": role},
        {"url": "rank", "valueInteger": line.rank},
        {"url": "new", "valueBoolean": line.new},
    ]
    if episode is not None:
        parts += [
            {"url": "episode", "valueString": str(episode.key.entry.id)},
            {"url": "episodeStart", "valueDateTime": fhir_instant(episode.start)},
            {"url": "episodeEnd", "valueDateTime": fhir_instant(episode.end)},
        ]
    return parts


class _Entries:
    def __init__(self, ctx: ServiceContext, ins: Ins, page: OverviewPage) -> None:
        self.ctx, self.ins, self.page = ctx, ins, page
        self.items: list[dict[str, Any]] = []

    def add(self, view: DocumentView, place: list[dict[str, Any]]) -> None:
        replaced = self.page.views.get(view.replaces_id) if view.replaces_id else None
        resource = document_reference(
            view,
            base_url=self.ctx.base_url,
            ins_oid=self.ins.oid,
            ins_value=self.ins.value,
            replaces_entry_uuid=replaced.entry_uuid if replaced else None,
        )
        self.items.append(
            {
                "fullUrl": f"{self.ctx.base_url}/fhir/DocumentReference/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match", "extension": [{"url": OVERVIEW, "extension": place}]},
            }
        )

    def line(self, role: str, line: Line, episode: Episode | None) -> None:
        self.add(self.page.views[line.entry.id], _place(role, line, episode))
        for folded in line.folded:
            under = {"reference": f"DocumentReference/{line.entry.id}"}
            self.add(
                self.page.views[folded.entry.id],
                [
                    {"url": "role", "valueCode": "folded"},
                    {"url": "foldReason", "valueCode": folded.reason},
                    {"url": "foldedUnder", "valueReference": under},
                ],
            )


async def find_episodes(
    request: Request, params: Params, query: OverviewQuery, *, actor: Actor, ins: Ins
) -> Response:
    """The searchset of the view (the caller checked the scope and the patient)."""
    ctx = _ctx(request)
    page = await document_overview(
        ctx,
        actor=actor,
        ins=ins,
        query=query,
        page=PageRequest(_episode_count(params), params.one("_cursor")),
    )
    entries = _Entries(ctx, ins, page)
    for line in page.overview.pinned:
        entries.line("pinned", line, None)
    for line in page.overview.first:
        entries.line("first", line, None)
    for episode in page.overview.episodes:
        entries.line("key", episode.key, episode)
        for line in episode.lines[1:]:
            entries.line("member", line, episode)
    fmt = request.query_params.get("_format")
    body = bundle(
        "searchset",
        entries.items,
        total=page.documents,
        links=links(ctx.base_url, "DocumentReference", params, fmt, page.next_cursor),
    )
    return fhir_response(request, body)
