"""The answer builders (xds/registry_response.py): statuses, error lists, and every answer
valid against the ebRS 3.0 / IHE schemas OpenDMP serves (ITI TF-3 §4.2.4.1)."""

from __future__ import annotations

import base64
from importlib import resources

import pytest
from lxml import etree

from opendmp.xds import namespaces as ns
from opendmp.xds.envelope import element
from opendmp.xds.registry_response import (
    ErrorCode,
    RegistryError,
    ResponseStatus,
    RetrievedDocument,
    Severity,
    adhoc_query_response,
    registry_reply,
    registry_response,
    retrieve_document_set_response,
    status_of,
)

SCHEMA_DIR = resources.files("opendmp.xds") / "wsdl" / "schema"


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> etree.XMLSchema:
    """One schema over the packaged files. The XDS.b namespace has two documents (IHEXDSB.xsd,
    and xcf.xsd that rim.xsd imports) and libxml2 imports a namespace once: one document
    including both stands for it."""
    xs = "http://www.w3.org/2001/XMLSchema"
    xdsb = tmp_path_factory.mktemp("xsd") / "xdsb.xsd"
    xdsb.write_text(
        f'<xs:schema xmlns:xs="{xs}" targetNamespace="{ns.XDSB}">'
        f'<xs:include schemaLocation="{SCHEMA_DIR / "IHE/IHEXDSB.xsd"}"/>'
        f'<xs:include schemaLocation="{SCHEMA_DIR / "IHE/xcf.xsd"}"/></xs:schema>'
    )
    imports = [(ns.XDSB, str(xdsb)), (ns.RS, str(SCHEMA_DIR / "ebRS30/rs.xsd"))]
    imports.append((ns.QUERY, str(SCHEMA_DIR / "ebRS30/query.xsd")))
    lines = "".join(
        f'<xs:import namespace="{uri}" schemaLocation="{path}"/>' for uri, path in imports
    )
    return etree.XMLSchema(etree.fromstring(f'<xs:schema xmlns:xs="{xs}">{lines}</xs:schema>'))


def _valid(schema: etree.XMLSchema, built: etree._Element) -> None:
    copy = etree.fromstring(etree.tostring(built))
    for include in list(copy.iter(f"{{{ns.XOP}}}Include")):  # the XOP infoset: base64 in its place
        parent = include.getparent()
        assert parent is not None
        parent.remove(include)
        parent.text = base64.b64encode(b"bytes").decode()
    assert schema.validate(copy), schema.error_log


WARNING = RegistryError(
    ErrorCode.EXTRA_METADATA_NOT_SAVED, "slot x ignored", Severity.WARNING, location="Document01"
)
ERROR = RegistryError(ErrorCode.UNKNOWN_PATIENT_ID, "unknown patient")


def test_status_follows_the_errors() -> None:
    assert status_of([]) is ResponseStatus.SUCCESS
    assert status_of([WARNING]) is ResponseStatus.SUCCESS
    assert status_of([WARNING, ERROR]) is ResponseStatus.FAILURE
    assert status_of([ERROR], partial=True) is ResponseStatus.PARTIAL_SUCCESS
    assert status_of([WARNING], partial=True) is ResponseStatus.SUCCESS


def test_a_success_has_no_error_list(schema: etree.XMLSchema) -> None:
    built = registry_response(request_id="urn:uuid:1")
    assert built.tag == f"{{{ns.RS}}}RegistryResponse"
    assert built.get("status") == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    assert built.get("requestId") == "urn:uuid:1"
    assert len(built) == 0
    _valid(schema, built)


def test_errors_are_listed_with_code_context_severity_and_location(schema: etree.XMLSchema) -> None:
    built = registry_reply([ERROR, WARNING]).body
    assert built.get("status") == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    listed = built.find(f"{{{ns.RS}}}RegistryErrorList")
    assert listed is not None
    assert listed.get("highestSeverity") == Severity.ERROR.value
    first, second = listed
    assert {str(k): str(v) for k, v in first.attrib.items()} == {
        "codeContext": "unknown patient",
        "errorCode": "XDSUnknownPatientId",
        "severity": "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error",
    }
    assert second.get("location") == "Document01"
    assert second.get("severity") == "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"
    _valid(schema, built)


def test_warnings_alone_are_a_success_with_warning_as_highest_severity() -> None:
    built = registry_response([WARNING])
    assert built.get("status") == ResponseStatus.SUCCESS.value
    assert built[0].get("highestSeverity") == Severity.WARNING.value


def test_a_status_can_be_forced() -> None:
    built = registry_response([ERROR], status=ResponseStatus.PARTIAL_SUCCESS)
    assert built.get("status") == "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


def test_the_error_codes_are_those_of_iti_tf3_table_4_2_4_1_2() -> None:
    codes = {code.value for code in ErrorCode}
    assert len(codes) == len(ErrorCode) == 57
    for named in (
        "XDSRegistryMetadataError",
        "XDSPatientIdDoesNotMatch",
        "XDSDuplicateUniqueIdInRegistry",
        "XDSMissingDocument",
        "XDSNonIdenticalHash",
        "XDSUnknownPatientId",
        "XDSTooManyResults",
        "XDSUnknownStoredQuery",
        "XDSStoredQueryMissingParam",
        "XDSDocumentUniqueIdError",
        "PartialTransformNotProcessed",
        "LocalPolicyRestrictionError",
    ):
        assert named in codes


def test_an_adhoc_query_response_always_holds_its_object_list(schema: etree.XMLSchema) -> None:
    empty = adhoc_query_response([]).body
    assert empty.tag == f"{{{ns.QUERY}}}AdhocQueryResponse"
    assert empty.get("status") == ResponseStatus.SUCCESS.value
    listed = empty.find(f"{{{ns.RIM}}}RegistryObjectList")
    assert listed is not None and len(listed) == 0
    _valid(schema, empty)
    refs = [element(ns.RIM, "ObjectRef", id=f"urn:uuid:{n}") for n in range(3)]
    found = adhoc_query_response(refs, total_result_count=3).body
    assert [ref.get("id") for ref in found.iterfind(f".//{{{ns.RIM}}}ObjectRef")] == [
        "urn:uuid:0",
        "urn:uuid:1",
        "urn:uuid:2",
    ]
    assert found.get("totalResultCount") == "3"
    _valid(schema, found)
    refused = adhoc_query_response([], [RegistryError(ErrorCode.TOO_MANY_RESULTS, "too many")]).body
    assert refused.get("status") == ResponseStatus.FAILURE.value
    _valid(schema, refused)


def test_a_retrieve_answer_references_each_document_as_an_attachment(
    schema: etree.XMLSchema,
) -> None:
    documents = [
        RetrievedDocument("1.2.3", "1.2.3.4", "text/xml", b"<a/>", home_community_id="urn:oid:9"),
        RetrievedDocument("1.2.3", "1.2.3.5", "application/pdf", b"%PDF"),
    ]
    reply = retrieve_document_set_response(documents)
    assert reply.body.tag == f"{{{ns.XDSB}}}RetrieveDocumentSetResponse"
    includes = list(reply.body.iter(f"{{{ns.XOP}}}Include"))
    cids = [(include.get("href") or "").removeprefix("cid:") for include in includes]
    assert [reply.attachments[cid].data for cid in cids] == [b"<a/>", b"%PDF"]
    assert [reply.attachments[cid].media_type for cid in cids] == ["text/xml", "application/pdf"]
    _valid(schema, reply.body)
    nothing = retrieve_document_set_response(
        [], [RegistryError(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, "unknown", location="1.2")]
    )
    status = nothing.body.find(f"{{{ns.RS}}}RegistryResponse")
    assert status is not None and status.get("status") == ResponseStatus.FAILURE.value
    assert nothing.attachments == {}
    _valid(schema, nothing.body)
