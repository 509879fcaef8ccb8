"""The ITI-67 searchset Bundle written straight to JSON bytes (docs/benchmarks.md, "The
search page").

``mapping.document_reference`` builds a DocumentReference as a tree of dicts (what every
other answer and the XML format use): about forty small dicts, lists and strings a
document, then serialised, ~25 µs a document, a fifth of a page's CPU. Here each entry is
written as bytes in the same order: the fixed parts are constants; the parts that depend on
one or a few stored codes (type, category, format, security labels, the default author) are
serialised once per value and kept; every other value is written by orjson (escaped as the
dict path escapes it), the UTC instants by orjson's own datetime writer. What is kept as
given (``extra``) goes through the same helpers as ``document_reference``.
tests/unit/test_searchset_json.py holds the bytes equal to ``orjson.dumps`` of the dict path
on generated documents; change both together.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import orjson

from opendmp.domain.identifiers import Ins
from opendmp.fhir.mapping import (
    CLASS_SYSTEM,
    FACILITY_SYSTEM,
    FORMAT_SYSTEM,
    IS_ARCHIVED_URL,
    LOGICAL_ID_SYSTEM,
    PDSM_DOCREF_PROFILE,
    PRACTICE_SYSTEM,
    RFC3986,
    coding,
    default_author,
    document_context,
    fhir_hash,
    fhir_instant,
    type_concept,
    uid_value,
    visibility_labels,
)
from opendmp.services.documents import DocumentPage, DocumentView

_dumps = orjson.dumps
# orjson writes an aware UTC datetime as fhir_instant does: seconds, "Z" (checked by the test).
_INSTANT = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
_CACHED = 1024  # values kept per code-valued part (codes come from value sets: few)
_NO_EXTRA: dict[str, Any] = {}  # read, never written
_PROFILE = _dumps([PDSM_DOCREF_PROFILE])
_ARCHIVED = {
    flag: b',"extension":' + _dumps([{"url": IS_ARCHIVED_URL, "valueBoolean": flag}])
    for flag in (False, True)
}
_STATUS = {
    "superseded": b',"status":"superseded"',
    "current": b',"status":"current"',
}
_AUTHOR_REFERENCE = _dumps([{"reference": "#author"}])


def _instant(moment: dt.datetime | None) -> bytes:
    if moment is not None and moment.tzinfo is dt.UTC:
        return _dumps(moment, option=_INSTANT)
    return _dumps(fhir_instant(moment))


@functools.lru_cache(maxsize=_CACHED)
def _type(type_code: str) -> bytes:
    return _dumps(type_concept(type_code))


@functools.lru_cache(maxsize=_CACHED)
def _category(class_code: str) -> bytes:
    return _dumps([coding(CLASS_SYSTEM, class_code)])


@functools.lru_cache(maxsize=_CACHED)
def _format(format_code: str) -> bytes:
    return _dumps({"system": FORMAT_SYSTEM, "code": format_code})


@functools.lru_cache(maxsize=8)
def _labels(masked: bool, invisible_to_patient: bool, invisible_to_representatives: bool) -> bytes:
    return _dumps(visibility_labels(masked, invisible_to_patient, invisible_to_representatives))


@functools.lru_cache(maxsize=_CACHED)
def _contained(idnat: str, name: str | None, organization_idnat: str | None) -> bytes:
    return _dumps(default_author(idnat, name, organization_idnat)[0])


@functools.lru_cache(maxsize=_CACHED)
def _concept(system: str, code: str) -> bytes:
    return _dumps(coding(system, code))


def _given(extra: dict[str, Any], key: str, default: bytes | None) -> bytes | None:
    """The element as given at deposit when there is one, else the one from the columns."""
    found = extra.get(key)
    return _dumps(found) if found else default


def _context(doc: DocumentView, extra: dict[str, Any]) -> bytes | None:
    if extra.get("context"):  # completed from the columns: the dict path's helper
        context = document_context(doc, extra)
        return _dumps(context) if context else None
    parts: list[bytes] = []
    if doc.event_codes:
        parts.append(b'"event":' + _dumps([{"coding": [{"code": c}]} for c in doc.event_codes]))
    start, end = _instant(doc.service_start), _instant(doc.service_stop)
    period = [b'"start":' + start] if start != b"null" else []
    if end != b"null":
        period.append(b'"end":' + end)
    if period:
        parts.append(b'"period":{' + b",".join(period) + b"}")
    if doc.facility_type:
        parts.append(b'"facilityType":' + _concept(FACILITY_SYSTEM, doc.facility_type))
    if doc.practice_setting:
        parts.append(b'"practiceSetting":' + _concept(PRACTICE_SYSTEM, doc.practice_setting))
    return b"{" + b",".join(parts) + b"}" if parts else None


def _attachment(doc: DocumentView, base_url: str) -> bytes:
    creation = _instant(doc.creation_time)
    return b"".join(
        (
            b'{"contentType":',
            _dumps(doc.mime_type),
            b',"language":',
            _dumps(doc.language),
            b',"url":',
            _dumps(f"{base_url}/fhir/Binary/{doc.id}"),
            b',"size":',
            _dumps(doc.size),
            b',"hash":',
            _dumps(fhir_hash(doc.sha1)),
            b',"title":',
            _dumps(doc.title),
            b',"creation":' + creation if creation != b"null" else b"",
            b"}",
        )
    )


def _authored(doc: DocumentView, extra: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
    """``contained`` and ``author``: as given, else the default author from the columns."""
    if not doc.author_idnat:
        return _given(extra, "contained", None), _given(extra, "author", None)
    contained = _contained(doc.author_idnat, doc.author_name, doc.author_organization_idnat)
    return _given(extra, "contained", contained), _given(extra, "author", _AUTHOR_REFERENCE)


def _resource(
    doc: DocumentView, *, base_url: str, subject: bytes, replaces_entry_uuid: str | None
) -> list[bytes]:
    extra: dict[str, Any] = orjson.loads(doc.extra) if doc.extra else _NO_EXTRA
    entry_id = doc.entry_uuid.removeprefix("urn:uuid:")
    contained, author = _authored(doc, extra)
    out = [
        b'{"fullUrl":',
        _dumps(f"{base_url}/fhir/DocumentReference/{entry_id}"),
        b',"resource":{"resourceType":"DocumentReference","id":',
        _dumps(entry_id),
        b',"meta":{"versionId":',
        _dumps(str(doc.version)),
        b',"lastUpdated":',
        _instant(doc.updated_at or doc.deposited_at),
        b',"profile":',
        _given(extra, "meta_profile", _PROFILE) or _PROFILE,
        b"}",
    ]
    if contained is not None:
        out += (b',"contained":', contained)
    out += (
        _ARCHIVED[doc.archived],
        b',"masterIdentifier":{"use":"usual","system":"' + RFC3986.encode() + b'","value":',
        _dumps(uid_value(doc.unique_id)),
        b'},"identifier":[{"use":"official","system":"' + RFC3986.encode() + b'","value":',
        _dumps(f"urn:uuid:{entry_id}"),
        b'},{"use":"secondary","system":"' + LOGICAL_ID_SYSTEM.encode() + b'","value":',
        _dumps(str(doc.id)),
        b"}]",
        _STATUS["superseded" if doc.status == "superseded" else "current"],
        b',"type":',
        _given(extra, "type", None) or _type(doc.type_code),
        b',"category":',
        _given(extra, "category", None) or _category(doc.class_code),
        b',"subject":',
        subject,
        b',"date":',
        _instant(doc.deposited_at),
    )
    if author is not None:
        out += (b',"author":', author)
    for key in ("authenticator", "custodian", "description"):
        given = _given(extra, key, None)
        if given is not None:
            out += (b',"' + key.encode() + b'":', given)
    if doc.replaces_id is not None and replaces_entry_uuid:
        target = replaces_entry_uuid.removeprefix("urn:uuid:")
        out += (
            b',"relatesTo":[{"code":"replaces","target":{"reference":',
            _dumps(f"DocumentReference/{target}"),
            b"}}]",
        )
    out += (
        b',"securityLabel":',
        _labels(doc.masked_by_patient, doc.invisible_to_patient, doc.invisible_to_representatives),
        b',"content":[{"attachment":',
        _attachment(doc, base_url),
        b',"format":',
        _given(extra, "format", None) or _format(doc.format_code),
        b"}]",
    )
    context = _context(doc, extra)
    if context is not None:
        out += (b',"context":', context)
    out.append(b'},"search":{"mode":"match"}}')
    return out


def searchset_json(
    page: DocumentPage, *, base_url: str, ins: Ins, links: list[dict[str, str]]
) -> bytes:
    """``orjson.dumps(fhir.search.searchset(page, …))``, written directly."""
    subject = _dumps({"identifier": {"system": f"urn:oid:{ins.oid}", "value": ins.value}})
    out = [b'{"resourceType":"Bundle","type":"searchset","total":', _dumps(page.total)]
    if links:
        out += (b',"link":', _dumps(links))
    out.append(b',"entry":[')
    replaced = page.replaced_entry_uuids
    for index, doc in enumerate(page.items):
        if index:
            out.append(b",")
        replaces = replaced.get(doc.replaces_id) if doc.replaces_id else None
        out += _resource(doc, base_url=base_url, subject=subject, replaces_entry_uuid=replaces)
    out.append(b"]}")
    return b"".join(out)
