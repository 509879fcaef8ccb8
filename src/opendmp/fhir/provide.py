"""ITI-65 Provide Document Bundle (``POST /fhir``) and ITI-105 Simplified Publish
(``POST /fhir/DocumentReference``).

The request is read with a size limit (413 before the whole body is read), parsed (JSON or
XML), its entries and documents counted and its documents' sizes checked against the bounds
(docs/security.md, "Bounded work per request"), validated with the R4B models and strict
JSON types, mapped to the deposit service's inputs, and stored all or nothing by
:func:`opendmp.services.deposit.provide_documents`. Parsing and validation are CPU work: for
a body beyond 64 kB they run in a worker thread, so that the event loop keeps serving other
requests meanwhile (a smaller one costs less than the hand-over to a thread).
The answer is a ``transaction-response`` Bundle, one entry per request entry in the same
order: ``201 Created`` + absolute ``location`` for what was created, ``200 OK`` for the
PATCH that supersedes a replaced document (PDSm4DMP), the Patient and an ignored Folder;
warnings in ``entry.response.outcome``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import Response

from opendmp.auth.dependencies import AuthContext, CurrentAuth, InsufficientScope
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.domain.limits import (
    RequestLimits,
    check_document_count,
    decoded_size,
    too_large,
    too_many,
)
from opendmp.fhir.api import router
from opendmp.fhir.formats import _XML_NAMES, fhir_response, parse_resource, read_body
from opendmp.fhir.mapping import document_reference, fhir_instant
from opendmp.fhir.metadata_in import (
    MHD_LIST_TYPES,
    EntryWarning,
    InvalidMetadata,
    Parsed,
    _profiles,
    document_input,
    refuse,
    resolve_subject,
    submission_input,
)
from opendmp.fhir.openapi import (
    CODEABLE_CONCEPT,
    CODING,
    FHIR_STRING,
    IDENTIFIER,
    REFERENCE,
    fhir_ok,
    resource_body,
    resource_schema,
)
from opendmp.fhir.outcome import XDS_ERROR_SYSTEM, information, issue, outcome
from opendmp.fhir.shapes import check_resource
from opendmp.fhir.validation import InvalidResource
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.deposit import (
    DepositWarning,
    DocumentInput,
    ProvideResult,
    SubmissionSetInput,
    checked_by_size,
    provide_documents,
)

DEFAULT_SOURCE_ID = "1.2.250.1.213.1.1.9"
_T = TypeVar("_T")
PATCH_STATUS_PATH = "DocumentReference.status"


def _settings_value(request: Request, name: str, default: Any) -> Any:
    runtime = getattr(request.app.state, "runtime", None)
    return getattr(getattr(runtime, "settings", None), name, default)


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.runtime.ctx
    return ctx


FHIR_NS = "{http://hl7.org/fhir}"


def _entry_count(body: bytes, content_type: str | None, data: dict[str, Any] | None) -> int:
    """Entries of a Bundle, counted before the R4B validation (the costly part)."""
    if data is not None:
        entries = data.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    from opendmp.cda.xml import parse_xml

    return len(parse_xml(body).findall(f"{FHIR_NS}entry"))


def _is_xml(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() in _XML_NAMES


def _parsed(body: bytes, content_type: str | None, limits: RequestLimits | None) -> dict[str, Any]:
    """Parse and validate a request body; with ``limits``, a Bundle's entries are counted
    first (422 beyond ``max_bundle_entries``, before the XML or R4B validation)."""
    data = None if _is_xml(content_type) else parse_resource(body, content_type)
    if limits is not None:
        found = _entry_count(body, content_type, data)
        if found > limits.max_bundle_entries:
            raise too_many(
                "Bundle.entry",
                found,
                limits.max_bundle_entries,
                "OPENDMP_MAX_BUNDLE_ENTRIES",
                code="too-many-entries",
            )
    if data is None:
        data = parse_resource(body, content_type)
    check_resource(data)
    return data


async def _read(
    request: Request, mapping: Callable[[dict[str, Any], RequestLimits], _T], *, bundle: bool
) -> _T | InvalidMetadata:
    """The body read, parsed, validated and mapped to the deposit's inputs by ``mapping``, in
    one step (``checked_by_size``: one hand-over to a thread at most); the InvalidMetadata
    ``mapping`` raises is returned, for the route to answer it."""
    limits = _ctx(request).limits
    body = await read_body(request, limit=limits.max_request_bytes)
    content_type = request.headers.get("content-type")

    def work() -> _T | InvalidMetadata:
        data = _parsed(body, content_type, limits if bundle else None)
        try:
            return mapping(data, limits)
        except InvalidMetadata as exc:
            return exc

    return await checked_by_size(len(body), work)


def _check_document_size(data: Any, where: str, limits: RequestLimits) -> None:
    """413 for base64 content decoding beyond ``max_document_bytes`` (not decoded to know)."""
    if isinstance(data, str) and decoded_size(data) > limits.max_document_bytes:
        raise too_large(
            where, decoded_size(data), limits.max_document_bytes, "OPENDMP_MAX_DOCUMENT_BYTES"
        )


# --- ITI-65: the Bundle -> Parsed ------------------------------------------------------------


def _binary_content(resource: dict[str, Any], where: str) -> bytes:
    data = resource.get("data")
    if not isinstance(data, str) or not data:
        raise refuse(f"{where}.data is empty", f"{where}.data", code="missing-document")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidResource(f"{where}.data is not base64", expression=f"{where}.data") from None


def _patch_is_supersede(resource: dict[str, Any], where: str) -> None:
    operations = [p for p in resource.get("parameter") or [] if p.get("name") == "operation"]
    if len(operations) != 1 or len(resource.get("parameter") or []) != 1:
        raise refuse(f"{where}: the PATCH must hold one operation", f"{where}.parameter")
    parts = {p.get("name"): p for p in operations[0].get("part") or []}
    kind = (parts.get("type") or {}).get("valueCode")
    path = (parts.get("path") or {}).get("valueString")
    value_part = parts.get("value") or {}
    value = value_part.get("valueCode") or value_part.get("valueString")
    if (kind, path, value) != ("replace", PATCH_STATUS_PATH, "superseded"):
        raise refuse(
            f"{where}: only 'replace DocumentReference.status superseded' is accepted",
            f"{where}.parameter[0]",
        )


def _patch_target(url: str) -> str:
    """``DocumentReference/<id>`` (or an absolute URL ending so) -> ``<id>``."""
    path = url.split("?", 1)[0].rstrip("/")
    head, _, last = path.rpartition("/")
    if not head.endswith("DocumentReference"):
        return ""
    return last


def _check_bundle_type(bundle: dict[str, Any]) -> None:
    if bundle.get("resourceType") != "Bundle":
        raise InvalidResource(
            f"ITI-65 expects a transaction Bundle, got {bundle.get('resourceType')}",
            expression="Bundle",
        )
    if bundle.get("type") != "transaction":
        raise InvalidResource(
            f"Bundle.type must be transaction, got {bundle.get('type')!r}",
            expression="Bundle.type",
        )


def _list_kind(resource: dict[str, Any], method: str) -> str:
    codes = [
        c.get("code")
        for c in (resource.get("code") or {}).get("coding") or []
        if c.get("system") in (MHD_LIST_TYPES, None)
    ]
    if "submissionset" in codes and method == "POST":
        return "submissionset"
    if "folder" in codes and method in ("POST", "PUT"):
        return "folder"
    return "unknown"


# (resourceType, method) of the entries ITI-65 accepts, besides Lists.
_ENTRY_KINDS = {
    ("DocumentReference", "POST"): "document",
    ("Binary", "POST"): "binary",
    ("Parameters", "PATCH"): "patch",
    **{("Patient", method): "patient" for method in ("GET", "POST", "PUT")},
}


def _entry_kind(entry: dict[str, Any], where: str, limits: RequestLimits) -> str:
    """The role of one Bundle entry (refused when it has none in ITI-65)."""
    resource = entry.get("resource")
    request = entry.get("request") or {}
    if not isinstance(resource, dict):
        raise InvalidResource(f"{where}.resource is required", expression=f"{where}.resource")
    if not request.get("method"):
        raise InvalidResource(
            f"{where}.request is required in a transaction", expression=f"{where}.request"
        )
    method = str(request["method"]).upper()
    rtype = resource.get("resourceType")
    if rtype == "Bundle":
        raise OpenDMPError(
            f"{where}: FHIR Document Bundles are not supported (ITI-65 FHIR Documents"
            " Publish option)",
            code="fhir-document-not-supported",
            http_status=422,
        )
    if rtype == "List":
        kind = _list_kind(resource, method)
    elif isinstance(rtype, str):
        kind = _ENTRY_KINDS.get((rtype, method), "unknown")
    else:
        kind = "unknown"
    if kind == "binary":
        _check_document_size(resource.get("data"), f"{where}.resource.data", limits)
    if kind == "unknown":
        raise refuse(
            f"{where}: {rtype} with {method} is not an ITI-65 entry (SubmissionSet List,"
            " DocumentReference, Binary, PATCH Parameters, Folder List, Patient)",
            where,
        )
    return kind


@dataclass
class _Entries:
    """The Bundle's entries sorted by role."""

    entries: list[dict[str, Any]]
    kinds: list[str] = field(default_factory=list)  # per entry
    by_url: dict[str, int] = field(default_factory=dict)  # fullUrl -> entry
    bundled_patients: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == kind]

    def resource(self, i: int) -> dict[str, Any]:
        resource: dict[str, Any] = self.entries[i]["resource"]
        return resource


def _classify(entries: list[dict[str, Any]], limits: RequestLimits) -> _Entries:
    sorted_entries = _Entries(entries)
    for i, entry in enumerate(entries):
        kind = _entry_kind(entry, f"Bundle.entry[{i}]", limits)
        full_url = entry.get("fullUrl")
        if full_url:
            sorted_entries.by_url[str(full_url)] = i
        if kind == "patient":
            resource = entry["resource"]
            if full_url:
                sorted_entries.bundled_patients[str(full_url)] = resource
            if resource.get("id"):
                sorted_entries.bundled_patients[f"Patient/{resource['id']}"] = resource
        sorted_entries.kinds.append(kind)
    return sorted_entries


def _submission_set_entry(sorted_entries: _Entries, limits: RequestLimits) -> int:
    docs = sorted_entries.of_kind("document")
    lists = sorted_entries.of_kind("submissionset")
    check_document_count("DocumentReferences in the Bundle", len(docs), limits)
    if len(lists) != 1:
        raise refuse(
            f"the Bundle must hold exactly one SubmissionSet List (POST), found {len(lists)}",
            "Bundle.entry",
        )
    if not docs:
        raise refuse("the Bundle holds no DocumentReference", "Bundle.entry")
    return lists[0]


def _subject(
    resource: dict[str, Any], where: str, sorted_entries: _Entries
) -> list[tuple[Ins, str]]:
    """The patient ``resource`` names, with where it does (none when it has no subject)."""
    if resource.get("subject") is None:
        return []
    ins = resolve_subject(
        resource["subject"],
        f"{where}.subject",
        holder=resource,
        bundled=sorted_entries.bundled_patients,
    )
    return [(ins, f"{where}.subject")]


def _check_members(
    list_resource: dict[str, Any], list_where: str, sorted_entries: _Entries
) -> None:
    """SubmissionSet members must be in the Bundle."""
    by_url, kinds = sorted_entries.by_url, sorted_entries.kinds
    for position, item in enumerate(list_resource.get("entry") or []):
        ref = (item.get("item") or {}).get("reference")
        if ref not in by_url or kinds[by_url[ref]] not in ("document", "folder"):
            here = f"{list_where}.entry[{position}].item"
            raise refuse(f"{here}: {ref!r} is not a DocumentReference of this Bundle", here)


def _attached_binary(
    attachment: dict[str, Any], at: str, sorted_entries: _Entries, used_binaries: dict[int, int]
) -> int:
    """The entry of the Binary a DocumentReference's attachment points to, used once."""
    if attachment.get("data") is not None:
        raise refuse(f"{at}.data is not allowed in ITI-65 (0..0): use a Binary", f"{at}.data")
    url = attachment.get("url")
    if not url:
        raise refuse(f"{at}.url is required", f"{at}.url", code="missing-document")
    target = sorted_entries.by_url.get(str(url))
    if target is None or sorted_entries.kinds[target] != "binary":
        raise refuse(
            f"{at}.url: {url!r} is not a Binary of this Bundle (content hosted elsewhere is"
            " not fetched)",
            f"{at}.url",
            code="missing-document",
        )
    if target in used_binaries:
        raise refuse(f"{at}.url: the Binary is already used by another document", at)
    return target


def _document(
    i: int,
    sorted_entries: _Entries,
    bundle_profiles: list[str],
    used_binaries: dict[int, int],
    warnings: list[EntryWarning],
) -> tuple[DocumentInput, int]:
    """The deposit input of the DocumentReference of entry ``i``, and its Binary's entry."""
    where = f"Bundle.entry[{i}].resource"
    resource = sorted_entries.resource(i)
    attachments = resource.get("content") or []
    att = (attachments[0].get("attachment") or {}) if attachments else {}
    at = f"{where}.content[0].attachment"
    target = _attached_binary(att, at, sorted_entries, used_binaries)
    used_binaries[target] = i
    binary = sorted_entries.resource(target)
    content = _binary_content(binary, f"Bundle.entry[{target}].resource")
    if binary.get("contentType") and binary["contentType"] != att.get("contentType"):
        warnings.append(
            EntryWarning(
                "content-type-differs",
                f"{at}.contentType differs from the Binary's contentType",
            )
        )
    document = document_input(
        resource,
        where,
        content=content,
        profiles=bundle_profiles + _profiles(resource),
        warnings=warnings,
    )
    return document, target


def _check_binaries_used(sorted_entries: _Entries, used_binaries: dict[int, int]) -> None:
    for i in sorted_entries.of_kind("binary"):
        if i not in used_binaries:
            raise refuse(
                f"Bundle.entry[{i}]: the Binary is not referenced by any DocumentReference",
                f"Bundle.entry[{i}]",
            )


def _one_patient(subjects: list[tuple[Ins, str]]) -> Ins:
    if not subjects:
        raise refuse("the SubmissionSet or the DocumentReferences must name the patient", None)
    first, first_where = subjects[0]
    for ins, where in subjects[1:]:
        if ins != first:
            raise refuse(
                f"{where} is not the same patient as {first_where}",
                where,
                code="patient-mismatch",
            )
    return first


def _warn_ignored(parsed: Parsed, list_index: int, bundle_profiles: list[str]) -> None:
    """Warnings for the Folders (ignored) and for a Bundle without a profile."""
    for i, kind in enumerate(parsed.kinds):
        if kind == "folder":
            parsed.warn(
                i,
                EntryWarning(
                    "folder-not-processed",
                    "Folders are not supported: this Folder was ignored",
                    "PartialFolderContentNotProcessed",
                ),
            )
    if not bundle_profiles:
        parsed.warn(
            list_index,
            EntryWarning("no-profile", "Bundle.meta.profile is absent: Minimal metadata assumed"),
        )


def parse_bundle(bundle: dict[str, Any], limits: RequestLimits) -> Parsed:
    _check_bundle_type(bundle)
    bundle_profiles = _profiles(bundle)
    sorted_entries = _classify(bundle.get("entry") or [], limits)
    list_index = _submission_set_entry(sorted_entries, limits)
    list_resource = sorted_entries.resource(list_index)
    list_where = f"Bundle.entry[{list_index}].resource"
    list_warnings: list[EntryWarning] = []
    submission = submission_input(
        list_resource, list_where, bundle_profiles + _profiles(list_resource), list_warnings
    )
    warnings: dict[int, list[EntryWarning]] = {list_index: list_warnings}
    subjects = _subject(list_resource, list_where, sorted_entries)
    _check_members(list_resource, list_where, sorted_entries)

    documents: list[DocumentInput] = []
    document_entry: list[int] = []
    binary_entry: list[int | None] = []
    used_binaries: dict[int, int] = {}
    for i in sorted_entries.of_kind("document"):
        resource = sorted_entries.resource(i)
        subjects += _subject(resource, f"Bundle.entry[{i}].resource", sorted_entries)
        entry_warnings = warnings.setdefault(i, [])
        document, target = _document(
            i, sorted_entries, bundle_profiles, used_binaries, entry_warnings
        )
        documents.append(document)
        document_entry.append(i)
        binary_entry.append(target)
    _check_binaries_used(sorted_entries, used_binaries)
    parsed = Parsed(
        ins=_one_patient(subjects),
        submission=submission,
        documents=documents,
        kinds=sorted_entries.kinds,
        document_entry=document_entry,
        binary_entry=binary_entry,
        warnings=warnings,
    )
    _match_patches(parsed, sorted_entries.entries, sorted_entries.of_kind("patch"))
    _warn_ignored(parsed, list_index, bundle_profiles)
    return parsed


def _match_patches(parsed: Parsed, entries: list[dict[str, Any]], patches: list[int]) -> None:
    """A PATCH superseding a DocumentReference must match a ``relatesTo replaces``."""
    for i in patches:
        where = f"Bundle.entry[{i}]"
        _patch_is_supersede(entries[i]["resource"], f"{where}.resource")
        url = str((entries[i].get("request") or {}).get("url") or "")
        target = _patch_target(url)
        match = next(
            (
                position
                for position, doc in enumerate(parsed.documents)
                if doc.replaces is not None
                and doc.replaces.kind == "id"
                and target
                and doc.replaces.value.removeprefix("urn:uuid:") == target.removeprefix("urn:uuid:")
            ),
            None,
        )
        if match is None:
            raise refuse(
                f"{where}.request.url: {url!r} is not the target of a relatesTo replaces",
                f"{where}.request.url",
            )
        parsed.patch_targets[i] = match


# --- the response -------------------------------------------------------------------------------


def _warning_issue(warning: EntryWarning) -> dict[str, Any]:
    item = issue(warning.message, code=warning.code, severity="warning", issue_type="informational")
    if warning.xds_code is not None:
        item["details"]["coding"].insert(0, {"system": XDS_ERROR_SYSTEM, "code": warning.xds_code})
    return item


def _entry_outcome(warnings: list[EntryWarning]) -> dict[str, Any] | None:
    if not warnings:
        return None
    return outcome(*(_warning_issue(w) for w in warnings))


def _response_entry(
    status: str,
    *,
    location: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    warnings: list[EntryWarning] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status}
    if location:
        response["location"] = location
    if etag:
        response["etag"] = etag
    if last_modified:
        response["lastModified"] = last_modified
    result = _entry_outcome(warnings or [])
    if result is not None:
        response["outcome"] = result
    return {"response": response}


def _service_warnings(parsed: Parsed, warnings: list[DepositWarning]) -> None:
    for warning in warnings:
        index = warning.entry_index
        entry = (
            parsed.document_entry[index]
            if index is not None
            else parsed.kinds.index("submissionset")
        )
        parsed.warn(entry, EntryWarning(warning.code, warning.message))


def transaction_response(parsed: Parsed, result: ProvideResult, base: str) -> dict[str, Any]:
    _service_warnings(parsed, result.warnings)
    fhir = f"{base}/fhir"
    doc_of_entry = {entry: n for n, entry in enumerate(parsed.document_entry)}
    doc_of_binary = {entry: n for n, entry in enumerate(parsed.binary_entry) if entry is not None}
    out: list[dict[str, Any]] = []
    for i, kind in enumerate(parsed.kinds):
        warnings = parsed.warnings.get(i, [])
        if kind == "submissionset":
            set_id = result.submission_set_entry_uuid.removeprefix("urn:uuid:")
            out.append(
                _response_entry("201 Created", location=f"{fhir}/List/{set_id}", warnings=warnings)
            )
        elif kind == "document":
            n = doc_of_entry[i]
            view = result.documents[n]
            entry_id = view.entry_uuid.removeprefix("urn:uuid:")
            out.append(
                _response_entry(
                    "201 Created" if result.created[n] else "200 OK",
                    location=f"{fhir}/DocumentReference/{entry_id}",
                    etag=f'W/"{view.version}"',
                    last_modified=fhir_instant(view.updated_at or view.deposited_at),
                    warnings=warnings,
                )
            )
        elif kind == "binary":
            view = result.documents[doc_of_binary[i]]
            out.append(
                _response_entry(
                    "201 Created" if result.created[doc_of_binary[i]] else "200 OK",
                    location=f"{fhir}/Binary/{view.id}",
                    warnings=warnings,
                )
            )
        elif kind == "patch":
            old = result.superseded[parsed.patch_targets[i]]
            location = None
            if old is not None:
                location = f"{fhir}/DocumentReference/{old.entry_uuid.removeprefix('urn:uuid:')}"
            out.append(_response_entry("200 OK", location=location, warnings=warnings))
        else:  # patient, folder
            out.append(_response_entry("200 OK", warnings=warnings))
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": out}


# --- routes ---------------------------------------------------------------------------------


def _scopes(*accepted: str) -> Any:
    async def dependency(auth: CurrentAuth) -> AuthContext:
        if auth.scopes is not None and not auth.scopes.intersection(accepted):
            raise InsufficientScope(f"the token lacks the scope {' or '.join(accepted)}")
        return auth

    return dependency


def _metadata_outcome(request: Request, exc: InvalidMetadata) -> Response:
    issues = [
        issue(exc.message, code=exc.code, issue_type="processing", expression=path)
        for path in (exc.paths or [None])  # type: ignore[list-item]
    ]
    return fhir_response(request, outcome(*issues), status_code=exc.http_status)


ATTACHMENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "contentType": FHIR_STRING,
        "language": FHIR_STRING,
        "data": {"type": "string", "format": "byte"},
        "url": FHIR_STRING,
        "size": {"type": "integer", "minimum": 0},
        "hash": {"type": "string", "format": "byte"},
        "title": FHIR_STRING,
        "creation": FHIR_STRING,
    },
}
DOCUMENT_REFERENCE_ELEMENTS: dict[str, Any] = {
    "status": {"type": "string", "enum": ["current"]},
    "masterIdentifier": IDENTIFIER,
    "identifier": {"type": "array", "items": IDENTIFIER},
    "type": CODEABLE_CONCEPT,
    "category": {"type": "array", "items": CODEABLE_CONCEPT},
    "subject": REFERENCE,
    "date": FHIR_STRING,
    "author": {"type": "array", "items": REFERENCE},
    "securityLabel": {"type": "array", "items": CODEABLE_CONCEPT},
    "relatesTo": {"type": "array", "items": {"type": "object"}},
    "content": {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["attachment"],
            "properties": {"attachment": ATTACHMENT, "format": CODING},
        },
    },
    "context": {"type": "object"},
    "extension": {"type": "array", "items": {"type": "object"}},
    "contained": {"type": "array", "items": {"type": "object"}},
}
ITI105_SCHEMA = resource_schema(
    "DocumentReference",
    DOCUMENT_REFERENCE_ELEMENTS,
    ("status", "type", "category", "subject", "content"),
)
ITI65_SCHEMA = resource_schema(
    "Bundle",
    {
        "type": {"type": "string", "enum": ["transaction"]},
        "meta": {"type": "object"},
        "entry": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["fullUrl", "resource", "request"],
                "properties": {
                    "fullUrl": FHIR_STRING,
                    "resource": {
                        "anyOf": [
                            resource_schema("List", {}, ("status", "mode", "code", "subject")),
                            resource_schema(
                                "DocumentReference",
                                DOCUMENT_REFERENCE_ELEMENTS,
                                ("status", "content"),
                            ),
                            resource_schema("Binary", {"contentType": FHIR_STRING}),
                            resource_schema("Patient", {}),
                            resource_schema("Parameters", {}),
                        ]
                    },
                    "request": {
                        "type": "object",
                        "required": ["method", "url"],
                        "properties": {
                            "method": {"type": "string", "enum": ["POST", "PATCH", "PUT"]},
                            "url": FHIR_STRING,
                        },
                    },
                },
            },
        },
    },
    ("type", "entry"),
)


@router.post(
    "",
    summary="ITI-65 Provide Document Bundle",
    responses=fhir_ok("transaction-response Bundle", resource_type="Bundle"),
    openapi_extra=resource_body(
        "a transaction Bundle: one List (SubmissionSet), DocumentReferences and Binaries",
        ITI65_SCHEMA,
    ),
)
async def provide_document_bundle(
    request: Request, auth: AuthContext = Depends(_scopes("ITI-65"))
) -> Response:
    parsed = await _read(request, parse_bundle, bundle=True)
    if isinstance(parsed, InvalidMetadata):
        return _metadata_outcome(request, parsed)
    auth.check_patient(str(parsed.ins))
    ctx = _ctx(request)
    result = await provide_documents(
        ctx,
        actor=auth.actor,
        ins=parsed.ins,
        submission=parsed.submission,
        documents=parsed.documents,
    )
    return fhir_response(request, transaction_response(parsed, result, ctx.base_url))


def _source_id(request: Request, auth: AuthContext) -> str:
    organization = getattr(auth.actor, "organization", None)
    if isinstance(organization, str) and organization.isdigit():
        # Struct_IdNat under the ANS structure-identifier OID.
        return f"1.2.250.1.71.4.2.2.{int(organization)}"
    return str(_settings_value(request, "default_source_id", DEFAULT_SOURCE_ID))


def parse_simplified(
    resource: dict[str, Any], limits: RequestLimits
) -> tuple[Ins, Any, list[EntryWarning]]:
    where = "DocumentReference"
    if resource.get("resourceType") != "DocumentReference":
        raise InvalidResource(
            f"ITI-105 expects a DocumentReference, got {resource.get('resourceType')}",
            expression="DocumentReference",
        )
    if resource.get("identifier"):
        raise refuse(
            f"{where}.identifier is assigned by the recipient (0..0)", f"{where}.identifier"
        )
    if resource.get("relatesTo"):
        raise refuse(
            f"{where}.relatesTo: Simplified Publish cannot replace a document",
            f"{where}.relatesTo",
        )
    attachments = resource.get("content") or []
    att = (attachments[0].get("attachment") or {}) if attachments else {}
    at = f"{where}.content[0].attachment"
    if att.get("url"):
        raise refuse(f"{at}.url is not allowed in ITI-105 (0..0)", f"{at}.url")
    data = att.get("data")
    if not isinstance(data, str) or not data:
        raise refuse(f"{at}.data is required (1..1)", f"{at}.data", code="missing-document")
    _check_document_size(data, f"{at}.data", limits)
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidResource(f"{at}.data is not base64", expression=f"{at}.data") from None
    ins = resolve_subject(resource.get("subject"), f"{where}.subject", holder=resource, bundled={})
    warnings: list[EntryWarning] = []
    document = document_input(
        resource, where, content=content, profiles=[], warnings=warnings, inline=True
    )
    return ins, document, warnings


@router.post(
    "/DocumentReference",
    status_code=201,
    summary="ITI-105 Simplified Publish (inline content)",
    responses=fhir_ok(
        "the stored DocumentReference (201), or the one already stored (200); an"
        " OperationOutcome with Prefer: return=OperationOutcome",
        statuses=(200, 201),
    ),
    openapi_extra=resource_body(
        "a DocumentReference with its content inline (attachment.data)", ITI105_SCHEMA
    ),
)
async def simplified_publish(
    request: Request, auth: AuthContext = Depends(_scopes("ITI-105", "ITI-65"))
) -> Response:
    simplified = await _read(request, parse_simplified, bundle=False)
    if isinstance(simplified, InvalidMetadata):
        return _metadata_outcome(request, simplified)
    ins, document, warnings = simplified
    auth.check_patient(str(ins))
    ctx = _ctx(request)
    submission = SubmissionSetInput(
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id=_source_id(request, auth),
        submitted_at=ctx.now(),
    )
    result = await provide_documents(
        ctx, actor=auth.actor, ins=ins, submission=submission, documents=[document]
    )
    view = result.documents[0]
    body = document_reference(view, base_url=ctx.base_url, ins_oid=ins.oid, ins_value=ins.value)
    entry_id = view.entry_uuid.removeprefix("urn:uuid:")
    headers = {
        "Location": f"{ctx.base_url}/fhir/DocumentReference/{entry_id}",
        "ETag": f'W/"{view.version}"',
    }
    status = 201 if result.created[0] else 200
    if "return=operationoutcome" in request.headers.get("prefer", "").lower():
        # FHIR Prefer: the warnings have no other place in an ITI-105 answer.
        notes = [*warnings, *(EntryWarning(w.code, w.message) for w in result.warnings)]
        body = _entry_outcome(notes) or information("the document was stored")
    return fhir_response(request, body, status_code=status, headers=headers)
