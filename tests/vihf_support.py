"""Test helpers for VIHF: signers, requests, and the WS-Security header a transport hands over."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from lxml import etree

from opendmp.auth import vihf_format as f
from opendmp.auth.vihf_issuer import VihfRequest, VihfSigner, build_vihf, make_signer, sign_vihf
from tests.auth_support import ESTABLISHMENT, GP, NOW
from tests.factories import make_ins

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
TTL = dt.timedelta(minutes=10)
PATIENT = make_ins(901)
# A hardened parser, as the XDS transport's: no entities resolved, no network, no DTD.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

SIGNER = make_signer(ESTABLISHMENT, "Centre de test", now=NOW)


def request(**overrides: Any) -> VihfRequest:
    base = VihfRequest(
        idnat=GP,
        structure=ESTABLISHMENT,
        patient_ins=str(PATIENT),
        profession="10",
        specialty="SM54",
        name="TESTPRO Dominique",
    )
    return dataclasses.replace(base, **overrides)


def unsigned(now: dt.datetime = NOW, ttl: dt.timedelta = TTL, **overrides: Any) -> etree._Element:
    return build_vihf(request(**overrides), now=now, ttl=ttl)


def signed(
    now: dt.datetime = NOW,
    ttl: dt.timedelta = TTL,
    *,
    signer: VihfSigner = SIGNER,
    **overrides: Any,
) -> etree._Element:
    return sign_vihf(unsigned(now, ttl, **overrides), signer)


def security_header(*assertions: etree._Element) -> etree._Element:
    """The wsse:Security of a SOAP envelope holding ``assertions``, serialised and parsed
    back as a transport would: the assertions given are not the ones returned."""
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsse": WSSE})
    header = etree.SubElement(envelope, f"{{{SOAP}}}Header")
    security = etree.SubElement(header, f"{{{WSSE}}}Security")
    for assertion in assertions:
        security.append(assertion)
    etree.SubElement(envelope, f"{{{SOAP}}}Body")
    parsed = etree.fromstring(etree.tostring(envelope), PARSER)
    found = parsed.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security")
    assert found is not None
    return found


def in_envelope(assertion: etree._Element) -> etree._Element:
    """``assertion`` as the transport finds it in a parsed envelope."""
    found = security_header(assertion).find(f"{{{f.SAML2}}}Assertion")
    assert found is not None
    return found


def attribute(assertion: etree._Element, name: str) -> etree._Element:
    for element in assertion.iter(f"{{{f.SAML2}}}Attribute"):
        if element.get("Name") == name:
            return element
    raise KeyError(name)
