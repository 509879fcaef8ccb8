"""MTOM/XOP: reading ``multipart/related`` requests and writing MTOM answers (W3C SOAP MTOM,
W3C XOP 1.0, RFC 2387 multipart/related, RFC 2046 §5.1.1 multipart syntax, RFC 2392 cid URLs).

Why a small splitter rather than the stdlib ``email`` parser for the body: ``email`` reads
the whole message as text line by line (every line an object, binary content through
surrogate escapes), then copies each payload again; it cannot stop at a part count or a part
size, and its line-ending repairs are not guaranteed byte-exact for binary parts. Documents
must come out byte for byte (their hash is checked), so the body is cut at the RFC 2046
delimiters (``CRLF--boundary``) with ``bytes.find``, each part's size and the number of parts
checked as they are found. Only the short header block of each part, and the Content-Type of
the request, go through ``email`` (``BytesHeaderParser``, ``Message.get_param``), which handles
quoting, folding and RFC 2231 parameters correctly.

Rules (docs/xds.md, "Transport"): the root part is the one named by ``start=`` or else the
first; it is ``application/xop+xml``; every other part has a Content-ID; every
``xop:Include href="cid:…"`` (percent-decoded, RFC 2392) names a part, and every part is
named by an Include: a part without an Include or an Include without a part is a Sender fault.
A part is at most ``OPENDMP_MAX_DOCUMENT_BYTES``, and the parts at most
``OPENDMP_MAX_DOCUMENTS_PER_SUBMISSION`` + 1 (the whole body is bounded by
``OPENDMP_MAX_REQUEST_BYTES`` before this runs).
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from opendmp.domain.limits import RequestLimits, too_large, too_many
from opendmp.xds import namespaces as ns
from opendmp.xds.envelope import SOAP_MEDIA_TYPE, qname
from opendmp.xds.faults import sender

XOP_MEDIA_TYPE = "application/xop+xml"
MULTIPART_RELATED = "multipart/related"
# SOAP 1.1's media type is read too, so that a SOAP 1.1 envelope gets its VersionMismatch.
_PLAIN_TYPES = frozenset({SOAP_MEDIA_TYPE, "text/xml"})
_IDENTITY_ENCODINGS = frozenset({"", "binary", "8bit", "7bit"})
_CRLF = b"\r\n"
_INCLUDE = qname(ns.XOP, "Include")


@dataclass(frozen=True, slots=True)
class Package:
    """What carried the SOAP envelope: its bytes and the attachments by Content-ID."""

    root: bytes
    attachments: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Part:
    headers: email.message.Message
    data: bytes

    @property
    def content_id(self) -> str | None:
        value = self.headers.get("Content-ID")
        return normalise_cid(str(value)) if value is not None else None


def normalise_cid(value: str) -> str:
    """A Content-ID without its angle brackets (RFC 2392: ``<id>`` in the header)."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].strip()
    return value


def _content_type(value: str) -> email.message.Message:
    holder = email.message.Message()
    holder["Content-Type"] = value
    return holder


def _param(holder: email.message.Message, name: str) -> str | None:
    value = holder.get_param(name)
    if value is None or isinstance(value, str):
        return value
    return email.utils.collapse_rfc2231_value(value)


def read_package(body: bytes, content_type: str, limits: RequestLimits) -> Package:
    """The envelope's bytes and attachments of a request, from its body and Content-Type."""
    header = _content_type(content_type)
    media = header.get_content_type()
    if media in _PLAIN_TYPES and content_type.strip():
        return Package(body)
    if media != MULTIPART_RELATED:
        raise sender(
            f"unsupported Content-Type {media!r}: send application/soap+xml or "
            'multipart/related; type="application/xop+xml" (MTOM)',
            "unsupported-media-type",
            http_status=415,
        )
    if (_param(header, "type") or "").lower() != XOP_MEDIA_TYPE:
        raise sender(
            'a multipart/related request must be MTOM: type="application/xop+xml"',
            "unsupported-media-type",
            http_status=415,
        )
    boundary = _param(header, "boundary") or ""
    if not 0 < len(boundary) <= 70:  # RFC 2046 §5.1.1
        raise sender("the multipart boundary is missing or too long", "malformed-mime")
    parts = _split(body, boundary.encode("latin-1", "replace"), limits)
    return _package(parts, _param(header, "start"), limits)


def _split(body: bytes, boundary: bytes, limits: RequestLimits) -> list[_Part]:
    """The parts between RFC 2046 delimiters; the preamble and epilogue are ignored."""
    delimiter = b"--" + boundary
    if body.startswith(delimiter):
        pos = len(delimiter)
    else:
        found = body.find(_CRLF + delimiter)
        if found < 0:
            raise sender("the multipart body holds no part", "malformed-mime")
        pos = found + len(_CRLF + delimiter)
    parts: list[_Part] = []
    max_parts = limits.max_documents + 1
    while not body.startswith(b"--", pos):  # "--" after the boundary closes the body
        pos = _skip_padding(body, pos)
        end = body.find(_CRLF + delimiter, pos)
        if end < 0:
            raise sender("the multipart body is truncated (no closing boundary)", "malformed-mime")
        parts.append(_part(body[pos:end]))
        if len(parts) > max_parts:
            raise too_many(
                "MIME parts",
                len(parts),
                max_parts,
                "OPENDMP_MAX_DOCUMENTS_PER_SUBMISSION + 1",
                code="too-many-parts",
            )
        pos = end + len(_CRLF + delimiter)
    return parts


def _skip_padding(body: bytes, pos: int) -> int:
    """Past the transport padding (spaces, tabs) and the CRLF that end a delimiter line."""
    while body[pos : pos + 1] in (b" ", b"\t"):
        pos += 1
    if not body.startswith(_CRLF, pos):
        raise sender("malformed multipart delimiter line", "malformed-mime")
    return pos + len(_CRLF)


def _part(raw: bytes) -> _Part:
    if raw.startswith(_CRLF):  # no header at all
        head, data = b"", raw[len(_CRLF) :]
    else:
        head, sep, data = raw.partition(_CRLF + _CRLF)
        if not sep:
            raise sender("a MIME part has no blank line after its headers", "malformed-mime")
    headers = email.parser.BytesHeaderParser().parsebytes(head + _CRLF + _CRLF)
    encoding = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in _IDENTITY_ENCODINGS:
        raise sender(
            f"Content-Transfer-Encoding {encoding[:20]!r} is not accepted (use binary)",
            "malformed-mime",
        )
    return _Part(headers, data)


def _package(parts: list[_Part], start: str | None, limits: RequestLimits) -> Package:
    if not parts:
        raise sender("the multipart body holds no part", "malformed-mime")
    root = _root(parts, normalise_cid(start) if start else None)
    attachments: dict[str, bytes] = {}
    for part in parts:
        if part is root:
            continue
        cid = part.content_id
        if not cid:
            raise sender("a MIME part has no Content-ID", "malformed-mime")
        if cid in attachments or cid == root.content_id:
            raise sender(f"two MIME parts have the Content-ID <{cid[:100]}>", "malformed-mime")
        if len(part.data) > limits.max_document_bytes:
            raise too_large(
                f"the MIME part <{cid[:100]}>",
                len(part.data),
                limits.max_document_bytes,
                "OPENDMP_MAX_DOCUMENT_BYTES",
            )
        attachments[cid] = part.data
    return Package(root.data, attachments)


def _root(parts: list[_Part], start: str | None) -> _Part:
    if start is None:
        root = parts[0]
    else:
        named = [part for part in parts if part.content_id == start]
        if not named:
            raise sender(f"no MIME part has the start Content-ID <{start[:100]}>", "malformed-mime")
        root = named[0]
    if root.headers.get_content_type() != XOP_MEDIA_TYPE:
        raise sender("the root MIME part must be application/xop+xml", "malformed-mime")
    return root


def include_cid(include: etree._Element) -> str:
    """The Content-ID an ``xop:Include`` names (its ``cid:`` URL percent-decoded)."""
    href = (include.get("href") or "").strip()
    if not href.lower().startswith("cid:"):
        raise sender("an xop:Include href must be a cid: URL", "xop-include-invalid")
    return urllib.parse.unquote(href[4:])


def check_includes(root: etree._Element, attachments: Mapping[str, bytes]) -> None:
    """Every Include names a part, and every part is named by an Include (XOP 1.0 §3)."""
    named: set[str] = set()
    for include in root.iter(_INCLUDE):
        cid = include_cid(include)
        if cid not in attachments:
            raise sender(
                f"xop:Include names cid:{cid[:100]}, which no MIME part carries",
                "xop-include-dangling",
            )
        named.add(cid)
    unnamed = sorted(set(attachments) - named)
    if unnamed:
        raise sender(
            f"the MIME part <{unnamed[0][:100]}> is referenced by no xop:Include",
            "mime-part-unreferenced",
        )


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    """A binary part of an MTOM answer, referenced by ``xop:Include href="cid:<cid>"``."""

    data: bytes
    media_type: str = "application/octet-stream"


def new_content_id() -> str:
    return f"{uuid.uuid4().hex}@opendmp"


def include(parent: etree._Element, cid: str) -> etree._Element:
    """Add ``<xop:Include href="cid:…"/>`` under ``parent`` (the element the bytes replace)."""
    made = etree.SubElement(parent, _INCLUDE, nsmap={"xop": ns.XOP})
    made.set("href", "cid:" + urllib.parse.quote(cid, safe="@.-_"))
    return made


def _new_boundary(contents: list[bytes]) -> str:
    while True:  # a random boundary; checked absent from the content, as RFC 2046 requires
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
        if not any(boundary.encode() in data for data in contents):
            return boundary


def mtom_body(envelope: bytes, attachments: Mapping[str, Attachment]) -> tuple[bytes, str]:
    """The body and Content-Type of an MTOM answer: the envelope, then each attachment."""
    boundary = _new_boundary([envelope, *(a.data for a in attachments.values())])
    root_cid = new_content_id()
    chunks = [
        _part_bytes(
            boundary,
            f'{XOP_MEDIA_TYPE}; charset=UTF-8; type="{SOAP_MEDIA_TYPE}"',
            root_cid,
            envelope,
        )
    ]
    chunks += [
        _part_bytes(boundary, item.media_type, cid, item.data) for cid, item in attachments.items()
    ]
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = (
        f'{MULTIPART_RELATED}; boundary="{boundary}"; type="{XOP_MEDIA_TYPE}"; '
        f'start="<{root_cid}>"; start-info="{SOAP_MEDIA_TYPE}"'
    )
    return b"".join(chunks), content_type


def _part_bytes(boundary: str, media_type: str, cid: str, data: bytes) -> bytes:
    if not media_type.isprintable():  # a stored value never splits a header line
        media_type = "application/octet-stream"
    # No Content-Transfer-Encoding: HTTP does not use it (RFC 7231 Appendix A.5), and a part
    # marked "binary" has its leading and trailing CR/LF bytes stripped by zeep's decoder
    # (zeep/wsdl/attachments.py): a document ending with a newline would not come back intact.
    head = f"--{boundary}\r\nContent-Type: {media_type}\r\nContent-ID: <{cid}>\r\n\r\n"
    return head.encode() + data + _CRLF
