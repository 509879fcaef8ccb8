"""Reads of one document: ``GET /fhir/DocumentReference/<id>`` (its metadata) and ITI-68
Retrieve Document ``GET /fhir/Binary/<logical id>`` (its content, DMP TD3.2).

Both take the entryUUID (the DocumentReference id) or the logical id (the Binary id, in
``attachment.url``). Only a document's current entryUUID is known: the entryUUID of an
earlier metadata version answers 404 (each metadata update issues a new one; the logical
id, in ``identifier`` and in ``attachment.url``, is the stable handle). Reads go through the
document services, which decide and audit (record-level refusal before any word on the
document; 410 for a deleted document only to a reader who could otherwise read it).

ITI-68 content negotiation on ``Accept`` (``_format`` wins when given):

- absent, ``*/*``, the document's ``contentType`` or its ``type/*`` → the raw bytes, with
  that Content-Type, ``Content-Disposition: attachment``, ``nosniff`` and a sandboxing CSP
  (the content is the producer's, not ours: a browser must not run it in our origin);
- ``application/fhir+json`` / ``application/fhir+xml`` (or ``_format``) → a FHIR ``Binary``;
- anything else → 406. When only a specific type decides, the metadata is read first
  (audited as a metadata read) so that 406 is answered without reading the content.
"""

from __future__ import annotations

import base64
import functools
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse

from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.domain.errors import AccessDenied
from opendmp.domain.identifiers import Ins
from opendmp.fhir.api import router
from opendmp.fhir.formats import NotAcceptable, fhir_response, response_format
from opendmp.fhir.mapping import document_reference, fhir_instant
from opendmp.fhir.openapi import fhir_ok, format_only
from opendmp.fhir.provide import _ctx
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import RecordRefused, document_not_found
from opendmp.services.documents import (
    DocumentView,
    read_document_metadata,
    stream_document,
    stream_located_document,
)
from opendmp.services.documents.lookup import DocumentLocation, current_entry_uuid, locate_document

Route = TypeVar("Route", bound=Callable[..., Awaitable[Response]])
FHIR_JSON_TYPES = frozenset({"application/fhir+json", "application/json+fhir"})
FHIR_XML_TYPES = frozenset({"application/fhir+xml", "application/xml+fhir"})
RAW, NEED_TYPE = "raw", "need-type"


def by_id(route: Route) -> Route:
    """For a route addressing a document by its id alone: the caller named no record, so
    a refusal about the record (``RecordRefused``, audited by the service) or another
    patient's document under an establishment's assertion would tell that the id exists;
    both get the answer of an unknown id (docs/security.md, "Existence")."""

    @functools.wraps(route)
    async def hiding(*args: Any, **kwargs: Any) -> Response:
        try:
            return await route(*args, **kwargs)
        except RecordRefused:
            raise document_not_found() from None

    return cast(Route, hiding)


def same_patient(auth: AuthContext) -> Callable[[Ins], None]:
    """``auth.check_patient`` answering another patient's document as an unknown one."""

    def check(ins: Ins) -> None:
        try:
            auth.check_patient(str(ins))
        except AccessDenied:
            raise document_not_found() from None

    return check


async def locate(ctx: ServiceContext, auth: AuthContext, reference: str) -> DocumentLocation:
    """The document behind a FHIR id, or 404; an establishment's assertion must name its
    patient."""
    found = await locate_document(ctx, reference=reference)
    if found is None:
        raise document_not_found()
    same_patient(auth)(found.ins)
    return found


async def reference_of(
    ctx: ServiceContext, view: DocumentView, where: DocumentLocation
) -> dict[str, Any]:
    replaced = None
    if view.replaces_id is not None:
        replaced = await current_entry_uuid(ctx, ins=where.ins, document_id=view.replaces_id)
    return document_reference(
        view,
        base_url=ctx.base_url,
        ins_oid=where.ins.oid,
        ins_value=where.ins.value,
        replaces_entry_uuid=replaced,
    )


def version_headers(ctx: ServiceContext, view: DocumentView) -> dict[str, str]:
    headers = {
        "ETag": f'W/"{view.version}"',
        "Location": f"{ctx.base_url}/fhir/DocumentReference/"
        f"{view.entry_uuid.removeprefix('urn:uuid:')}",
    }
    modified = view.updated_at or view.deposited_at
    if modified is not None:
        headers["Last-Modified"] = modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return headers


@router.get(
    "/DocumentReference/{document_id}",
    summary="Read a DocumentReference (by entryUUID or logical id)",
    responses=fhir_ok("DocumentReference", resource_type="DocumentReference"),
    openapi_extra=format_only(),
)
@by_id
async def read_document_reference(
    request: Request, document_id: str, auth: AuthContext = Depends(require_scope("ITI-67"))
) -> Response:
    ctx = _ctx(request)
    response_format(request)  # 406 before any work
    where = await locate(ctx, auth, document_id)
    view = await read_document_metadata(
        ctx, actor=auth.actor, ins=where.ins, document_id=where.document_id
    )
    resource = await reference_of(ctx, view, where)
    headers = version_headers(ctx, view)
    headers.pop("Location")
    return fhir_response(request, resource, headers=headers)


# --- ITI-68 -----------------------------------------------------------------------------------


def _accepted(header: str) -> list[str]:
    """Media ranges of ``Accept`` by decreasing q (stable), without those at q=0."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, position, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def choose(request: Request, content_type: str | None) -> str:
    """``raw``, ``json`` or ``xml`` (a FHIR Binary), or ``need-type`` when the document's
    content type must be known to decide; raises 406 when nothing can be produced."""
    if request.query_params.get("_format"):
        return response_format(request)
    header = request.headers.get("accept", "").strip()
    if not header:
        return RAW
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    for media in _accepted(header):
        if media == "*/*":
            return RAW
        if media in FHIR_JSON_TYPES:
            return "json"
        if media in FHIR_XML_TYPES:
            return "xml"
        if content_type is None:
            return NEED_TYPE
        if media == mime or (media.endswith("/*") and mime.startswith(media[:-1])):
            return RAW
    raise NotAcceptable(
        f"this document is {mime or 'not available in that type'}: ask for it, */* or"
        " application/fhir+json",
        code="not-acceptable",
    )


def _filename(view: DocumentView) -> str:
    extension = mimetypes.guess_extension(view.mime_type.split(";", 1)[0].strip()) or ""
    return f"{view.id}{extension}"


@router.get(
    "/Binary/{document_id}",
    summary="ITI-68 Retrieve Document",
    responses={
        200: {
            "description": "the document's bytes in its own type (Accept: */* or that type),"
            " or a FHIR Binary (Accept or _format: FHIR JSON or XML)",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    openapi_extra=format_only(),
)
@by_id
async def retrieve_document(
    request: Request, document_id: str, auth: AuthContext = Depends(require_scope("ITI-68"))
) -> Response:
    ctx = _ctx(request)
    chosen = choose(request, None)
    if chosen == NEED_TYPE:
        where = await locate(ctx, auth, document_id)
        view = await read_document_metadata(
            ctx, actor=auth.actor, ins=where.ins, document_id=where.document_id
        )
        chosen = choose(request, view.mime_type)
        stream = await stream_document(
            ctx, actor=auth.actor, ins=where.ins, document_id=where.document_id
        )
    else:
        # The common case: locate and read in one unit of work.
        found = await stream_located_document(
            ctx,
            actor=auth.actor,
            reference=document_id,
            check_patient=same_patient(auth),
        )
        if found is None:
            raise document_not_found()
        stream = found
    view = stream.view
    if chosen in ("json", "xml"):
        content = b"".join([chunk async for chunk in stream.chunks])
        binary = {
            "resourceType": "Binary",
            "id": str(view.id),
            "meta": {"lastUpdated": fhir_instant(view.updated_at or view.deposited_at)},
            "contentType": view.mime_type,
            "data": base64.b64encode(content).decode("ascii"),
        }
        return fhir_response(request, binary, fmt=chosen, headers=_private())
    headers = {
        "Content-Type": view.mime_type,
        "Content-Length": str(stream.size),
        "Content-Disposition": f'attachment; filename="{_filename(view)}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        **_private(),
    }
    return StreamingResponse(stream.chunks, headers=headers)


def _private() -> dict[str, str]:
    # Health data: no shared cache keeps a copy.
    return {"Cache-Control": "no-store"}
