"""Safe XML parsing for documents that come from outside (CDA, XDS.b payloads).

Every XML byte string that OpenDMP did not write itself goes through :func:`parse_xml`.
The parser never loads a DTD, never substitutes entities and never touches the network,
and a document that declares a DOCTYPE is refused outright: CDA R2 has no DTD, so a
DOCTYPE in a clinical document is at best noise and at worst an XXE or entity-expansion
("billion laughs") attempt. Refusing it is simpler to reason about than defusing it.
"""

from __future__ import annotations

from lxml import etree

from opendmp.domain.errors import InvalidInput

HL7_V3 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS: dict[str, str] = {"cda": HL7_V3, "xsi": XSI}

# libxml2 messages name tags and positions, never text content; still, keep them short.
_MAX_MESSAGE = 200
_DOCTYPE_MESSAGE = "XML documents with a DOCTYPE declaration are not accepted"


def safe_parser() -> etree.XMLParser:
    """A fresh parser with every external or expanding feature switched off.

    A new parser per call: lxml parsers are not safe to share between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML and return its root element.

    Raises ``InvalidInput`` with code ``malformed-xml`` (message names the line) on a
    syntax error and ``xml-doctype-refused`` when the document declares a DOCTYPE.
    """
    if not isinstance(data, bytes | bytearray):
        raise InvalidInput("XML must be given as bytes", code="malformed-xml")
    if not data.strip():
        raise InvalidInput("malformed XML: the document is empty", code="malformed-xml")
    if _prolog_declares_doctype(bytes(data)):
        raise InvalidInput(_DOCTYPE_MESSAGE, code="xml-doctype-refused")
    try:
        root = etree.fromstring(bytes(data), safe_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno is not None else (exc.position or (0, 0))[0]
        detail = (exc.msg or "syntax error").strip()[:_MAX_MESSAGE]
        raise InvalidInput(
            f"malformed XML at line {line}: {detail}", code="malformed-xml"
        ) from None
    # Second line of defence, for a prolog the scan could not read (an exotic encoding):
    # with load_dtd=False and resolve_entities=False nothing the DOCTYPE declared has been
    # loaded or expanded, so refusing now is still in time.
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]  # stubs lack it
        raise InvalidInput(_DOCTYPE_MESSAGE, code="xml-doctype-refused")
    return root


def _prolog_declares_doctype(data: bytes) -> bool:
    """Whether the prolog (what precedes the root element) holds ``<!DOCTYPE``.

    Checked before libxml2 sees the bytes, so that a hostile DTD is never even parsed: a
    billion-laughs document is refused as a DOCTYPE, not reported as an amplification
    error half-way through. Only the prolog is scanned (XML declaration, comments,
    processing instructions, whitespace), which is where XML allows a DOCTYPE.
    """
    text = _decode_head(data)
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
        else:
            return text.startswith("<!DOCTYPE", pos)
        if end < 0:
            return False  # unterminated: libxml2 will report it as malformed
        pos = end + 2
    return False


def _decode_head(data: bytes) -> str:
    """Decode the bytes well enough to read ASCII markup (XML 1.0 appendix F sniffing)."""
    head = data[:4]
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return data.decode("utf-32", errors="replace")
    if head.startswith((b"\xfe\xff", b"\xff\xfe")):
        return data.decode("utf-16", errors="replace")
    if head == b"\x00<\x00?":
        return data.decode("utf-16-be", errors="replace")
    if head == b"<\x00?\x00":
        return data.decode("utf-16-le", errors="replace")
    # UTF-8 and every ASCII-compatible encoding: latin-1 maps bytes 1:1 and never fails.
    return data.decode("latin-1")
