"""Fuzz the FHIR XML reader: the body of a request sent as ``application/fhir+xml``.

Target: ``opendmp.fhir.formats.parse_resource`` with an XML content type (safe XML parse
by ``opendmp.cda.xml.parse_xml``, then the R4B model's XML loader, then a plain dict).
A crash is any exception other than ``InvalidInput`` (``malformed-xml``,
``xml-doctype-refused``, ``invalid-resource``): a body is read or refused with a 400.

Run: ``python fuzz/fhir_xml.py -runs=1000000 fuzz/corpus/fhir_xml`` (``make fuzz-parsers``).
"""

from __future__ import annotations

from fuzz_support import is_refusal, main

from opendmp.fhir.formats import FHIR_XML, parse_resource


def test_one_input(data: bytes) -> None:
    try:
        parse_resource(data, FHIR_XML)
    except Exception as error:
        if not is_refusal(error):
            raise


if __name__ == "__main__":
    main(test_one_input, "fhir_core")
