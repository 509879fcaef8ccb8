"""ITI-66 Find Document Lists: ``GET /fhir/List?…`` and ``POST /fhir/List/_search``.

SubmissionSets only (``code=submissionset``): OpenDMP keeps no Folders (ITI-65 ignores
them with a warning), so ``code=folder`` answers an empty Bundle with an OperationOutcome
warning entry. ``patient`` / ``patient.identifier``, ``code`` and ``status`` are required
(MHD). A List names, in ``entry.item``, only the member DocumentReferences the caller may
read, and a set without such a member is not listed (``services.submission_sets``).

The List follows ``IHE.MHD.Minimal.SubmissionSet``: both identifiers (uniqueId ``usual``,
entryUUID ``official``), ``date`` (submission time), ``sourceId`` and ``designationType``
extensions, ``source`` (the author as given at deposit, else a contained Practitioner
built from the stored author), ``subject`` (the INS). Its id is the entryUUID without
``urn:uuid:``, as in the ITI-65 ``List/<id>`` locations.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins
from opendmp.fhir.formats import fhir_response
from opendmp.fhir.mapping import (
    DESIGNATION_TYPE_URL,
    IDNAT_PS_SYSTEM,
    MHD_LIST_TYPES,
    RFC3986,
    SOURCE_ID_URL,
    STRUCT_SYSTEM,
    bundle,
    fhir_instant,
    uid_value,
)
from opendmp.fhir.openapi import COUNT, INS_TOKEN, SearchParameter, fhir_ok
from opendmp.fhir.provide import _ctx
from opendmp.fhir.search_params import (
    InvalidSearch,
    Params,
    count_of,
    links,
    outcome_entry,
    patient_of,
    search_pairs,
    unknown_patient_bundle,
)
from opendmp.fhir.search_routes import add_search_routes
from opendmp.services.documents.submission_sets import (
    SubmissionSetQuery,
    SubmissionSetView,
    search_submission_sets,
)

MINIMAL_SUBMISSION_SET = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.SubmissionSet"
)
LIST_SEARCH: dict[str, SearchParameter] = {
    "patient.identifier": SearchParameter(
        "The INS: <INS system>|<INS> (or give patient)", required=True, schema=INS_TOKEN
    ),
    "patient": SearchParameter("[base/]Patient/ins-<oid>-<value>, instead of patient.identifier"),
    "code": SearchParameter(
        f"{MHD_LIST_TYPES}|submissionset (folders: none is ever listed)", required=True
    ),
    "status": SearchParameter("current (comma = OR)", required=True),
    "date": SearchParameter(
        "submission time: [eq|ne|gt|lt|ge|le]date or dateTime; repeat to AND", repeated=True
    ),
    "identifier": SearchParameter("the submission set's uniqueId or entryUUID"),
    "source.given": SearchParameter("author's given name (starts with)"),
    "source.family": SearchParameter("author's family name (starts with)"),
    "sourceId": SearchParameter("the submission set's sourceId (system|value or value)"),
    "designationType": SearchParameter("contentTypeCode: code, or system|code"),
    "_count": SearchParameter("page size (at most 100)", schema=COUNT),
    "_cursor": SearchParameter("the next page (from the Bundle's next link)"),
}
LIST_PARAMETERS: dict[str, frozenset[str]] = {name: frozenset() for name in LIST_SEARCH}
SEARCHSET = fhir_ok("searchset Bundle of List", resource_type="Bundle")


def list_query(params: Params) -> SubmissionSetQuery:
    statuses = params.tokens("status")
    if not statuses:
        raise InvalidSearch("status is required (current)", code="missing-parameter")
    if any(system for system, _ in statuses):
        raise InvalidSearch("status is a code without a system", parameter="status")
    unknown = {code for _, code in statuses} - {"current", "superseded", "entered-in-error"}
    if unknown:
        raise InvalidSearch(f"unknown status {', '.join(sorted(unknown))}", parameter="status")
    unique_ids: list[str] = []
    entry_uuids: list[str] = []
    for _, value in params.tokens("identifier"):
        (entry_uuids if value.startswith("urn:uuid:") else unique_ids).append(value)
    return SubmissionSetQuery(
        statuses=tuple(code for _, code in statuses),
        unique_ids=tuple(unique_ids),
        entry_uuids=tuple(entry_uuids),
        submitted=params.dates("date"),
        source_ids=tuple(value for _, value in params.tokens("sourceId")),
        content_type_codes=params.codes("designationType"),
        author_family=params.string("source.family"),
        author_given=params.string("source.given"),
    )


def _kinds(params: Params) -> set[str]:
    codes = params.tokens("code")
    if not codes:
        raise InvalidSearch("code is required (submissionset)", code="missing-parameter")
    kinds = set()
    for system, code in codes:
        if system not in (None, "", MHD_LIST_TYPES) or code not in ("submissionset", "folder"):
            raise InvalidSearch(
                f"code must be {MHD_LIST_TYPES}|submissionset or |folder", parameter="code"
            )
        kinds.add(code)
    return kinds


def _source(view: SubmissionSetView) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    if not view.author_idnat:
        return [], None
    family, _, given = (view.author_name or view.author_idnat).partition(" ")
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": "source",
        "practitioner": {
            "identifier": {"system": IDNAT_PS_SYSTEM, "value": view.author_idnat},
            "display": " ".join(p for p in (given, family) if p),
        },
    }
    if view.author_organization:
        role["organization"] = {
            "identifier": {"system": STRUCT_SYSTEM, "value": view.author_organization}
        }
    return [role], {"reference": "#source"}


def submission_set_list(view: SubmissionSetView, *, ins: Ins) -> dict[str, Any]:
    extra: dict[str, Any] = orjson.loads(view.extra) if view.extra else {}
    contained, source = _source(view)
    if extra.get("source"):
        contained, source = list(extra.get("contained") or []), extra["source"]
    extensions = [
        e
        for e in extra.get("extension") or []
        if isinstance(e, dict) and e.get("url") in (SOURCE_ID_URL, DESIGNATION_TYPE_URL)
    ]
    if not any(e.get("url") == SOURCE_ID_URL for e in extensions):
        extensions.append(
            {"url": SOURCE_ID_URL, "valueIdentifier": {"value": uid_value(view.source_id)}}
        )
    if view.content_type_code and not any(e.get("url") == DESIGNATION_TYPE_URL for e in extensions):
        extensions.append(
            {
                "url": DESIGNATION_TYPE_URL,
                "valueCodeableConcept": {"coding": [{"code": view.content_type_code}]},
            }
        )
    entry_id = view.entry_uuid.removeprefix("urn:uuid:")
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": entry_id,
        "meta": {"profile": [MINIMAL_SUBMISSION_SET]},
    }
    if contained:
        resource["contained"] = contained
    resource["extension"] = extensions
    resource["identifier"] = [
        {"use": "usual", "system": RFC3986, "value": uid_value(view.unique_id)},
        {"use": "official", "system": RFC3986, "value": f"urn:uuid:{entry_id}"},
    ]
    resource["status"] = "current"
    resource["mode"] = "working"
    if view.title:
        resource["title"] = view.title
    resource["code"] = {"coding": [{"system": MHD_LIST_TYPES, "code": "submissionset"}]}
    resource["subject"] = {"identifier": {"system": ins.system, "value": ins.value}}
    resource["date"] = fhir_instant(view.submitted_at)
    if source:
        resource["source"] = source
    if extra.get("note"):
        resource["note"] = extra["note"]
    resource["entry"] = [
        {"item": {"reference": f"DocumentReference/{member.removeprefix('urn:uuid:')}"}}
        for member in view.member_entry_uuids
    ]
    return resource


async def find_document_lists(request: Request, auth: AuthContext) -> Response:
    params = Params(await search_pairs(request), LIST_PARAMETERS)
    ins = patient_of(params)
    kinds = _kinds(params)
    query = list_query(params)
    count = count_of(params)
    cursor = params.one("_cursor")
    auth.check_patient(str(ins))
    ctx = _ctx(request)
    fmt = request.query_params.get("_format")
    warnings: list[dict[str, Any]] = []
    if "folder" in kinds:
        warnings.append(
            outcome_entry(
                "Folders are not supported: none is ever listed",
                code="folders-unsupported",
                issue_type="not-supported",
            )
        )
    if "submissionset" not in kinds:
        body = bundle(
            "searchset", warnings, total=0, links=links(ctx.base_url, "List", params, fmt, None)
        )
        return fhir_response(request, body)
    try:
        page = await search_submission_sets(
            ctx, actor=auth.actor, ins=ins, query=query, count=count, cursor=cursor
        )
    except NotFound as exc:
        if exc.code != "record-not-found":
            raise
        return fhir_response(request, unknown_patient_bundle(ctx.base_url, "List", params, fmt))
    entries = [
        {
            "fullUrl": f"{ctx.base_url}/fhir/List/{view.entry_uuid.removeprefix('urn:uuid:')}",
            "resource": submission_set_list(view, ins=ins),
            "search": {"mode": "match"},
        }
        for view in page.items
    ]
    body = bundle(
        "searchset",
        entries + warnings,
        total=page.total,
        links=links(ctx.base_url, "List", params, fmt, page.next_cursor),
    )
    return fhir_response(request, body)


add_search_routes(
    "List",
    LIST_SEARCH,
    require_scope("ITI-66"),
    find_document_lists,
    get=("lists_get", "ITI-66 Find Document Lists"),
    post=("lists_post", "ITI-66 Find Document Lists (POST, form-encoded)"),
)
