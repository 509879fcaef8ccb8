"""ITI-67 Find Document References (DMP TD3.1): ``GET /fhir/DocumentReference?…`` and
``POST /fhir/DocumentReference/_search`` (form-encoded).

Parameters map one to one to :class:`opendmp.services.documents.DocumentQuery` (parsing
rules in ``fhir.search_params``); the service filters in SQL (the policy's filter AND the
criteria) and pages by keyset. Choices (docs/api.md):

- ``patient`` is ``[base/]Patient/ins-<INS OID>-<INS>`` (the Patient id scheme of
  ``fhir.identities``); ``patient.identifier`` is ``<INS system>|<INS>``.
- A token's system is not compared: codes are matched alone (one code system per element
  in the DMP's value sets). Comma = OR.
- An unknown INS answers 200 with an empty Bundle and a warning (``XDSUnknownPatientId``):
  whether a record exists is public (TD0.2), so this reveals nothing; a refused reader of an
  existing record gets 403 with the policy's reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins
from opendmp.fhir.formats import FHIR_JSON, fhir_response, response_format
from opendmp.fhir.mapping import bundle, document_reference
from opendmp.fhir.openapi import COUNT, INS_TOKEN, SearchParameter
from opendmp.fhir.overview import VIEWS, find_episodes, overview_query
from opendmp.fhir.provide import _ctx
from opendmp.fhir.search_params import (
    SORTS,
    InvalidSearch,
    Params,
    count_of,
    identifiers_of,
    links,
    patient_of,
    required_statuses,
    search_pairs,
    unknown_patient_bundle,
)
from opendmp.fhir.search_routes import add_search_routes
from opendmp.fhir.searchset_json import searchset_json
from opendmp.services.documents import DocumentPage, DocumentQuery, PageRequest, search_documents

# --- ITI-67 -----------------------------------------------------------------------------------

_CODES = "code, or system|code; comma = OR"
_DATE = "[eq|ne|gt|lt|ge|le]date or dateTime (no zone: Europe/Paris); repeat to AND"
DOCUMENT_SEARCH: dict[str, SearchParameter] = {
    "patient.identifier": SearchParameter(
        "The INS: <INS system>|<INS> (or give patient)", required=True, schema=INS_TOKEN
    ),
    "patient": SearchParameter("[base/]Patient/ins-<oid>-<value>, instead of patient.identifier"),
    "status": SearchParameter("current, superseded (comma = OR)", required=True),
    "identifier": SearchParameter("uniqueId (urn:oid:…), entryUUID (urn:uuid:…) or id"),
    "category": SearchParameter(f"classCode: {_CODES}"),
    "type": SearchParameter(f"typeCode: {_CODES}"),
    "setting": SearchParameter(f"practiceSettingCode: {_CODES}"),
    "facility": SearchParameter(f"healthcareFacilityTypeCode: {_CODES}"),
    "event": SearchParameter(f"eventCodeList: {_CODES}"),
    "security-label": SearchParameter(f"confidentialityCode: {_CODES}"),
    "format": SearchParameter(f"formatCode: {_CODES}"),
    "date": SearchParameter(f"submission time: {_DATE}", repeated=True),
    "creation": SearchParameter(f"creation time: {_DATE}", repeated=True),
    "period": SearchParameter(f"service period: {_DATE}", repeated=True),
    "period-start": SearchParameter(f"service start: {_DATE}", repeated=True),
    "period-end": SearchParameter(f"service stop: {_DATE}", repeated=True),
    "related": SearchParameter("referenceIdList: value, or system|value; comma = OR"),
    "author.given": SearchParameter("author's given name (starts with, accents ignored)"),
    "author.family": SearchParameter("author's family name (starts with, accents ignored)"),
    "isArchived": SearchParameter("true or false (PDSm)"),
    "_count": SearchParameter("page size (at most 100)", schema=COUNT),
    "_sort": SearchParameter(
        "date, creation or period; - for descending (default -date)",
        schema={"type": "string", "enum": sorted(SORTS)},
    ),
    "_cursor": SearchParameter("the next page (from the Bundle's next link)"),
    "_view": SearchParameter(
        "episodes: the professional view (care episodes, folded versions and duplicates, "
        "relevant first for the reader's profession, new since the last visit; docs/api.md)",
        schema={"type": "string", "enum": sorted(VIEWS)},
    ),
    "_text": SearchParameter("with _view=episodes: text in the titles or the type names"),
}
DOCUMENT_PARAMETERS: dict[str, frozenset[str]] = {name: frozenset() for name in DOCUMENT_SEARCH}


def _related(params: Params) -> tuple[str, ...]:
    # context.related is a Reference holding an identifier: accept its value, or system|value.
    return params.codes("related")


def document_query(params: Params) -> DocumentQuery:
    if params.one("_text") is not None and params.one("_view") is None:
        raise InvalidSearch("_text goes with _view=episodes", parameter="_text")
    sort = params.one("_sort") or "-date"
    if sort not in SORTS:
        raise InvalidSearch(
            "_sort must be date, creation or period (- for descending)", parameter="_sort"
        )
    unique_ids, entry_uuids, ids = identifiers_of(params)
    return DocumentQuery(
        statuses=required_statuses(params),
        unique_ids=unique_ids,
        entry_uuids=entry_uuids,
        ids=ids,
        class_codes=params.codes("category"),
        type_codes=params.codes("type"),
        practice_settings=params.codes("setting"),
        facility_types=params.codes("facility"),
        event_codes=params.codes("event"),
        security_labels=params.codes("security-label"),
        format_codes=params.codes("format"),
        date=params.dates("date"),
        creation=params.dates("creation"),
        period=params.dates("period"),
        period_start=params.dates("period-start"),
        period_end=params.dates("period-end"),
        related_ids=_related(params),
        author_given=params.string("author.given"),
        author_family=params.string("author.family"),
        is_archived=params.boolean("isArchived"),
        sort=sort,
    )


def _format_param(request: Request) -> str | None:
    return request.query_params.get("_format")


async def find_document_references(request: Request, auth: AuthContext) -> Response:
    params = Params(await search_pairs(request), DOCUMENT_PARAMETERS)
    ins = patient_of(params)
    query = document_query(params)
    episodes = overview_query(params, query) if params.one("_view") is not None else None
    count = count_of(params) if episodes is None else 0
    cursor = params.one("_cursor")
    auth.check_patient(str(ins))
    ctx = _ctx(request)
    fmt = _format_param(request)
    path = "DocumentReference"
    try:
        if episodes is not None:
            return await find_episodes(request, params, episodes, actor=auth.actor, ins=ins)
        page = await search_documents(
            ctx, actor=auth.actor, ins=ins, query=query, page=PageRequest(count, cursor)
        )
    except NotFound as exc:
        if exc.code != "record-not-found":
            raise
        return fhir_response(request, unknown_patient_bundle(ctx.base_url, path, params, fmt))
    found = links(ctx.base_url, path, params, fmt, page.next_cursor)
    if response_format(request) == "json":
        body = searchset_json(page, base_url=ctx.base_url, ins=ins, links=found)
        return Response(body, media_type=f"{FHIR_JSON}; charset=utf-8")
    return fhir_response(request, searchset(page, base_url=ctx.base_url, ins=ins, links=found))


def searchset(
    page: DocumentPage, *, base_url: str, ins: Ins, links: list[dict[str, str]]
) -> dict[str, Any]:
    """The page as a searchset Bundle of dicts (the XML answer; JSON is written directly by
    ``searchset_json``, which tests/unit/test_searchset_json.py holds equal to this)."""
    entries = []
    for view in page.items:
        resource = document_reference(
            view,
            base_url=base_url,
            ins_oid=ins.oid,
            ins_value=ins.value,
            replaces_entry_uuid=(
                page.replaced_entry_uuids.get(view.replaces_id) if view.replaces_id else None
            ),
        )
        entries.append(
            {
                "fullUrl": f"{base_url}/fhir/DocumentReference/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    return bundle("searchset", entries, total=page.total, links=links)


add_search_routes(
    "DocumentReference",
    DOCUMENT_SEARCH,
    require_scope("ITI-67"),
    find_document_references,
    get=("search_get", "ITI-67 Find Document References"),
    post=("search_post", "ITI-67 Find Document References (POST, form-encoded)"),
)
