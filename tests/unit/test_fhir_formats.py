"""Reading a FHIR resource from an XML request body: refusals are 400s, never a 500."""

from __future__ import annotations

import pytest

from opendmp.domain.errors import InvalidInput
from opendmp.fhir.formats import FHIR_XML, parse_resource


def _xml(root: str, inner: str = "") -> bytes:
    return f'<{root} xmlns="http://hl7.org/fhir">{inner}</{root}>'.encode()


def test_a_resource_in_xml_becomes_the_same_dict_as_in_json() -> None:
    body = _xml("Patient", '<id value="p1"/><active value="true"/>')
    assert parse_resource(body, FHIR_XML) == {"resourceType": "Patient", "id": "p1", "active": True}


# Found by fuzz/fhir_xml.py: a root element that names no FHIR model made the R4B lookup
# raise ValueError (only KeyError was caught): a 500 for any signed-in caller.
# A data type or abstract class at the root (Coding, Element…) was read as if it were a
# resource and came back without a resourceType.
@pytest.mark.parametrize(
    "root", ["Unknown", "Base", "Coding", "Element", "BackboneElement", "DomainResource"]
)
def test_a_root_element_that_is_not_a_concrete_resource_is_refused(root: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_resource(_xml(root, '<id value="a"/>'), FHIR_XML)
    assert caught.value.code == "invalid-resource"
    assert caught.value.http_status == 400


# Found by fuzz/fhir_xml.py: the R4B XML loader looks every child element's default
# namespace up (KeyError: None when there is none), so a body whose elements are outside
# the FHIR namespace was a 500. FHIR XML elements are in http://hl7.org/fhir (the
# narrative's div in XHTML): anything else is refused before the loader sees it.
@pytest.mark.parametrize(
    "body",
    [
        b'<Patient><active value="true"/></Patient>',
        b'<Patient xmlns="urn:other"><active value="true"/></Patient>',
        b'<f:Patient xmlns:f="http://hl7.org/fhir"><f:active value="true"/></f:Patient>',
        b'<Patient xmlns="http://hl7.org/fhir"><active xmlns="" value="true"/></Patient>',
        b'<Patient xmlns="http://hl7.org/fhir"><o:x xmlns:o="urn:o"/></Patient>',
        b'<Patient xmlns="http://hl7.org/fhir"><?pi data?><active value="true"/></Patient>',
    ],
)
def test_elements_outside_the_fhir_namespace_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_resource(body, FHIR_XML)
    assert caught.value.code == "invalid-resource"


def test_the_narrative_may_be_xhtml() -> None:
    body = _xml(
        "Patient",
        '<text><status value="generated"/>'
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Synthetic</p></div></text>',
    )
    assert parse_resource(body, FHIR_XML)["text"]["status"] == "generated"


# Found by fuzz/fhir_xml.py: the R4B XML loader resolves each element's name among its
# own module's globals, so <uuid>, <etree> or <Comment> were called as classes (an
# AttributeError or TypeError: a 500). No FHIR element has such a name.
@pytest.mark.parametrize("name", ["uuid", "etree", "Comment", "typing", "copy", "xml_loads"])
def test_an_element_named_after_a_loader_internal_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_resource(_xml("Patient", f'<{name} value="x"/>'), FHIR_XML)
    assert caught.value.code == "invalid-resource"
