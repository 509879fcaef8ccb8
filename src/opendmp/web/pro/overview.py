"""Professional portal, a patient's documents at a glance (docs/portals.md, "The professional
view"): care episodes newest first, each folded to one line with its key document; earlier
versions and duplicates folded under the current document; the reader's profession's
relevant documents first (a doctor's medical synthesis pinned on top); what is new since
the professional's last visit marked; a search in titles and types with filters that stay
when paging. Folding is plain HTML (``<details>``), no script.

The view is the document service's (``services.documents.overview``): the access filter
runs first, so a document the reader may not see is never counted, folded or hinted at.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from opendmp.domain.codes import DOCUMENT_CLASSES, DOCUMENT_TYPES
from opendmp.domain.codes import HEALTHCARE_FACILITY_TYPES as FACILITIES
from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.domain.overview import Episode, Line
from opendmp.services.documents import DocumentQuery, PageRequest
from opendmp.services.documents.overview import OverviewPage, OverviewQuery, document_overview
from opendmp.services.documents.views import DocumentView
from opendmp.web.common import ctx_of, error_text, language, render
from opendmp.web.pro.context import dossier_of, time_text
from opendmp.web.pro.documents import _label, _options, _period
from opendmp.web.pro.patients import banner, dossier_page

router = APIRouter(prefix="/dossiers/{handle}", include_in_schema=False)
EPISODES_PER_PAGE = 10
PARAMETERS = ("q", "type", "classe", "du", "au", "auteur", "tout")
MAX_TEXT = 100


def _query(params: dict[str, str]) -> OverviewQuery:
    type_code, class_code = params["type"], params["classe"]
    if type_code and type_code not in DOCUMENT_TYPES:
        raise InvalidInput("unknown document type", code="invalid-type")
    if class_code and class_code not in DOCUMENT_CLASSES:
        raise InvalidInput("unknown document class", code="invalid-class")
    if len(params["q"]) > MAX_TEXT:
        raise InvalidInput("the search text is too long", code="invalid-search")
    documents = DocumentQuery(
        type_codes=(type_code,) if type_code else (),
        class_codes=(class_code,) if class_code else (),
        period=_period(params),
        author_family=params["auteur"] or None,
        # Archived documents only with "everything", as in the list.
        is_archived=None if params["tout"] == "1" else False,
    )
    return OverviewQuery(documents, text=params["q"] or None)


def _day(view: DocumentView, lang: str) -> str:
    act = view.service_start or view.creation_time or view.deposited_at
    return time_text(act, lang).split(" ")[0]


def _line(line: Line, page: OverviewPage, lang: str, base: str) -> dict[str, Any]:
    view = page.views[line.entry.id]
    return {
        "id": str(view.id),
        "href": f"{base}/documents/{view.id}",
        "title": view.title,
        "type": _label(DOCUMENT_TYPES, view.type_code, lang),
        "act": _day(view, lang),
        "author": view.author_name or view.author_idnat or "—",
        "new": line.new,
        "superseded": view.status == "superseded",
        "folded": [
            {
                "href": f"{base}/documents/{f.entry.id}",
                "title": page.views[f.entry.id].title,
                "act": _day(page.views[f.entry.id], lang),
                "deposited": time_text(page.views[f.entry.id].deposited_at, lang),
                "reason": f.reason,
            }
            for f in line.folded
        ],
    }


def _episode(episode: Episode, page: OverviewPage, lang: str, base: str) -> dict[str, Any]:
    key = page.views[episode.key.entry.id]
    start, end = (time_text(t, lang).split(" ")[0] for t in (episode.start, episode.end))
    return {
        "period": start if start == end else f"{start} – {end}",
        "place": _label(FACILITIES, key.facility_type, lang),
        "key": _line(episode.key, page, lang, base),
        "others": [_line(line, page, lang, base) for line in episode.lines[1:]],
        "new": episode.new,
    }


@router.get("/vue")
async def overview(request: Request, handle: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    lang = language(request)
    params = {name: request.query_params.get(name, "").strip() for name in PARAMETERS}
    cursor = request.query_params.get("curseur") or None
    try:
        page = await document_overview(
            ctx_of(request),
            actor=dossier.actor,
            ins=dossier.ins,
            query=_query(params),
            page=PageRequest(EPISODES_PER_PAGE, cursor),
            visit_started=dossier.opened,
        )
    except (AccessDenied, InvalidInput) as error:
        # The refusal was audited by the service; a clear message on the patient's page.
        status = 403 if isinstance(error, AccessDenied) else 422
        return await dossier_page(
            request, staff, dossier, problem=error_text(error, lang), status_code=status
        )
    kept = {k: v for k, v in params.items() if v}
    base = dossier.base
    return render(
        request,
        "pro/overview.html",
        {
            "dossier": dossier,
            "banner": banner(dossier, lang),
            "params": params,
            "pinned": [_line(line, page, lang, base) for line in page.overview.pinned],
            "first": [_line(line, page, lang, base) for line in page.overview.first],
            "episodes": [_episode(e, page, lang, base) for e in page.overview.episodes],
            "documents": page.documents,
            "episode_count": page.episodes,
            "last_visit": time_text(page.last_visit, lang) if page.last_visit else None,
            "paged": cursor is not None,
            "first_href": f"{base}/vue?" + urlencode(kept),
            "next_href": (
                f"{base}/vue?" + urlencode({**kept, "curseur": page.next_cursor})
                if page.next_cursor
                else None
            ),
            "types": _options(DOCUMENT_TYPES, DOCUMENT_TYPES, lang),
            "classes": _options(DOCUMENT_CLASSES, DOCUMENT_CLASSES, lang),
        },
        binding=staff.binding,
        staff=staff,
    )
