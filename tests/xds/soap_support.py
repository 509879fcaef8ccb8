"""Building raw SOAP 1.2 / MTOM requests and reading the answers, for the transport tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from lxml import etree

from opendmp.xds import namespaces as ns

SOAP_TYPE = "application/soap+xml; charset=utf-8"
ANONYMOUS = ns.WSA_ANONYMOUS


def envelope(
    body: str,
    action: str | None,
    *,
    message_id: str | None = None,
    headers: str = "",
    soap_ns: str = ns.SOAP12,
) -> bytes:
    """A SOAP envelope with WS-Addressing headers around ``body`` (XML text)."""
    wsa = f"<wsa:Action>{action}</wsa:Action>" if action is not None else ""
    if message_id:
        wsa += f"<wsa:MessageID>{message_id}</wsa:MessageID>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{soap_ns}" xmlns:wsa="{ns.WSA}">'
        f"<s:Header>{wsa}{headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def pnr_body(*documents: str) -> str:
    """A ProvideAndRegisterDocumentSetRequest whose xdsb:Document elements hold ``documents``
    (XML text: base64, or an xop:Include)."""
    held = "".join(
        f'<xdsb:Document id="Document{n}">{d}</xdsb:Document>' for n, d in enumerate(documents)
    )
    return (
        f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{ns.XDSB}" xmlns:lcm="{ns.LCM}"'
        f' xmlns:xop="{ns.XOP}"><lcm:SubmitObjectsRequest/>{held}'
        "</xdsb:ProvideAndRegisterDocumentSetRequest>"
    )


def include(cid: str) -> str:
    return f'<xop:Include href="cid:{cid}"/>'


def documents_of(body: etree._Element) -> list[etree._Element]:
    return body.findall(f"{{{ns.XDSB}}}Document")


@dataclass
class Part:
    data: bytes
    content_id: str | None
    content_type: str = "application/octet-stream"


def mtom(
    root: bytes,
    parts: list[Part],
    *,
    root_id: str = "root@test",
    start: str | None = "<root@test>",
    root_first: bool = True,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """An MTOM request body and its Content-Type (CRLF line ends, binary parts)."""
    boundary = boundary or f"uuid:{uuid.uuid4()}"
    root_part = Part(
        root, root_id, 'application/xop+xml; charset=UTF-8; type="application/soap+xml"'
    )
    ordered = [root_part, *parts] if root_first else [*parts, root_part]
    chunks = [b"preamble, ignored\r\n"]
    for part in ordered:
        head = (
            f"--{boundary}\r\nContent-Type: {part.content_type}\r\n"
            "Content-Transfer-Encoding: binary\r\n"
        )
        if part.content_id is not None:
            head += f"Content-ID: <{part.content_id}>\r\n"
        chunks.append(head.encode("utf-8", "surrogateescape") + b"\r\n" + part.data + b"\r\n")
    chunks.append(f"--{boundary}--\r\nepilogue".encode())
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}";'
        ' start-info="application/soap+xml"'
    )
    if start is not None:
        content_type += f'; start="{start}"'
    return b"".join(chunks), content_type


@dataclass
class Fault:
    code: str
    subcode: str | None
    reason: str
    relates_to: str | None
    root: etree._Element


def fault_of(response: httpx.Response) -> Fault:
    """The SOAP 1.2 fault a response carries (asserting it is one); QNames as Clark names."""
    assert response.headers["content-type"].startswith("application/soap+xml"), response.text
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{ns.SOAP12}}}Body/{{{ns.SOAP12}}}Fault")
    assert fault is not None, response.text
    assert root.findtext(f"{{{ns.SOAP12}}}Header/{{{ns.WSA}}}Action") == ns.WSA_FAULT_ACTION
    values = fault.findall(f".//{{{ns.SOAP12}}}Value")
    names = [_clark(value) for value in values]
    return Fault(
        code=names[0],
        subcode=names[1] if len(names) > 1 else None,
        reason=fault.findtext(f"{{{ns.SOAP12}}}Reason/{{{ns.SOAP12}}}Text") or "",
        relates_to=root.findtext(f"{{{ns.SOAP12}}}Header/{{{ns.WSA}}}RelatesTo"),
        root=root,
    )


def _clark(value: etree._Element) -> str:
    prefix, _, local = (value.text or "").partition(":")
    return f"{{{value.nsmap[prefix]}}}{local}"


def soap_code(local: str) -> str:
    return f"{{{ns.SOAP12}}}{local}"


def dmp(code: str) -> str:
    return f"{{{ns.OPENDMP_FAULT}}}{code}"


def wsa(local: str) -> str:
    return f"{{{ns.WSA}}}{local}"
