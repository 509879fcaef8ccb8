"""Professional portal, a patient's documents: the list filtered by the rules, one document
(metadata, embedded PDF, download), the deposit form, and the author's own actions (replace,
archive, delete, visibility).

First view (docs/rules.md §6, consumers' habit): the approved documents — current, not archived
— whose act dates from the last two years, most recent act first; "show everything" widens
to every date and the archived ones. Filters: type, class, dates of the act, author;
superseded versions only on request. Every list and every read goes through the document
services, which apply the rules (the SQL filter of the policy) and audit the consultation
with the access mode of the actor the session holds for this patient.

Content is shown in an ``iframe`` whose source answers with its own strict headers: CSP
``sandbox`` (opaque origin, no script, no form, no plug-in), ``default-src 'none'``, framed by
this site only. The sandbox is the response's, not the ``<iframe sandbox>`` attribute's:
Chromium's PDF viewer refuses to run in a sandboxed frame but honours the header. A CDA
level-1 document shows the PDF it wraps.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from opendmp.cda.header import extract_nonxml_body
from opendmp.domain.codes import DOCUMENT_CLASSES, DOCUMENT_TYPES, PRACTICE_SETTINGS
from opendmp.domain.codes import HEALTHCARE_FACILITY_TYPES as FACILITIES
from opendmp.domain.errors import AccessDenied, InvalidInput, NotFound, OpenDMPError
from opendmp.services.directory.search import professional_names
from opendmp.services.documents import (
    DateRange,
    DocumentQuery,
    DocumentView,
    PageRequest,
    archive_document,
    delete_document,
    read_document,
    search_documents,
    set_visibility,
)
from opendmp.services.documents.affordances import DOCUMENT_ACTIONS, Affordances
from opendmp.services.documents.deposit import DepositRefused
from opendmp.services.documents.pro_deposit import (
    MAX_UPLOAD_BYTES,
    PROFESSIONAL_DOCUMENT_TYPES,
    PROFESSIONAL_FACILITY_TYPES,
    PROFESSIONAL_PRACTICE_SETTINGS,
    VISIBILITIES,
    PortalDeposit,
    deposit_from_portal,
)
from opendmp.services.documents.reads import read_document_for_page
from opendmp.web.common import Staff, ctx_of, error_text, field, language, read_form, render
from opendmp.web.patient.texts import size_label
from opendmp.web.pro.context import Dossier, dossier_of, time_text
from opendmp.web.pro.patients import banner, dossier_page

# Included by ``pro.routes`` under ``/pro``.
router = APIRouter(prefix="/dossiers/{handle}", include_in_schema=False)
PARIS = ZoneInfo("Europe/Paris")
FIRST_VIEW_YEARS = 2
PAGE_SIZE = 20
PDF = "application/pdf"
XML_TYPES = frozenset({"text/xml", "application/xml"})
# The embedded content: nothing runs, nothing loads, only this site may frame it.
CONTENT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'; sandbox",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


def _lang(request: Request) -> str:
    return language(request)


def _label(table: dict[str, Any], code: str | None, lang: str) -> str:
    known = table.get(code or "")
    return str(known.label("en" if lang == "en" else "fr")) if known else (code or "—")


def _parse_date(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is not a date", code="invalid-date") from None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS).astimezone(dt.UTC)


def _period(params: dict[str, str]) -> DateRange | None:
    """The dates of the act the filters ``du`` and ``au`` ask for (Paris days), if any."""
    start = _parse_date(params.get("du", ""), "the start date")
    end = _parse_date(params.get("au", ""), "the end date")
    if start is None and end is None:
        return None
    return DateRange(
        ge=_start_of(start) if start else None,
        lt=_start_of(end + dt.timedelta(days=1)) if end else None,
    )


def _query(request: Request, params: dict[str, str]) -> tuple[DocumentQuery, bool]:
    """The search for the page's parameters; True when it is the first (default) view."""
    widened = params.get("tout") == "1"
    period = _period(params)
    first_view = not widened and period is None
    if first_view:
        today = ctx_of(request).now().astimezone(PARIS).date()
        try:
            since = today.replace(year=today.year - FIRST_VIEW_YEARS)
        except ValueError:  # 29 February
            since = today.replace(year=today.year - FIRST_VIEW_YEARS, day=28)
        period = DateRange(ge=_start_of(since))
    type_code = params.get("type", "")
    class_code = params.get("classe", "")
    if type_code and type_code not in DOCUMENT_TYPES:
        raise InvalidInput("unknown document type", code="invalid-type")
    if class_code and class_code not in DOCUMENT_CLASSES:
        raise InvalidInput("unknown document class", code="invalid-class")
    author = params.get("auteur", "").strip()
    query = DocumentQuery(
        include_superseded=params.get("versions") == "1",
        type_codes=(type_code,) if type_code else (),
        class_codes=(class_code,) if class_code else (),
        period=period,
        author_family=author or None,
        # Approved = current and not archived; "everything" includes the archived ones.
        is_archived=None if widened else False,
        sort="-period",
    )
    return query, first_view


async def _author_names(request: Request, views: list[DocumentView]) -> dict[str, str]:
    """The directory's names of the authors the documents' metadata leave unnamed."""
    unnamed = [v.author_idnat for v in views if v.author_idnat and not v.author_name]
    return await professional_names(ctx_of(request), unnamed) if unnamed else {}


def _item(
    view: DocumentView, lang: str, base: str, names: dict[str, str] | None = None
) -> dict[str, Any]:
    act = view.service_start or view.creation_time or view.deposited_at
    named = (names or {}).get(view.author_idnat or "")
    return {
        "href": f"{base}/documents/{view.id}",
        "title": view.title,
        "type": _label(DOCUMENT_TYPES, view.type_code, lang),
        "class": _label(DOCUMENT_CLASSES, view.class_code, lang),
        "act": time_text(act, lang).split(" ")[0],
        "deposited": time_text(view.deposited_at, lang),
        "author": view.author_name or named or view.author_idnat or "—",
        "masked": view.masked_by_patient,
        "superseded": view.status == "superseded",
        "archived": view.archived,
        "hidden_patient": view.invisible_to_patient,
        "hidden_representatives": view.invisible_to_representatives,
    }


@router.get("/documents")
async def list_documents(request: Request, handle: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    lang = _lang(request)
    names = ("type", "classe", "du", "au", "auteur", "tout", "versions")
    params = {name: request.query_params.get(name, "").strip() for name in names}
    cursor = request.query_params.get("curseur") or None
    try:
        query, first_view = _query(request, params)
        page = await search_documents(
            ctx_of(request),
            actor=dossier.actor,
            ins=dossier.ins,
            query=query,
            page=PageRequest(count=PAGE_SIZE, cursor=cursor),
        )
    except AccessDenied as error:
        # A CPE, a blocked professional, one without basis: a clear message on the
        # patient's page (the refusal was audited by the service).
        return await dossier_page(
            request, staff, dossier, problem=error_text(error, lang), status_code=403
        )
    except InvalidInput as error:
        return await dossier_page(
            request, staff, dossier, problem=error_text(error, lang), status_code=422
        )
    authors = await _author_names(request, page.items)
    kept = {k: v for k, v in params.items() if v}
    next_href = None
    if page.next_cursor:
        next_href = f"{dossier.base}/documents?" + urlencode({**kept, "curseur": page.next_cursor})
    widen_href = f"{dossier.base}/documents?" + urlencode({**kept, "tout": "1"})
    return render(
        request,
        "pro/documents.html",
        {
            "dossier": dossier,
            "banner": banner(dossier, lang),
            "items": [_item(v, lang, dossier.base, authors) for v in page.items],
            "total": page.total,
            "first_view": first_view,
            "widened": params["tout"] == "1",
            "params": params,
            "next_href": next_href,
            "widen_href": widen_href,
            "types": _options(DOCUMENT_TYPES, DOCUMENT_TYPES, lang),
            "classes": _options(DOCUMENT_CLASSES, DOCUMENT_CLASSES, lang),
            # The confirmation of a consent just declared (patients.declare_consent).
            "consented": request.query_params.get("consentement", "")[:10],
        },
        binding=staff.binding,
        staff=staff,
    )


def _options(codes: Any, table: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    return [(code, _label(table, code, lang)) for code in codes]


def _file(view: DocumentView, lang: str) -> dict[str, str]:
    """What "download" hands over (issue 15): the stored file's kind and size."""
    media = view.mime_type.split(";")[0].strip().lower()
    kind = "cda" if media in XML_TYPES else "pdf" if media == PDF else "other"
    return {"kind": kind, "media": media, "size": size_label(view.size, lang)}


def _viewable(view: DocumentView) -> bool:
    if view.mime_type.split(";")[0].strip() == PDF:
        return True
    return view.format_code == "urn:ihe:iti:xds-sd:pdf:2008"


def _parse_id(document_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(document_id)
    except ValueError:
        raise NotFound("no such document", code="document-not-found") from None


@router.get("/documents/{document_id}")
async def show_document(request: Request, handle: str, document_id: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    lang = _lang(request)
    view, allowed = await read_document_for_page(
        ctx_of(request), actor=dossier.actor, ins=dossier.ins, document_id=_parse_id(document_id)
    )
    names = await _author_names(request, [view])
    return _document_page(request, staff, dossier, (view, allowed), lang, names=names)


def _document_page(
    request: Request,
    staff: Staff,
    dossier: Dossier,
    shown: tuple[DocumentView, Affordances],
    lang: str,
    *,
    problem: str | None = None,
    status_code: int = 200,
    names: dict[str, str] | None = None,
) -> Response:
    """The document page; its actions are exactly those the policy allows (``allowed``), and
    "your document" is said to its author only (issue 15)."""
    view, allowed = shown
    base = f"{dossier.base}/documents/{view.id}"
    authorship = (
        "own" if allowed.by_reader else "structure" if allowed.by_readers_organization else None
    )
    return render(
        request,
        "pro/document.html",
        {
            "dossier": dossier,
            "banner": banner(dossier, lang),
            "doc": _item(view, lang, dossier.base, names),
            "view": view,
            "base": base,
            "viewable": _viewable(view),
            "file": _file(view, lang),
            "can": {action.value: allowed.may(action) for action in DOCUMENT_ACTIONS},
            "authorship": authorship,
            "setting": _label(PRACTICE_SETTINGS, view.practice_setting, lang),
            "facility": _label(FACILITIES, view.facility_type, lang),
            "problem": problem,
        },
        binding=staff.binding,
        staff=staff,
        status_code=status_code,
    )


def _filename(view: DocumentView, extension: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", view.title).strip("-")[:60] or "document"
    return f"{stem}.{extension}"


@router.get("/documents/{document_id}/contenu")
async def document_content(request: Request, handle: str, document_id: str) -> Response:
    """The PDF to embed (a CDA level 1's body, or an uploaded PDF), with strict headers."""
    _, dossier = await dossier_of(request, handle)
    view, content = await read_document(
        ctx_of(request), actor=dossier.actor, ins=dossier.ins, document_id=_parse_id(document_id)
    )
    media = view.mime_type.split(";")[0].strip().lower()
    if media in XML_TYPES:
        media, content = extract_nonxml_body(content)
    if media != PDF or not content.startswith(b"%PDF-"):
        raise NotFound("this document has no PDF to show", code="no-pdf-rendering")
    return Response(
        content,
        media_type=PDF,
        headers={
            **CONTENT_HEADERS,
            "Content-Disposition": f'inline; filename="{_filename(view, "pdf")}"',
        },
    )


@router.get("/documents/{document_id}/telecharger")
async def download_document(request: Request, handle: str, document_id: str) -> Response:
    """The document as stored (the CDA, or the uploaded file), as an attachment."""
    _, dossier = await dossier_of(request, handle)
    view, content = await read_document(
        ctx_of(request), actor=dossier.actor, ins=dossier.ins, document_id=_parse_id(document_id)
    )
    media = view.mime_type.split(";")[0].strip().lower()
    extension = "xml" if media in XML_TYPES else "pdf" if media == PDF else "bin"
    return Response(
        content,
        media_type="application/xml" if extension == "xml" else media,
        headers={
            **CONTENT_HEADERS,
            "Content-Disposition": f'attachment; filename="{_filename(view, extension)}"',
        },
    )


# --- the author's actions ------------------------------------------------------------------------


async def _act(request: Request, handle: str, document_id: str, what: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    form = await read_form(request, staff.binding)
    ctx, lang, doc_id = ctx_of(request), _lang(request), _parse_id(document_id)
    try:
        if what == "archive":
            await archive_document(
                ctx,
                actor=dossier.actor,
                ins=dossier.ins,
                document_id=doc_id,
                archived=field(form, "archived") == "yes",
            )
        elif what == "delete":
            if field(form, "confirm") != "yes":
                raise InvalidInput("tick the box to confirm", code="confirmation-required")
            await delete_document(ctx, actor=dossier.actor, ins=dossier.ins, document_id=doc_id)
            return RedirectResponse(f"{dossier.base}/documents", status_code=303)
        else:
            visibility = field(form, "visibility")
            if visibility not in VISIBILITIES:
                raise InvalidInput("choose a visibility", code="invalid-visibility")
            await set_visibility(
                ctx,
                actor=dossier.actor,
                ins=dossier.ins,
                document_id=doc_id,
                invisible_to_patient=visibility == "hidden-from-patient",
                invisible_to_representatives=visibility == "hidden-from-representatives",
            )
    except (AccessDenied, InvalidInput) as error:
        shown = await read_document_for_page(
            ctx, actor=dossier.actor, ins=dossier.ins, document_id=doc_id
        )
        return _document_page(
            request,
            staff,
            dossier,
            shown,
            lang,
            problem=error_text(error, lang),
            status_code=422 if isinstance(error, InvalidInput) else error.http_status,
        )
    return RedirectResponse(f"{dossier.base}/documents/{doc_id}", status_code=303)


@router.post("/documents/{document_id}/archiver")
async def archive(request: Request, handle: str, document_id: str) -> Response:
    return await _act(request, handle, document_id, "archive")


@router.post("/documents/{document_id}/supprimer")
async def delete(request: Request, handle: str, document_id: str) -> Response:
    return await _act(request, handle, document_id, "delete")


@router.post("/documents/{document_id}/visibilite")
async def visibility(request: Request, handle: str, document_id: str) -> Response:
    return await _act(request, handle, document_id, "visibility")


# --- deposit ----------------------------------------------------------------------------------


def _deposit_page(
    request: Request,
    staff: Staff,
    dossier: Dossier,
    *,
    replaces: str = "",
    values: dict[str, str] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    lang = _lang(request)
    today = ctx_of(request).now().astimezone(PARIS).date()
    return render(
        request,
        "pro/deposit.html",
        {
            "dossier": dossier,
            "banner": banner(dossier, lang),
            "replaces": replaces,
            "values": {"service_date": today.isoformat(), **(values or {})},
            "today": today.isoformat(),
            "types": _options(PROFESSIONAL_DOCUMENT_TYPES, DOCUMENT_TYPES, lang),
            "settings": _options(PROFESSIONAL_PRACTICE_SETTINGS, PRACTICE_SETTINGS, lang),
            "facilities": _options(PROFESSIONAL_FACILITY_TYPES, FACILITIES, lang),
            "visibilities": VISIBILITIES,
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "problem": problem,
        },
        binding=staff.binding,
        staff=staff,
        status_code=status_code,
    )


@router.get("/depot")
async def deposit_form(request: Request, handle: str, remplace: str = "") -> Response:
    staff, dossier = await dossier_of(request, handle)
    if remplace:
        _parse_id(remplace)
    return _deposit_page(request, staff, dossier, replaces=remplace)


@router.post("/depot")
async def deposit(request: Request, handle: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    form = await read_form(request, staff.binding)
    names = ("type_code", "service_date", "practice_setting", "facility_type", "visibility")
    values = {name: field(form, name) for name in (*names, "title")}
    replaces = field(form, "replaces")
    lang = _lang(request)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose the file to send", code="file-required")
        service_date = _parse_date(values["service_date"], "the date of the act")
        if service_date is None:
            raise InvalidInput("the date of the act is required", code="invalid-date")
        view = await deposit_from_portal(
            ctx_of(request),
            actor=dossier.actor,
            ins=dossier.ins,
            deposit=PortalDeposit(
                type_code=values["type_code"],
                service_date=service_date,
                practice_setting=values["practice_setting"],
                facility_type=values["facility_type"],
                visibility=values["visibility"] or "normal",
                filename=upload.filename,
                content=await upload.read(MAX_UPLOAD_BYTES + 1),
                title=values["title"],
                replaces=_parse_id(replaces) if replaces else None,
            ),
        )
    except OpenDMPError as error:
        # A form to correct: 422; a refusal keeps its status (403 for the policy's).
        status = 422 if isinstance(error, InvalidInput | DepositRefused) else error.http_status
        return _deposit_page(
            request,
            staff,
            dossier,
            replaces=replaces,
            values=values,
            problem=error_text(error, lang),
            status_code=status,
        )
    del view  # the depositor may not be allowed to read it (a CPE): back to the patient
    return RedirectResponse(f"{dossier.base}?depose=1", status_code=303)
