"""Reading a SOAP 1.2 request (SOAP 1.2 Part 1, WS-Addressing 1.0 SOAP Binding) into a
``SoapRequest``, and the answer a handler gives back (``SoapReply``).

The XML goes through the hardened parser of ``cda/xml.py`` (no DTD at all: a DOCTYPE is
refused before libxml2 reads it; entities unresolved, no network, no huge trees); the body
was bounded by ``OPENDMP_MAX_REQUEST_BYTES`` before (``xds/api.py``). Checks, in the order
SOAP 1.2 processes them: the envelope's version (a SOAP 1.1 envelope gets a
``VersionMismatch``), the header blocks the request says we must understand (OpenDMP
understands WS-Addressing and ``wsse:Security``: any other ``mustUnderstand`` block gets a
``MustUnderstand`` fault), then WS-Addressing (``wsa:Action`` required, one of each header,
replies only on the HTTP response: ``ReplyTo``/``FaultTo`` anonymous) and the XOP includes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from opendmp.cda.xml import parse_xml
from opendmp.domain.errors import InvalidInput
from opendmp.domain.limits import RequestLimits, decoded_size, too_large
from opendmp.xds import mtom
from opendmp.xds import namespaces as ns
from opendmp.xds.envelope import qname
from opendmp.xds.faults import (
    ADDRESSING_HEADER_REQUIRED,
    INVALID_ADDRESSING_HEADER,
    ONLY_ANONYMOUS,
    FaultCode,
    SoapFault,
    sender,
)

_UNDERSTOOD = frozenset({ns.WSA, ns.WSSE})
_ROLE_NONE = "http://www.w3.org/2003/05/soap-envelope/role/none"
_OUR_ROLES = frozenset(
    {
        "",
        "http://www.w3.org/2003/05/soap-envelope/role/next",
        "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
    }
)
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_SINGLE_WSA = ("Action", "MessageID", "To", "ReplyTo", "FaultTo")
_WHITESPACE = str.maketrans("", "", " \t\r\n")
_TEXT_NODE_LIMIT = "Text node too long"  # libxml2's message (XML_MAX_TEXT_LENGTH, 10 MB)


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed SOAP 1.2 request. ``body`` is the first (only) child of ``soap:Body``."""

    envelope: etree._Element
    header: etree._Element | None
    body: etree._Element
    action: str
    message_id: str | None
    to: str | None
    reply_to: str | None
    security: etree._Element | None  # the wsse:Security header block, if any
    attachments: Mapping[str, bytes]  # MTOM parts by Content-ID (no angle brackets)
    max_document_bytes: int

    def binary(self, holder: etree._Element) -> bytes:
        """The bytes an ``xs:base64Binary`` element carries: its MTOM part when it holds an
        ``xop:Include``, else its inline base64 text decoded (whitespace ignored)."""
        includes = holder.findall(qname(ns.XOP, "Include"))
        if includes:
            if len(includes) > 1 or (holder.text or "").strip():
                raise sender(
                    "an element holds more than its one xop:Include", "xop-include-invalid"
                )
            return self.attachments[mtom.include_cid(includes[0])]
        text = (holder.text or "").translate(_WHITESPACE)
        size = decoded_size(text)
        if size > self.max_document_bytes:
            raise too_large(
                "an inline base64 document",
                size,
                self.max_document_bytes,
                "OPENDMP_MAX_DOCUMENT_BYTES",
            )
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise sender("a document is not valid base64", "invalid-base64") from None


@dataclass(frozen=True, slots=True)
class SoapReply:
    """A handler's answer: the one child of ``soap:Body``, and the binary parts its
    ``xop:Include`` elements name (non-empty: the answer is sent as MTOM)."""

    body: etree._Element
    attachments: Mapping[str, mtom.Attachment] = field(default_factory=dict)


def parse_request(data: bytes, content_type: str, limits: RequestLimits) -> SoapRequest:
    """The request, or a ``SoapFault`` (or an ``OpenDMPError`` for a size bound)."""
    package = mtom.read_package(data, content_type, limits)
    try:
        root = parse_xml(package.root)
    except InvalidInput as exc:
        if _TEXT_NODE_LIMIT in exc.message:
            raise sender(
                "an XML text node is over 10 MB (the parser's bound without huge trees):"
                " send documents larger than about 7 MB as MTOM parts",
                "inline-document-too-large",
                http_status=413,
            ) from None
        raise sender(exc.message, exc.code) from None
    header, body = _envelope_parts(root)
    blocks = list(header.iterchildren(tag=etree.Element)) if header is not None else []
    try:
        _check_must_understand(blocks)
        addressing = _addressing(blocks)
        mtom.check_includes(root, package.attachments)
    except SoapFault as fault:
        fault.relates_to = _message_id(blocks)
        raise
    return SoapRequest(
        envelope=root,
        header=header,
        body=body,
        action=addressing["Action"] or "",
        message_id=addressing["MessageID"],
        to=addressing["To"],
        reply_to=addressing["ReplyTo"],
        security=_security(blocks),
        attachments=package.attachments,
        max_document_bytes=limits.max_document_bytes,
    )


def _message_id(blocks: list[etree._Element]) -> str | None:
    """The request's wsa:MessageID, for the RelatesTo of a fault (first one, if several)."""
    found = [b for b in blocks if b.tag == qname(ns.WSA, "MessageID")]
    return (found[0].text or "").strip() or None if found else None


def _envelope_parts(root: etree._Element) -> tuple[etree._Element | None, etree._Element]:
    tag = etree.QName(root)
    if tag.localname == "Envelope" and tag.namespace != ns.SOAP12:
        raise SoapFault(
            FaultCode.VERSION_MISMATCH,
            "only SOAP 1.2 envelopes (http://www.w3.org/2003/05/soap-envelope) are accepted",
        )
    if tag.namespace != ns.SOAP12 or tag.localname != "Envelope":
        raise sender("the request is not a SOAP envelope", "malformed-envelope")
    children = list(root.iterchildren(tag=etree.Element))
    header = children.pop(0) if children and children[0].tag == qname(ns.SOAP12, "Header") else None
    if len(children) != 1 or children[0].tag != qname(ns.SOAP12, "Body"):
        raise sender(
            "the envelope must hold an optional Header then one Body", "malformed-envelope"
        )
    payload = list(children[0].iterchildren(tag=etree.Element))
    if len(payload) != 1:
        raise sender(
            f"the SOAP Body must hold exactly one element, not {len(payload)}", "malformed-envelope"
        )
    return header, payload[0]


def _check_must_understand(blocks: list[etree._Element]) -> None:
    not_understood = []
    for block in blocks:
        flag = (block.get(qname(ns.SOAP12, "mustUnderstand")) or "false").strip()
        if flag not in _TRUE | _FALSE:
            raise sender("mustUnderstand must be true or false", "malformed-envelope")
        role = (block.get(qname(ns.SOAP12, "role")) or "").strip()
        targeted = role in _OUR_ROLES
        if flag in _TRUE and targeted and etree.QName(block).namespace not in _UNDERSTOOD:
            not_understood.append(str(block.tag))
    if not_understood:
        raise SoapFault(
            FaultCode.MUST_UNDERSTAND,
            f"header block {etree.QName(not_understood[0]).localname} is not understood",
            not_understood=tuple(not_understood),
        )


def _addressing(blocks: list[etree._Element]) -> dict[str, str | None]:
    found: dict[str, str | None] = dict.fromkeys(_SINGLE_WSA)
    for block in blocks:
        tag = etree.QName(block)
        if tag.namespace != ns.WSA or tag.localname not in found:
            continue
        if found[tag.localname] is not None:
            raise _invalid_addressing(f"more than one wsa:{tag.localname} header")
        found[tag.localname] = _address_text(block, tag.localname)
    if not found["Action"]:
        raise SoapFault(
            FaultCode.SENDER,
            "the wsa:Action header is required (WS-Addressing 1.0)",
            subcode=ADDRESSING_HEADER_REQUIRED,
        )
    for name in ("ReplyTo", "FaultTo"):
        if found[name] not in (None, ns.WSA_ANONYMOUS):
            raise SoapFault(
                FaultCode.SENDER,
                f"wsa:{name} must be the anonymous address: answers go on the HTTP response",
                subcode=ONLY_ANONYMOUS,
            )
    return found


def _address_text(block: etree._Element, name: str) -> str:
    if name in ("ReplyTo", "FaultTo"):  # endpoint references: their wsa:Address
        address = block.find(qname(ns.WSA, "Address"))
        if address is None:
            raise _invalid_addressing(f"wsa:{name} has no wsa:Address")
        block = address
    return (block.text or "").strip()


def _invalid_addressing(reason: str) -> SoapFault:
    return SoapFault(FaultCode.SENDER, reason, subcode=INVALID_ADDRESSING_HEADER)


def _security(blocks: list[etree._Element]) -> etree._Element | None:
    found = [block for block in blocks if block.tag == qname(ns.WSSE, "Security")]
    if len(found) > 1:
        raise sender("more than one wsse:Security header", "malformed-envelope")
    return found[0] if found else None
