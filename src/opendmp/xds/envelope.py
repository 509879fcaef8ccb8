"""SOAP 1.2 envelopes OpenDMP writes: answers and faults, with their WS-Addressing headers.

Every answer carries ``wsa:Action`` (the transaction's response action, or the WS-Addressing
fault action), a fresh ``wsa:MessageID`` and ``wsa:RelatesTo`` = the request's MessageID
when there was one (W3C WS-Addressing 1.0 SOAP Binding §6, ITI TF-2x Appendix V).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from lxml import etree

from opendmp.xds import namespaces as ns

SOAP_MEDIA_TYPE = "application/soap+xml"
_NSMAP = {prefix: uri for prefix, uri in ns.PREFIXES.items() if prefix in ("soap", "wsa")}
_PREFIX_OF = {uri: prefix for prefix, uri in ns.PREFIXES.items()}


def qname(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def prefix_of(namespace: str) -> str:
    """The prefix OpenDMP writes for ``namespace`` (``namespaces.PREFIXES``), else ``ns``."""
    return _PREFIX_OF.get(namespace, "ns")


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def element(namespace: str, local: str, text: str | None = None, **attrs: str) -> etree._Element:
    """A new element (no parent) in ``namespace``, with its usual prefix (``namespaces``)."""
    prefix = prefix_of(namespace)
    made = etree.Element(qname(namespace, local), attrs, nsmap={prefix: namespace})
    made.text = text
    return made


def sub(
    parent: etree._Element, namespace: str, local: str, text: str | None = None, **attrs: str
) -> etree._Element:
    made = etree.SubElement(parent, qname(namespace, local), attrs)
    made.text = text
    return made


def envelope(
    body: etree._Element,
    *,
    action: str,
    relates_to: str | None,
    extra_headers: Iterable[etree._Element] = (),
) -> etree._Element:
    """``soap:Envelope`` around ``body`` (the one child of ``soap:Body``)."""
    env = etree.Element(qname(ns.SOAP12, "Envelope"), nsmap=_NSMAP)
    header = sub(env, ns.SOAP12, "Header")
    sub(header, ns.WSA, "Action", action)
    sub(header, ns.WSA, "MessageID", new_message_id())
    if relates_to:
        sub(header, ns.WSA, "RelatesTo", relates_to)
    header.extend(extra_headers)
    sub(env, ns.SOAP12, "Body").append(body)
    return env


def serialize(env: etree._Element) -> bytes:
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
