"""Fuzz the CDA header parser and the safe XML parser under it.

Target: ``opendmp.cda.header.parse_header`` and ``extract_nonxml_body`` (both through
``opendmp.cda.xml.parse_xml``), with the bytes of a deposited document.
A crash is any exception other than ``InvalidInput`` (codes ``malformed-xml``,
``xml-doctype-refused``, ``invalid-cda``): a document from a caller is either read or
refused with a 400, never a 500.

Run: ``python fuzz/cda_header.py -runs=1000000 fuzz/corpus/cda_header`` (``make fuzz-parsers``).
"""

from __future__ import annotations

from fuzz_support import is_refusal, main

from opendmp.cda.header import extract_nonxml_body, parse_header


def test_one_input(data: bytes) -> None:
    for parse in (parse_header, extract_nonxml_body):
        try:
            parse(data)
        except Exception as error:
            if not is_refusal(error):
                raise


if __name__ == "__main__":
    main(test_one_input)
