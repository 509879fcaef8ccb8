"""The XDS.b SOAP transport over raw HTTP (docs/xds.md, "Transport" and "Faults"): every
request that is not a well-formed SOAP 1.2 / WS-Addressing message for this endpoint gets a
SOAP 1.2 fault with the right code, subcode and HTTP status; nothing reaches a handler; and
no exception ever leaves as a bare 500 page."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree
from starlette.types import Receive, Scope, Send

from opendmp.domain.errors import AccessDenied
from opendmp.xds import api
from opendmp.xds import namespaces as ns
from opendmp.xds.api import XdsCall
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI18, ITI41, ITI43, ITI57
from tests.xds.conftest import Recorder
from tests.xds.soap_support import (
    SOAP_TYPE,
    dmp,
    envelope,
    fault_of,
    pnr_body,
    soap_code,
    wsa,
)

SECRET_INS = str(1234567890123)  # never written on a line the traceback would show
MESSAGE_ID = "urn:uuid:0b5d4a2e-3c1f-4c41-9a49-2f0e6f1d2a11"


def pnr(*documents: str, headers: str = "", action: str | None = ITI41.action) -> bytes:
    return envelope(pnr_body(*documents), action, message_id=MESSAGE_ID, headers=headers)


async def post(
    http: httpx.AsyncClient, path: str, body: bytes, content_type: str = SOAP_TYPE
) -> httpx.Response:
    return await http.post(path, content=body, headers={"Content-Type": content_type})


async def test_a_well_formed_request_reaches_its_handler_and_the_answer_relates_to_it(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    document = b"<ClinicalDocument/>\r\n\x00\xff"
    response = await post(http, ITI41.path, pnr(base64.b64encode(document).decode()))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content)
    header = root.find(f"{{{ns.SOAP12}}}Header")
    assert header is not None
    assert header.findtext(f"{{{ns.WSA}}}Action") == ITI41.response_action
    assert header.findtext(f"{{{ns.WSA}}}RelatesTo") == MESSAGE_ID
    assert (header.findtext(f"{{{ns.WSA}}}MessageID") or "").startswith("urn:uuid:")
    assert root.find(f".//{{{ns.RS}}}RegistryResponse") is not None
    assert iti41_recorder.documents == [document]
    call = iti41_recorder.calls[0]
    assert call.soap.action == ITI41.action and call.soap.message_id == MESSAGE_ID
    assert call.transaction is ITI41 and call.soap.security is None


async def test_an_unknown_action_is_a_sender_fault_relating_to_the_request(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    response = await post(http, ITI41.path, pnr(action="urn:example:NoSuchAction"))
    assert response.status_code == 400
    fault = fault_of(response)
    assert (fault.code, fault.subcode) == (soap_code("Sender"), wsa("ActionNotSupported"))
    assert "action not supported" in fault.reason
    assert fault.relates_to == MESSAGE_ID
    assert iti41_recorder.calls == []


async def test_an_action_sent_to_another_transactions_path_is_refused(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    response = await post(http, ITI18.path, pnr())
    fault = fault_of(response)
    assert response.status_code == 400
    assert fault.subcode == wsa("ActionNotSupported")
    assert ITI41.path in fault.reason
    assert iti41_recorder.calls == []


@pytest.mark.parametrize("tx", [ITI18, ITI43, ITI57], ids=lambda tx: tx.name)
async def test_a_transaction_without_a_handler_answers_action_not_supported(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, tx: Any
) -> None:
    monkeypatch.delitem(api.HANDLERS, tx.action, raising=False)
    response = await post(http, tx.path, envelope("<x:Q xmlns:x='urn:x'/>", tx.action))
    fault = fault_of(response)
    assert response.status_code == 400
    assert fault.subcode == wsa("ActionNotSupported")
    assert "action not supported" in fault.reason


async def test_a_soap_11_envelope_gets_a_version_mismatch_naming_soap_12(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    body = envelope(pnr_body(), ITI41.action, soap_ns=ns.SOAP11)
    response = await post(http, ITI41.path, body, "text/xml; charset=utf-8")
    assert response.status_code == 400
    fault = fault_of(response)
    assert fault.code == soap_code("VersionMismatch")
    supported = fault.root.find(f".//{{{ns.SOAP12}}}SupportedEnvelope")
    assert supported is not None
    prefix, _, local = (supported.get("qname") or "").partition(":")
    assert (supported.nsmap[prefix], local) == (ns.SOAP12, "Envelope")
    assert iti41_recorder.calls == []


async def test_a_must_understand_header_we_do_not_know_is_a_must_understand_fault(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    block = f'<z:Routing xmlns:z="urn:example:z" s:mustUnderstand="true" xmlns:s="{ns.SOAP12}"/>'
    response = await post(http, ITI41.path, pnr(headers=block))
    assert response.status_code == 400
    fault = fault_of(response)
    assert fault.code == soap_code("MustUnderstand")
    assert fault.relates_to == MESSAGE_ID
    named = fault.root.find(f".//{{{ns.SOAP12}}}NotUnderstood")
    assert named is not None
    prefix, _, local = (named.get("qname") or "").partition(":")
    assert (named.nsmap[prefix], local) == ("urn:example:z", "Routing")
    assert iti41_recorder.calls == []


async def test_must_understand_security_and_addressing_are_understood_and_ignorable_ones_pass(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    headers = (
        f'<wsse:Security xmlns:wsse="{ns.WSSE}" xmlns:s="{ns.SOAP12}" s:mustUnderstand="1">'
        '<marker xmlns="urn:example:marker"/></wsse:Security>'
        f'<z:Hint xmlns:z="urn:example:z" xmlns:s="{ns.SOAP12}" s:mustUnderstand="false"/>'
        f'<z:Other xmlns:z="urn:example:z" xmlns:s="{ns.SOAP12}" s:mustUnderstand="true"'
        ' s:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>'
        f"<wsa:To>http://dmp.test{ITI41.path}</wsa:To>"
        f"<wsa:ReplyTo><wsa:Address>{ns.WSA_ANONYMOUS}</wsa:Address></wsa:ReplyTo>"
    )
    response = await post(http, ITI41.path, pnr(headers=headers))
    assert response.status_code == 200, response.text
    soap = iti41_recorder.calls[0].soap
    assert soap.security is not None and soap.security.tag == f"{{{ns.WSSE}}}Security"
    assert soap.to == f"http://dmp.test{ITI41.path}"
    assert soap.reply_to == ns.WSA_ANONYMOUS
    assert soap.header is not None


@pytest.mark.parametrize(
    ("headers", "subcode"),
    [
        ("", wsa("MessageAddressingHeaderRequired")),
        ("<wsa:Action>a</wsa:Action><wsa:Action>b</wsa:Action>", wsa("InvalidAddressingHeader")),
        (
            f"<wsa:Action>{ITI41.action}</wsa:Action>"
            "<wsa:ReplyTo><wsa:Address>http://elsewhere.example/cb</wsa:Address></wsa:ReplyTo>",
            wsa("OnlyAnonymousAddressSupported"),
        ),
        (
            f"<wsa:Action>{ITI41.action}</wsa:Action><wsa:FaultTo/>",
            wsa("InvalidAddressingHeader"),
        ),
    ],
    ids=["no-action", "two-actions", "reply-elsewhere", "faultto-without-address"],
)
async def test_ws_addressing_faults(
    http: httpx.AsyncClient, iti41_recorder: Recorder, headers: str, subcode: str
) -> None:
    body = envelope(pnr_body(), None, message_id=MESSAGE_ID, headers=headers)
    response = await post(http, ITI41.path, body)
    assert response.status_code == 400
    fault = fault_of(response)
    assert (fault.code, fault.subcode) == (soap_code("Sender"), subcode)
    assert fault.relates_to == MESSAGE_ID
    assert iti41_recorder.calls == []


XXE = (
    '<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file://{path}">]>'
    f'<s:Envelope xmlns:s="{ns.SOAP12}" xmlns:wsa="{ns.WSA}"><s:Header>'
    f"<wsa:Action>{ITI41.action}</wsa:Action></s:Header><s:Body>&x;</s:Body></s:Envelope>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">'
        for n in range(1, 10)
    )
    + f']><s:Envelope xmlns:s="{ns.SOAP12}"><s:Body><b>&lol9;</b></s:Body></s:Envelope>'
)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<s:Envelope xmlns:s='" + ns.SOAP12.encode() + b"'><s:Body>", "malformed-xml"),
        (b"", "malformed-xml"),
        (b"<html><body>hello</body></html>", "malformed-envelope"),
        (LAUGHS.encode(), "xml-doctype-refused"),
        (
            envelope("<a xmlns='urn:a'/><b xmlns='urn:b'/>", ITI41.action),
            "malformed-envelope",
        ),
        (envelope("", ITI41.action), "malformed-envelope"),
        (
            f"<s:Envelope xmlns:s='{ns.SOAP12}'><s:Body><a/></s:Body><s:Header/>"
            "</s:Envelope>".encode(),
            "malformed-envelope",
        ),
        (
            envelope(
                pnr_body(),
                ITI41.action,
                headers=f"<z:H xmlns:z='urn:z' xmlns:s='{ns.SOAP12}' s:mustUnderstand='maybe'/>",
            ),
            "malformed-envelope",
        ),
    ],
    ids=[
        "truncated",
        "empty",
        "not-soap",
        "billion-laughs",
        "two-body-children",
        "empty-body",
        "body-before-header",
        "bad-mustunderstand",
    ],
)
async def test_malformed_or_hostile_envelopes_are_sender_faults(
    http: httpx.AsyncClient, iti41_recorder: Recorder, body: bytes, code: str
) -> None:
    response = await post(http, ITI41.path, body)
    assert response.status_code == 400, response.text
    fault = fault_of(response)
    assert (fault.code, fault.subcode) == (soap_code("Sender"), dmp(code))
    assert iti41_recorder.calls == []


async def test_an_external_entity_is_refused_and_never_read(
    http: httpx.AsyncClient, iti41_recorder: Recorder, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    response = await post(http, ITI41.path, XXE.replace("{path}", str(secret)).encode())
    assert response.status_code == 400
    fault = fault_of(response)
    assert fault.subcode == dmp("xml-doctype-refused")
    assert "TOP-SECRET" not in response.text
    assert iti41_recorder.calls == []


async def test_an_undeclared_entity_is_malformed(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    response = await post(http, ITI41.path, pnr("&undefined;"))
    assert fault_of(response).subcode == dmp("malformed-xml")
    assert iti41_recorder.calls == []


async def test_an_inline_document_that_is_not_base64_is_a_sender_fault(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    response = await post(http, ITI41.path, pnr("not*base64!"))
    assert response.status_code == 400
    assert fault_of(response).subcode == dmp("invalid-base64")


async def test_an_inline_document_over_the_parsers_text_bound_is_told_to_use_mtom(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    response = await post(http, ITI41.path, pnr("QUFB" * 2_600_000))  # 10.4 MB of base64
    assert response.status_code == 413
    fault = fault_of(response)
    assert fault.subcode == dmp("inline-document-too-large")
    assert "MTOM" in fault.reason
    assert iti41_recorder.calls == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", ""]
)
async def test_other_media_types_are_refused(http: httpx.AsyncClient, content_type: str) -> None:
    response = await post(http, ITI41.path, pnr(), content_type)
    assert response.status_code == 415
    assert fault_of(response).subcode == dmp("unsupported-media-type")


async def test_a_handlers_opendmp_error_is_a_fault_with_its_code_and_status(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(call: XdsCall) -> SoapReply:
        raise AccessDenied("not allowed here", code="no-authorization")

    monkeypatch.setitem(api.HANDLERS, ITI41.action, refuse)
    response = await post(http, ITI41.path, pnr())
    assert response.status_code == 403
    fault = fault_of(response)
    assert (fault.code, fault.subcode, fault.reason) == (
        soap_code("Sender"),
        dmp("no-authorization"),
        "not allowed here",
    )
    assert fault.relates_to == MESSAGE_ID


async def test_an_unexpected_exception_is_a_receiver_fault_logged_without_its_message(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(call: XdsCall) -> SoapReply:
        raise RuntimeError(f"INS {SECRET_INS} inside the message")

    monkeypatch.setitem(api.HANDLERS, ITI41.action, explode)
    with caplog.at_level(logging.ERROR, logger="opendmp.xds"):
        response = await post(http, ITI41.path, pnr())
    assert response.status_code == 500
    fault = fault_of(response)
    assert fault.code == soap_code("Receiver")
    assert fault.reason.startswith("internal error (incident ")
    incident = fault.reason.removeprefix("internal error (incident ").rstrip(")")
    assert incident in caplog.text and "RuntimeError" in caplog.text
    assert SECRET_INS not in caplog.text and SECRET_INS not in response.text


async def test_an_exception_escaping_any_route_under_xds_is_still_a_soap_fault(
    app: FastAPI,
) -> None:
    """The middleware, last line: an exception escaping whatever runs under /xds leaves as a
    Receiver fault, never a bare 500 page; other paths are left to their own handlers."""
    installed: list[object] = [m.cls for m in app.user_middleware]
    assert api.XdsUnexpectedErrors in installed

    async def raising(scope: Scope, receive: Receive, send: Send) -> None:
        raise KeyError("boom")

    guarded = api.XdsUnexpectedErrors(raising)
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as client:
        response = await client.post(ITI41.path, content=b"x")
        assert response.status_code == 500
        assert fault_of(response).code == soap_code("Receiver")
        with pytest.raises(KeyError):
            await client.get("/fhir/metadata")


async def test_unknown_paths_and_methods_under_xds_are_soap_faults(http: httpx.AsyncClient) -> None:
    missing = await http.post("/xds/iti99", content=pnr(), headers={"Content-Type": SOAP_TYPE})
    assert missing.status_code == 404
    assert fault_of(missing).subcode == dmp("not-found")
    wrong = await http.put(ITI41.path, content=b"x")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, POST"
    assert fault_of(wrong).subcode == dmp("method-not-allowed")
    plain_get = await http.get(ITI41.path)
    assert plain_get.status_code == 400
    assert fault_of(plain_get).subcode == dmp("not-soap")
