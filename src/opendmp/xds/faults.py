"""SOAP 1.2 faults (SOAP 1.2 Part 1 §5.4) and their HTTP status (docs/xds.md, "Faults").

A fault has a code (``Sender``: the request is at fault; ``Receiver``: OpenDMP is;
``VersionMismatch``; ``MustUnderstand``), an optional subcode (a WS-Addressing fault of the
WS-Addressing 1.0 SOAP Binding §6.4, or ``dmp:<code>`` naming OpenDMP's stable error code) and
a reason in English that never holds document content or identities.

HTTP status: 400 for every fault the request caused (``Sender``, and, unlike the SOAP 1.2 HTTP
binding's table which says 500, ``VersionMismatch`` and ``MustUnderstand``: in OpenDMP a 500
always means a defect, never a caller's mistake), 413 for a request beyond a size bound, the
status of the OpenDMP error otherwise (401, 403, 404, 409, 422); ``Receiver`` is 500 for a
defect and 503 when the database is out of reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from opendmp.domain.errors import OpenDMPError
from opendmp.xds import namespaces as ns
from opendmp.xds.envelope import element, envelope, prefix_of, qname, serialize, sub


class FaultCode(StrEnum):
    VERSION_MISMATCH = "VersionMismatch"
    MUST_UNDERSTAND = "MustUnderstand"
    SENDER = "Sender"
    RECEIVER = "Receiver"


@dataclass(frozen=True, slots=True)
class Subcode:
    namespace: str
    local: str


# WS-Addressing 1.0 SOAP Binding §6.4.
ACTION_NOT_SUPPORTED = Subcode(ns.WSA, "ActionNotSupported")
ADDRESSING_HEADER_REQUIRED = Subcode(ns.WSA, "MessageAddressingHeaderRequired")
INVALID_ADDRESSING_HEADER = Subcode(ns.WSA, "InvalidAddressingHeader")
ONLY_ANONYMOUS = Subcode(ns.WSA, "OnlyAnonymousAddressSupported")


def opendmp_subcode(code: str) -> Subcode:
    return Subcode(ns.OPENDMP_FAULT, code)


_DEFAULT_STATUS = {
    FaultCode.VERSION_MISMATCH: 400,
    FaultCode.MUST_UNDERSTAND: 400,
    FaultCode.SENDER: 400,
    FaultCode.RECEIVER: 500,
}


class SoapFault(Exception):
    """Raised anywhere below the router; answered as a SOAP 1.2 Fault."""

    def __init__(
        self,
        code: FaultCode,
        reason: str,
        *,
        subcode: Subcode | None = None,
        http_status: int | None = None,
        not_understood: tuple[str, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.http_status = http_status or _DEFAULT_STATUS[code]
        self.not_understood = not_understood  # Clark names of the header blocks
        self.retry_after: float | None = None
        self.relates_to: str | None = None  # the request's wsa:MessageID, once known


def sender(reason: str, code: str, *, http_status: int = 400) -> SoapFault:
    """A ``Sender`` fault with the subcode ``dmp:<code>``."""
    return SoapFault(
        FaultCode.SENDER, reason, subcode=opendmp_subcode(code), http_status=http_status
    )


def from_error(exc: OpenDMPError) -> SoapFault:
    """The fault for an OpenDMP error: ``Sender`` with its status when 4xx, else ``Receiver``."""
    code = FaultCode.SENDER if exc.http_status < 500 else FaultCode.RECEIVER
    fault = SoapFault(
        code, exc.message, subcode=opendmp_subcode(exc.code), http_status=exc.http_status
    )
    fault.retry_after = getattr(exc, "retry_after", None)
    return fault


def _xml_char(char: str) -> bool:
    """XML 1.0 §2.2 Char: what a text node may hold."""
    code = ord(char)
    return (
        code >= 0x20 and not 0xD800 <= code <= 0xDFFF and code not in (0xFFFE, 0xFFFF)
    ) or char in "\t\n\r"


def xml_text(text: str) -> str:
    """``text`` with what XML cannot hold replaced by U+FFFD: a reason may quote the request
    (a Content-ID, an action), whose bytes are the caller's choice."""
    if all(_xml_char(char) for char in text):
        return text
    return "".join(char if _xml_char(char) else "\ufffd" for char in text)


def _fault_element(fault: SoapFault) -> etree._Element:
    body = element(ns.SOAP12, "Fault")
    code = sub(body, ns.SOAP12, "Code")
    sub(code, ns.SOAP12, "Value", f"soap:{fault.code.value}")
    if fault.subcode is not None:
        # A QName value: its prefix declared on the element that holds it, the usual one
        # (lxml folds a declaration the envelope already makes into the envelope's).
        prefix = prefix_of(fault.subcode.namespace)
        value = etree.SubElement(
            sub(code, ns.SOAP12, "Subcode"),
            qname(ns.SOAP12, "Value"),
            nsmap={prefix: fault.subcode.namespace},
        )
        value.text = f"{prefix}:{fault.subcode.local}"
    reason = sub(body, ns.SOAP12, "Reason")
    text = sub(reason, ns.SOAP12, "Text", xml_text(fault.reason))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return body


def _fault_headers(fault: SoapFault) -> list[etree._Element]:
    """``Upgrade`` (VersionMismatch) or one ``NotUnderstood`` per block (MustUnderstand);
    their ``qname`` attributes use prefixes the envelope or the element itself declares."""
    if fault.code is FaultCode.VERSION_MISMATCH:
        upgrade = element(ns.SOAP12, "Upgrade")
        sub(upgrade, ns.SOAP12, "SupportedEnvelope", qname="soap:Envelope")
        return [upgrade]
    headers = []
    for name in fault.not_understood:
        tag = etree.QName(name)
        nsmap = {"soap": ns.SOAP12}
        shown = tag.localname
        if tag.namespace:
            prefix = prefix_of(tag.namespace)
            nsmap[prefix] = tag.namespace
            shown = f"{prefix}:{tag.localname}"
        block = etree.Element(qname(ns.SOAP12, "NotUnderstood"), nsmap=nsmap)
        block.set("qname", shown)
        headers.append(block)
    return headers


def fault_envelope(fault: SoapFault) -> bytes:
    """The whole SOAP 1.2 envelope answering ``fault`` (RelatesTo the request when known)."""
    env = envelope(
        _fault_element(fault),
        action=ns.WSA_FAULT_ACTION,
        relates_to=fault.relates_to,
        extra_headers=_fault_headers(fault),
    )
    return serialize(env)
