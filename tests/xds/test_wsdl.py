"""The served WSDLs and schemas (docs/xds.md, "WSDL"): each ``<path>?wsdl`` names the
server's own URL for that path (scheme from a trusted proxy only), every schema it imports,
directly or not, is served under /xds/schema/, and an unmodified zeep client given only the
``?wsdl`` URL of a real server (uvicorn, real HTTP) builds its client and talks to it."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest
import zeep
import zeep.exceptions
from lxml import etree

from opendmp.xds import api
from opendmp.xds import namespaces as ns
from opendmp.xds.api import XdsCall
from opendmp.xds.registry_response import RetrievedDocument, retrieve_document_set_response
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI18, ITI41, ITI43, TRANSACTIONS, Transaction
from tests.xds.conftest import Recorder
from tests.xds.soap_support import dmp, fault_of

PROXY = "10.0.0.1"  # the address the ``http`` fixture connects from


@pytest.fixture
def app_settings_overrides() -> dict[str, Any]:
    return {"trusted_proxies": [PROXY]}


def _address(wsdl: bytes) -> str | None:
    root = etree.fromstring(wsdl)
    found = root.find(f".//{{{ns.WSDL_SOAP12}}}address")
    return found.get("location") if found is not None else None


@pytest.mark.parametrize("tx", TRANSACTIONS, ids=lambda tx: tx.name)
async def test_the_wsdl_names_the_servers_own_url_for_the_path(
    http: httpx.AsyncClient, tx: Transaction
) -> None:
    response = await http.get(f"{tx.path}?wsdl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert _address(response.content) == f"http://dmp.test{tx.path}"
    assert f'wsam:Action="{tx.action}"' in response.text
    behind_proxy = await http.get(
        f"{tx.path}?WSDL", headers={"X-Forwarded-Proto": "https", "Host": "dmp.example.fr"}
    )
    assert _address(behind_proxy.content) == f"https://dmp.example.fr{tx.path}"


async def test_only_a_trusted_proxy_chooses_the_scheme(app: Any) -> None:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as client:
        response = await client.get(f"{ITI41.path}?wsdl", headers={"X-Forwarded-Proto": "https"})
    assert _address(response.content) == f"http://dmp.test{ITI41.path}"


def _imports(document: bytes) -> list[str]:
    root = etree.fromstring(document)
    return [
        location
        for node in root.iter(
            "{http://www.w3.org/2001/XMLSchema}import", "{http://www.w3.org/2001/XMLSchema}include"
        )
        if (location := node.get("schemaLocation"))
    ]


async def test_every_schema_the_wsdls_import_is_served(http: httpx.AsyncClient) -> None:
    pending = [f"http://dmp.test{tx.path}?wsdl" for tx in TRANSACTIONS]
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = await http.get(url)
        assert response.status_code == 200, url
        pending += [urllib.parse.urljoin(url, location) for location in _imports(response.content)]
    schemas = {url for url in seen if "/xds/schema/" in url}
    assert {
        urllib.parse.urlsplit(url).path.removeprefix(api.SCHEMA_PREFIX) for url in schemas
    } == set(api.SCHEMAS)
    licensed = await http.get(f"{api.SCHEMA_PREFIX}ebRS30/rim.xsd")
    assert "Apache License 2.0" in licensed.text


@pytest.mark.parametrize(
    "name", ["nothing.xsd", "../iti41.wsdl", "..%2F..%2Fapi.py", "ebRS30/../../api.py"]
)
async def test_only_the_packaged_schemas_are_served(http: httpx.AsyncClient, name: str) -> None:
    response = await http.get(f"{api.SCHEMA_PREFIX}{name}")
    assert response.status_code == 404
    assert fault_of(response).subcode == dmp("not-found")


# --- a real SOAP client against a real server -------------------------------------------


def _client(server: str, tx: Transaction) -> zeep.Client:
    return zeep.Client(wsdl=f"{server}{tx.path}?wsdl")  # type: ignore[no-untyped-call]


async def test_zeep_builds_a_client_for_every_transaction_from_the_served_wsdl(server: str) -> None:
    for tx in TRANSACTIONS:
        client = _client(server, tx)
        (service,) = client.wsdl.services.values()
        (port,) = service.ports.values()
        assert port.binding_options["address"] == f"{server}{tx.path}"


async def test_zeep_gets_a_readable_fault_for_a_transaction_not_served_yet(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(api.HANDLERS, ITI18.action, raising=False)
    client = _client(server, ITI18)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        client.service.DocumentRegistry_RegistryStoredQuery(
            ResponseOption={"returnType": "LeafClass"},
            AdhocQuery={"id": "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"},
        )
    assert "action not supported" in raised.value.message


async def test_zeep_sends_inline_documents_and_reads_the_registry_response(
    server: str, iti41_recorder: Recorder
) -> None:
    client = _client(server, ITI41)
    operation = client.service["DocumentRepository_ProvideAndRegisterDocumentSet-b"]
    answer = operation(
        SubmitObjectsRequest={"RegistryObjectList": {}},
        Document=[{"id": "Document01", "_value_1": b"<ClinicalDocument/>\x00\xff"}],
    )
    assert answer.status == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    assert iti41_recorder.documents == [b"<ClinicalDocument/>\x00\xff"]
    soap = iti41_recorder.calls[0].soap
    assert soap.message_id and soap.to == f"{server}{ITI41.path}"


async def test_zeep_reads_an_mtom_retrieve_answer_byte_for_byte(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = b"%PDF-1.4\r\n\x00\xff binary"

    async def retrieve(call: XdsCall) -> SoapReply:
        return retrieve_document_set_response(
            [RetrievedDocument("1.2.250.1", "1.2.250.1.9", "application/pdf", content)]
        )

    monkeypatch.setitem(api.HANDLERS, ITI43.action, retrieve)
    client = _client(server, ITI43)
    answer = client.service.DocumentRepository_RetrieveDocumentSet(
        DocumentRequest=[{"RepositoryUniqueId": "1.2.250.1", "DocumentUniqueId": "1.2.250.1.9"}]
    )
    assert answer.RegistryResponse.status.endswith(":Success")
    (document,) = answer.DocumentResponse
    assert (document.DocumentUniqueId, document.mimeType) == ("1.2.250.1.9", "application/pdf")
    assert document.Document == content
