"""Document metadata updates (DMP TD3.3 / ANS PDSm "Flux 03/04"):
``PATCH /fhir/DocumentReference/<id>`` and the conditional
``PATCH /fhir/DocumentReference?identifier=<system>|<value>``.

The body (JSON Patch or FHIRPath Patch, see ``fhir.patching``) is applied to the document's
current DocumentReference; the difference between the two is turned into intentions, each
carried out by its service (policy, audit, new entryUUID, version + 1):

- ``MASQUE_PS`` added to / removed from ``securityLabel``: ``mask_document`` (the patient;
  a professional with access, at the patient's request);
- ``INVISIBLE_PATIENT``, ``INVISIBLE_REPRESENTANTS_LEGAUX``: ``set_visibility`` (the author
  or its structure; the patient for the second only);
- ``isArchived`` true / false: ``archive_document`` (the author);
- ``status`` → ``entered-in-error``: ``delete_document``, the logical delete of TD3.3c (the
  author; the patient for their own uploads).

Choices (docs/api.md):

- ``entered-in-error`` is accepted as the delete *command* only (PDSm4DMP TD3.3c); MHD
  forbids it as a stored status, and none is ever returned: the answer is an
  OperationOutcome, and the document then answers 410. A delete comes alone in its PATCH.
  ``superseded`` is refused (422): a version is superseded by its replacement (ITI-65).
- Several changes in one PATCH are carried out one by one, author-only ones first
  (visibility, archive, then mask), each a new version; a refusal stops there and leaves
  the earlier ones in place (the 403 names the refused one).
- Conditional PATCH: ``identifier`` is the masterIdentifier (uniqueId), the entryUUID or
  the logical id, narrowed by ``patient.identifier`` when given; no match → 404, several →
  412 (FHIR conditional update rules).
- ``If-Match: W/"<version>"`` is honoured (412 on another version).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext
from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.domain.limits import check_value_counts, too_many
from opendmp.fhir.api import router
from opendmp.fhir.formats import check_depth, fhir_response, parse_resource, read_body
from opendmp.fhir.mapping import IS_ARCHIVED_URL
from opendmp.fhir.openapi import INS_TOKEN, SearchParameter, fhir_ok, patch_body, search_get
from opendmp.fhir.outcome import information
from opendmp.fhir.patching import (
    InvalidPatch,
    PatchNotAllowed,
    UnprocessablePatch,
    apply_fhirpath_patch,
    apply_json_patch,
)
from opendmp.fhir.provide import _ctx, _scopes
from opendmp.fhir.retrieve import by_id, locate, reference_of, same_patient, version_headers
from opendmp.fhir.search_params import Params, identifiers_of, patient_of
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import document_not_found
from opendmp.services.documents import (
    DocumentView,
    archive_document,
    delete_document,
    mask_document,
    read_document_metadata,
    set_visibility,
)
from opendmp.services.documents.lookup import DocumentLocation, locate_documents_by_identifier

MAX_PATCH_BYTES = 64 * 1024
JSON_PATCH = "application/json-patch+json"
VISIBILITY_CODES = {
    "MASQUE_PS": "masked_by_patient",
    "INVISIBLE_PATIENT": "invisible_to_patient",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "invisible_to_representatives",
}
NORMAL_CODES = frozenset({"N"})
DELETE_STATUS = "entered-in-error"
UPDATE_SCOPES = ("ITI-65", "ITI-57")


class PreconditionFailed(OpenDMPError):
    code = "precondition-failed"
    http_status = 412


def _unchanged_elsewhere(before: dict[str, Any], after: dict[str, Any]) -> None:
    """405 if the patched resource differs from the original outside the three elements."""
    for key in sorted(set(before) | set(after)):
        if key in ("status", "securityLabel", "extension"):
            continue
        if before.get(key) != after.get(key):
            raise PatchNotAllowed(key)
    others_before = [e for e in before.get("extension") or [] if e.get("url") != IS_ARCHIVED_URL]
    others_after = [e for e in after.get("extension") or [] if e.get("url") != IS_ARCHIVED_URL]
    if others_before != others_after:
        raise PatchNotAllowed("extension")


def _labels(after: dict[str, Any]) -> dict[str, bool]:
    codes: set[str] = set()
    for label in after.get("securityLabel") or []:
        if not isinstance(label, dict):
            raise UnprocessablePatch("a securityLabel is a CodeableConcept")
        for coding in label.get("coding") or []:
            code = coding.get("code") if isinstance(coding, dict) else None
            if not isinstance(code, str):
                raise UnprocessablePatch("a securityLabel coding needs a code")
            codes.add(code)
    unknown = codes - set(VISIBILITY_CODES) - NORMAL_CODES
    if unknown:
        raise UnprocessablePatch(
            f"unknown securityLabel {', '.join(sorted(unknown))}: N, MASQUE_PS,"
            " INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX"
        )
    return {column: code in codes for code, column in VISIBILITY_CODES.items()}


def _archived(after: dict[str, Any]) -> bool:
    found = [e for e in after.get("extension") or [] if e.get("url") == IS_ARCHIVED_URL]
    if len(found) > 1:
        raise UnprocessablePatch("isArchived appears more than once")
    if not found:
        return False
    value = found[0].get("valueBoolean")
    if not isinstance(value, bool) or set(found[0]) != {"url", "valueBoolean"}:
        raise UnprocessablePatch("isArchived is a valueBoolean")
    return value


def _check_operation_count(found: Any, limit: int) -> None:
    """422 beyond ``limit`` operations: a JSON Patch ``copy`` of a list into itself doubles
    it, so the work of a PATCH grows exponentially with its operations."""
    if isinstance(found, list) and len(found) > limit:
        raise too_many(
            "operations in the PATCH",
            len(found),
            limit,
            "OPENDMP_MAX_PATCH_OPERATIONS",
            code="too-many-operations",
        )


def _parsed_patch(
    body: bytes, content_type: str | None, limit: int
) -> Callable[[dict[str, Any]], Any]:
    """Read the PATCH body before anything is read from the record (a malformed body is
    refused without an access); the function applies it to the current resource."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        try:
            operations = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidPatch("malformed JSON Patch") from None
        _check_operation_count(operations, limit)
        check_depth(operations)
        return lambda before: apply_json_patch(before, operations)
    parameters = parse_resource(body, content_type)
    _check_operation_count(parameters.get("parameter"), limit)
    return lambda before: apply_fhirpath_patch(before, parameters)


async def _apply(
    ctx: ServiceContext,
    auth: AuthContext,
    where: DocumentLocation,
    view: DocumentView,
    after: dict[str, Any],
) -> DocumentView | None:
    """Carry out the intentions; the new view, or None after a delete."""
    actor, ins, document_id = auth.actor, where.ins, where.document_id
    status = after.get("status")
    labels = _labels(after)
    archived = _archived(after)
    visibility = {
        name: labels[name]
        for name in ("invisible_to_patient", "invisible_to_representatives")
        if labels[name] != getattr(view, name)
    }
    mask = labels["masked_by_patient"] != view.masked_by_patient
    archive = archived != view.archived
    current = "superseded" if view.status == "superseded" else "current"
    if status != current:
        if status != DELETE_STATUS:
            raise UnprocessablePatch(
                f"status {status!r} cannot be set: entered-in-error deletes the document; a"
                " version is superseded by its replacement (ITI-65)"
            )
        if visibility or mask or archive:
            raise UnprocessablePatch("a delete (entered-in-error) comes alone in its PATCH")
        await delete_document(ctx, actor=actor, ins=ins, document_id=document_id)
        return None
    if visibility:
        view = await set_visibility(
            ctx,
            actor=actor,
            ins=ins,
            document_id=document_id,
            invisible_to_patient=visibility.get("invisible_to_patient"),
            invisible_to_representatives=visibility.get("invisible_to_representatives"),
        )
    if archive:
        view = await archive_document(
            ctx, actor=actor, ins=ins, document_id=document_id, archived=archived
        )
    if mask:
        view = await mask_document(
            ctx, actor=actor, ins=ins, document_id=document_id, masked=labels["masked_by_patient"]
        )
    return view


async def patch_document(request: Request, auth: AuthContext, where: DocumentLocation) -> Response:
    ctx = _ctx(request)
    body = await read_body(request, limit=MAX_PATCH_BYTES)
    if not body:
        raise InvalidPatch("the PATCH body is empty")
    patched = _parsed_patch(
        body, request.headers.get("content-type"), ctx.limits.max_patch_operations
    )
    view = await read_document_metadata(
        ctx, actor=auth.actor, ins=where.ins, document_id=where.document_id
    )
    if_match = request.headers.get("if-match")
    if if_match is not None and if_match.strip() not in (
        f'W/"{view.version}"',
        f'"{view.version}"',
    ):
        raise PreconditionFailed(
            f"the document is at version {view.version}", code="version-conflict"
        )
    before = await reference_of(ctx, view, where)
    after: dict[str, Any] = patched(before)
    _unchanged_elsewhere(before, after)
    updated = await _apply(ctx, auth, where, view, after)
    prefer = request.headers.get("prefer", "").lower()
    if updated is None:
        return fhir_response(
            request, information("the document was deleted", code="document-deleted")
        )
    headers = version_headers(ctx, updated)
    if "return=minimal" in prefer:
        return Response(status_code=200, headers=headers)
    if "return=operationoutcome" in prefer:
        return fhir_response(request, information("the document was updated"), headers=headers)
    return fhir_response(request, await reference_of(ctx, updated, where), headers=headers)


PATCHED = fhir_ok(
    "the updated DocumentReference (or an OperationOutcome: Prefer, or after a delete)"
)
PATCH_DESCRIPTION = (
    "JSON Patch or FHIRPath Patch of status (entered-in-error), securityLabel and the"
    ' isArchived extension; If-Match: W/"<version>" guards against a concurrent change'
)


@router.patch(
    "/DocumentReference/{document_id}",
    summary="Update a document's metadata (PDSm: status, securityLabel, isArchived)",
    responses=PATCHED,
    openapi_extra=patch_body(PATCH_DESCRIPTION),
)
@by_id
async def patch_by_id(
    request: Request, document_id: str, auth: AuthContext = Depends(_scopes(*UPDATE_SCOPES))
) -> Response:
    where = await locate(_ctx(request), auth, document_id)
    return await patch_document(request, auth, where)


CONDITIONAL_SEARCH: dict[str, SearchParameter] = {
    "identifier": SearchParameter(
        "the document's uniqueId (urn:oid:…), entryUUID (urn:uuid:…) or id", required=True
    ),
    "patient.identifier": SearchParameter(
        "The INS: <INS system>|<INS>, when the identifier is not unique", schema=INS_TOKEN
    ),
    "patient": SearchParameter("[base/]Patient/ins-<oid>-<value>"),
}
CONDITIONAL_PARAMETERS: dict[str, frozenset[str]] = {
    name: frozenset() for name in CONDITIONAL_SEARCH
}


@router.patch(
    "/DocumentReference",
    summary="Conditional update of a document's metadata by identifier (PDSm)",
    responses=PATCHED,
    openapi_extra={
        "parameters": search_get(CONDITIONAL_SEARCH)["parameters"],
        "requestBody": patch_body(PATCH_DESCRIPTION)["requestBody"],
    },
)
@by_id
async def conditional_patch(
    request: Request, auth: AuthContext = Depends(_scopes(*UPDATE_SCOPES))
) -> Response:
    ctx = _ctx(request)
    pairs = urllib.parse.parse_qsl(request.url.query, keep_blank_values=True)
    check_value_counts(pairs, ctx.limits.max_search_values)
    params = Params(pairs, CONDITIONAL_PARAMETERS)
    if params.one("identifier") is None:
        raise InvalidInput(
            "a conditional PATCH needs identifier=<system>|<value>", code="missing-parameter"
        )
    ins = None
    if params.all("patient") or params.all("patient.identifier"):
        ins = patient_of(params)
    unique_ids, entry_uuids, ids = identifiers_of(params)
    found = await locate_documents_by_identifier(
        ctx, unique_ids=unique_ids, entry_uuids=entry_uuids, ids=ids, ins=ins, limit=2
    )
    if not found:
        raise document_not_found()
    if len(found) > 1:
        raise PreconditionFailed(
            "several documents have this identifier: add patient.identifier, or PATCH by id",
            code="multiple-matches",
        )
    where = found[0]
    same_patient(auth)(where.ins)
    return await patch_document(request, auth, where)
