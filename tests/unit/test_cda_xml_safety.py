"""Untrusted XML: DOCTYPEs, entity tricks and syntax errors are refused before any use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import opendmp.cda.xml as cda_xml
from opendmp.cda.header import parse_header
from opendmp.cda.xml import NS, parse_xml, safe_parser
from opendmp.domain.errors import InvalidInput

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>\n"
)


class RecordingResolver(etree.Resolver):
    """Remembers every external resource libxml2 asks lxml to load."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []

    # lxml-stubs leave out the context argument lxml passes to resolve().
    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        self.requested.append(system_url)
        return None


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


def _xxe(secret: Path) -> bytes:
    url = secret.as_uri().encode()
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument [\n'
        b'  <!ENTITY xxe SYSTEM "' + url + b'">\n]>\n'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>'
    )


def _refusal(data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_xml(data)
    return caught.value


def test_an_external_entity_is_refused_and_the_file_is_never_read(
    secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = RecordingResolver()

    def watched_parser() -> etree.XMLParser:
        parser = safe_parser()
        parser.resolvers.add(resolver)
        return parser

    monkeypatch.setattr(cda_xml, "safe_parser", watched_parser)
    error = _refusal(_xxe(secret_file))
    assert error.code == "xml-doctype-refused"
    assert "TOP-SECRET" not in str(error)
    assert resolver.requested == []


def test_the_resolver_probe_would_see_a_file_load_by_an_unsafe_parser(secret_file: Path) -> None:
    # Control for the test above: an unsafe parser does ask the resolver for the file.
    resolver = RecordingResolver()
    unsafe = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=True)
    unsafe.resolvers.add(resolver)
    etree.fromstring(_xxe(secret_file), unsafe)
    assert resolver.requested


def test_an_external_dtd_is_refused(secret_file: Path) -> None:
    data = b'<!DOCTYPE x SYSTEM "' + secret_file.as_uri().encode() + b'"><x/>'
    assert _refusal(data).code == "xml-doctype-refused"


def test_a_billion_laughs_document_is_refused_quickly() -> None:
    started = time.perf_counter()
    assert _refusal(BILLION_LAUGHS).code == "xml-doctype-refused"
    assert time.perf_counter() - started < 1.0


def test_a_doctype_after_comments_and_processing_instructions_is_refused() -> None:
    data = b'<?xml version="1.0"?>\n<!-- c -->\n<?pi x?>\n<!DOCTYPE x []>\n<x/>'
    assert _refusal(data).code == "xml-doctype-refused"


def test_a_utf16_doctype_is_refused() -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x []><x/>'.encode("utf-16")
    assert _refusal(data).code == "xml-doctype-refused"


def test_the_cda_parser_refuses_a_doctype_too(secret_file: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_header(_xxe(secret_file))
    assert caught.value.code == "xml-doctype-refused"


def test_malformed_xml_reports_the_line() -> None:
    error = _refusal(b"<a>\n  <b>\n  </c>\n</a>")
    assert error.code == "malformed-xml"
    assert "line 3" in error.message


def test_empty_input_is_malformed() -> None:
    assert _refusal(b"  \n").code == "malformed-xml"


def test_a_non_cda_root_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_header(b'<ClinicalDocument xmlns="urn:hl7-org:v2"/>')
    assert caught.value.code == "invalid-cda"


def test_well_formed_xml_without_doctype_parses() -> None:
    root = parse_xml(b'<?xml version="1.0"?><?pi x?><!-- c --><a xmlns="urn:hl7-org:v3"><b/></a>')
    assert root.xpath("count(cda:b)", namespaces=NS) == 1


def test_the_safe_parser_switches_off_every_risky_feature() -> None:
    data = b'<!DOCTYPE x [<!ENTITY e "expanded">]><x>&e;</x>'
    root = etree.fromstring(data, safe_parser())
    assert "expanded" not in etree.tostring(root).decode()
