"""XML namespaces of SOAP 1.2, WS-Addressing, WS-Security, SAML 2.0, XOP and ebRIM/XDS.b."""

from __future__ import annotations

from typing import Final

SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"  # only to answer VersionMismatch
WSA: Final = "http://www.w3.org/2005/08/addressing"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SAML2: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XOP: Final = "http://www.w3.org/2004/08/xop/include"
XDSB: Final = "urn:ihe:iti:xds-b:2007"
RIM: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XMIME: Final = "http://www.w3.org/2005/05/xmlmime"
WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP12: Final = "http://schemas.xmlsoap.org/wsdl/soap12/"
# Subcodes of the SOAP faults OpenDMP raises itself (their local name is the error's code).
OPENDMP_FAULT: Final = "urn:opendmp:soap:fault"

# WS-Addressing 1.0 values (W3C WS-Addressing Core §2.1, SOAP Binding §6).
WSA_ANONYMOUS: Final = "http://www.w3.org/2005/08/addressing/anonymous"
WSA_NONE: Final = "http://www.w3.org/2005/08/addressing/none"
WSA_FAULT_ACTION: Final = "http://www.w3.org/2005/08/addressing/soap/fault"

# Prefixes used when OpenDMP writes a message (readers match on the namespace, never the prefix).
PREFIXES: Final = {
    "soap": SOAP12,
    "wsa": WSA,
    "wsse": WSSE,
    "wsu": WSU,
    "saml": SAML2,
    "ds": DS,
    "xop": XOP,
    "xdsb": XDSB,
    "rim": RIM,
    "rs": RS,
    "lcm": LCM,
    "query": QUERY,
    "xsi": XSI,
    "xmime": XMIME,
    "dmp": OPENDMP_FAULT,
}
