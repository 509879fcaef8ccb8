"""The patient's documents: list (filters, sort, title search, pages), view, content,
download, mask/unmask, and adding their own documents.

The services choose what the patient sees: documents marked ``INVISIBLE_PATIENT`` never
come out of them, and another record's document id is simply not found. Each view is an
audited consultation (the services write it).
"""

from __future__ import annotations

import contextlib
import urllib.parse
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from opendmp.domain.actors import Patient
from opendmp.domain.codes import DOCUMENT_TYPES
from opendmp.domain.errors import AccessDenied, InvalidInput, NotFound, OpenDMPError
from opendmp.services.documents import (
    MAX_DOCUMENT_BYTES,
    PATIENT_DOCUMENT_TYPES,
    PATIENT_MIME_TYPES,
    DateRange,
    DocumentQuery,
    PageRequest,
    content_matches,
    deposit_patient_document,
    mask_document,
    read_document,
    search_documents,
)
from opendmp.web.common import ctx_of, field, language
from opendmp.web.patient.session import (
    Signed,
    check_token,
    page,
    patient_form,
    require_full,
)
from opendmp.web.patient.texts import (
    day,
    refusal,
    search_bound,
    size_label,
    type_label,
    when,
)
from opendmp.web.patient.viewing import body_of, inline_body, present

router = APIRouter(prefix="/patient/documents", include_in_schema=False)
PAGE_SIZE = 20
SORTS = ("-date", "date", "-period", "period")
FILTERS = ("type", "du", "au", "auteur", "titre", "archives", "tri")
# The content route: nothing runs, nothing loads, only our own pages may frame it.
CONTENT_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/tiff": "tiff",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "text/plain": "txt",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/hl7-v3+xml": "xml",
}


def _query(values: dict[str, str]) -> DocumentQuery:
    start, stop = search_bound(values["du"], end=False), search_bound(values["au"], end=True)
    period = DateRange(ge=start, lt=stop) if start or stop else None
    type_code = values["type"]
    return DocumentQuery(
        type_codes=(type_code,) if type_code else (),
        period=period,
        author_family=values["auteur"] or None,
        title=values["titre"] or None,
        is_archived=None if values["archives"] == "1" else False,
        sort=values["tri"] if values["tri"] in SORTS else "-date",
    )


def _type_options(lang: str) -> list[tuple[str, str]]:
    return sorted(
        (
            (code, known.label("en" if lang == "en" else "fr"))
            for code, known in DOCUMENT_TYPES.items()
        ),
        key=lambda pair: pair[1].lower(),
    )


def _row(view: Any, lang: str) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "title": view.title,
        "type": type_label(view.type_code, lang),
        "date": day(view.service_start or view.creation_time or view.deposited_at, lang),
        "deposited": day(view.deposited_at, lang),
        "author": view.author_name or ("—" if view.deposited_by_kind != "patient" else None),
        "mine": view.deposited_by_kind == "patient",
        "masked": view.masked_by_patient,
        "archived": view.archived,
    }


@router.get("")
async def list_documents(request: Request) -> Response:
    signed = await require_full(request)
    ctx = ctx_of(request)
    lang = language(request)
    values = {name: request.query_params.get(name, "").strip()[:100] for name in FILTERS}
    problem = None
    rows: list[dict[str, Any]] = []
    total = 0
    next_link = None
    kept = {k: v for k, v in values.items() if v}
    first_link = "/patient/documents" + ("?" + urllib.parse.urlencode(kept) if kept else "")
    try:
        found = await search_documents(
            ctx,
            actor=signed.actor,
            ins=signed.ins,
            query=_query(values),
            page=PageRequest(count=PAGE_SIZE, cursor=request.query_params.get("page") or None),
        )
        rows = [_row(view, lang) for view in found.items]
        total = found.total
        if found.next_cursor:
            next_link = "?" + urllib.parse.urlencode({**kept, "page": found.next_cursor})
    except OpenDMPError as error:
        if error.code in {"record-closed", "record-destroyed"}:
            raise
        problem = refusal(error, lang, ctx.now())
    return page(
        request,
        "patient/documents.html",
        {
            "values": values,
            "rows": rows,
            "total": total,
            "next_link": next_link,
            "paged": bool(request.query_params.get("page")),
            "first_link": first_link,
            "types": _type_options(lang),
            "sorts": SORTS,
            "filtered": any(values[name] for name in FILTERS if name != "tri"),
            "problem": problem,
            "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        },
        signed=signed,
        status_code=422 if problem else 200,
    )


def _document_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such document in this record", code="document-not-found") from None


# --- adding one's own document (before the {id} routes) ---------------------------------------


def _patient_types(lang: str) -> list[tuple[str, str]]:
    return sorted(
        ((code, type_label(code, lang)) for code in PATIENT_DOCUMENT_TYPES), key=lambda p: p[0]
    )


def _upload_page(
    request: Request,
    signed: Signed,
    *,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    return page(
        request,
        "patient/upload.html",
        {
            "types": _patient_types(lang),
            "values": values or {},
            "max_size": size_label(MAX_DOCUMENT_BYTES, lang),
            "problem": problem,
        },
        signed=signed,
        status_code=status,
    )


_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_SNIFFED = ("application/pdf", "image/jpeg", "image/png", "image/tiff", "application/rtf")


def _declared_type(upload: UploadFile, content: bytes) -> str:
    """The type the browser declared, if we accept it; when it declared nothing useful,
    what the bytes are (binary signatures only). The service checks the bytes anyway."""
    declared = (upload.content_type or "").split(";", 1)[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if declared in PATIENT_MIME_TYPES:
        return declared
    if declared in {"", "application/octet-stream"}:
        for mime in _SNIFFED:
            if content_matches(PATIENT_MIME_TYPES[mime][0], content):
                return mime
    raise InvalidInput(
        "accepted formats: PDF, JPEG, PNG, TIFF, RTF, plain text", code="invalid-content"
    )


@router.get("/ajouter")
async def upload_page(request: Request) -> Response:
    signed = await require_full(request)
    return _upload_page(request, signed)


@router.post("/ajouter")
async def upload(request: Request) -> Response:
    signed = await require_full(request)
    ctx = ctx_of(request)
    lang = language(request)
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > MAX_DOCUMENT_BYTES + 64 * 1024:
        # Refused before the body is read: nothing of it is kept.
        problem = refusal(InvalidInput("", code="document-too-large"), lang, ctx.now())
        return _upload_page(request, signed, problem=problem, status=413)
    form = await request.form(max_files=1, max_fields=10, max_part_size=16 * 1024)
    check_token(form, signed)
    values = {"title": field(form, "title")[:200], "type": field(form, "type")}
    upload_file = form.get("file")
    try:
        if not isinstance(upload_file, UploadFile) or not upload_file.filename:
            raise InvalidInput("choose a file", code="file-required")
        content = await upload_file.read(MAX_DOCUMENT_BYTES + 1)
        if len(content) > MAX_DOCUMENT_BYTES:
            raise InvalidInput("", code="document-too-large")
        if not content:
            raise InvalidInput("the file is empty", code="file-required")
        if not values["title"]:
            raise InvalidInput("a title is required", code="title-required")
        actor = signed.actor
        if not isinstance(actor, Patient):
            # The deposit service takes the patient only (a representative's upload would
            # need its own author and audit trail): refused, nothing stored.
            raise AccessDenied("only the patient adds documents", code="actor-not-permitted")
        view = await deposit_patient_document(
            ctx,
            actor=actor,
            ins=signed.ins,
            title=values["title"],
            type_code=values["type"],
            mime_type=_declared_type(upload_file, content),
            content=content,
        )
    except OpenDMPError as error:
        status = 413 if error.code == "document-too-large" else 422
        if error.http_status >= 401 and error.code != "document-too-large":
            status = error.http_status
        return _upload_page(
            request, signed, values=values, problem=refusal(error, lang, ctx.now()), status=status
        )
    return RedirectResponse(f"/patient/documents/{view.id}?fait=uploaded", status_code=303)


# --- one document -----------------------------------------------------------------------------


@router.get("/{document_id}")
async def view_document(request: Request, document_id: str) -> Response:
    signed = await require_full(request)
    lang = language(request)
    view, content = await read_document(
        ctx_of(request), actor=signed.actor, ins=signed.ins, document_id=_document_id(document_id)
    )
    shown = present(view.mime_type, content)
    return page(
        request,
        "patient/document.html",
        {
            "doc": _row(view, lang),
            "view": view,
            "shown": shown,
            "size": size_label(view.size, lang),
            "created": when(view.creation_time, lang),
            "deposited_at": when(view.deposited_at, lang),
            "content_url": f"/patient/documents/{view.id}/contenu",
            "download_url": f"/patient/documents/{view.id}/telecharger",
            "back": f"/patient/documents/{view.id}",
            "file_kind": file_kind,
        },
        signed=signed,
    )


def file_kind(mime: str) -> str:
    """The kind of file a download hands over, to say it (``patient.file.<kind>``)."""
    media = mime.split(";")[0].strip().lower()
    if media in {"text/xml", "application/xml", "application/hl7-v3+xml"}:
        return "cda"
    if media == "application/pdf":
        return "pdf"
    if media.startswith("image/"):
        return "image"
    return {"text/plain": "text", "application/rtf": "rtf", "text/rtf": "rtf"}.get(media, "other")


def _file_name(title: str, mime: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in title.lower())[:60]
    return f"{safe.strip('-') or 'document'}.{EXTENSIONS.get(mime, 'bin')}"


@router.get("/{document_id}/contenu")
async def content(request: Request, document_id: str) -> Response:
    """The body to show in the frame or the image: PDF or image only, strict headers."""
    signed = await require_full(request)
    view, data = await read_document(
        ctx_of(request), actor=signed.actor, ins=signed.ins, document_id=_document_id(document_id)
    )
    found = inline_body(view.mime_type, data)
    if found is None:
        raise InvalidInput("this document cannot be shown here", code="not-displayable")
    media, body = found
    name = _file_name(view.title, media)
    return Response(
        body,
        media_type=media,
        headers={**CONTENT_HEADERS, "Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get("/{document_id}/telecharger")
async def download(request: Request, document_id: str) -> Response:
    """The document as stored (a CDA stays a CDA: the XML file), always as an attachment.

    ``?contenu=1`` gives instead the PDF, image or text a level-1 CDA carries."""
    signed = await require_full(request)
    view, data = await read_document(
        ctx_of(request), actor=signed.actor, ins=signed.ins, document_id=_document_id(document_id)
    )
    media = view.mime_type.split(";", 1)[0].strip().lower()
    if request.query_params.get("contenu") == "1":
        with contextlib.suppress(InvalidInput):
            media, data = body_of(media, data)
    name = _file_name(view.title, media)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={**CONTENT_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/{document_id}/masquer")
async def mask(request: Request, document_id: str) -> Response:
    """Mask (``masque=1``) or unmask the document from professionals (MASQUE_PS)."""
    signed = await require_full(request)
    form = await patient_form(request, signed)
    masked = field(form, "masque") == "1"
    await mask_document(
        ctx_of(request),
        actor=signed.actor,
        ins=signed.ins,
        document_id=_document_id(document_id),
        masked=masked,
    )
    done = "masked" if masked else "unmasked"
    return RedirectResponse(with_done(field(form, "retour"), done), status_code=303)


def with_done(back: str, done: str, *, default: str = "/patient/documents") -> str:
    """A page of the patient portal to go back to, saying what was done (``?fait=``)."""
    parts = urllib.parse.urlsplit(back)
    if parts.scheme or parts.netloc or not parts.path.startswith("/patient/"):
        parts = urllib.parse.urlsplit(default)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "fait"]
    query.append(("fait", done))
    return f"{parts.path}?{urllib.parse.urlencode(query)}"
