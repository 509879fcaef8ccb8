"""MTOM/XOP requests and answers over raw HTTP (docs/xds.md, "Transport"): parts found by
``start`` or first, ``cid:`` URLs percent-decoded, bytes kept exactly; every inconsistency
(dangling Include, unreferenced part, duplicate or missing Content-ID, truncated body) and
every bound (part size, part count, body size, inline document size) a clear fault."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from requests_toolbelt.multipart.decoder import MultipartDecoder

from opendmp.domain.errors import OpenDMPError
from opendmp.domain.limits import RequestLimits
from opendmp.xds import api
from opendmp.xds import namespaces as ns
from opendmp.xds.api import XdsCall
from opendmp.xds.faults import SoapFault, fault_envelope
from opendmp.xds.registry_response import (
    ErrorCode,
    RegistryError,
    ResponseStatus,
    RetrievedDocument,
    retrieve_document_set_response,
)
from opendmp.xds.soap import SoapReply, parse_request
from opendmp.xds.transactions import ITI41, ITI43
from tests.xds.conftest import Recorder
from tests.xds.soap_support import (
    SOAP_TYPE,
    Part,
    dmp,
    envelope,
    fault_of,
    include,
    mtom,
    pnr_body,
    soap_code,
)

MAX_DOCUMENT = 2048
MAX_DOCUMENTS = 3
MAX_REQUEST = 16 * 1024
LIMITS = RequestLimits(
    max_request_bytes=MAX_REQUEST, max_documents=MAX_DOCUMENTS, max_document_bytes=MAX_DOCUMENT
)


@pytest.fixture
def app_settings_overrides() -> dict[str, Any]:
    return {
        "max_document_bytes": MAX_DOCUMENT,
        "max_documents_per_submission": MAX_DOCUMENTS,
        "max_request_bytes": MAX_REQUEST,
    }


def pnr(*documents: str) -> bytes:
    return envelope(pnr_body(*documents), ITI41.action, message_id="urn:uuid:1")


async def send(http: httpx.AsyncClient, body: bytes, content_type: str) -> httpx.Response:
    return await http.post(ITI41.path, content=body, headers={"Content-Type": content_type})


# Bytes that would trip a careless parser: CRLFs, a fake delimiter, NULs, high bytes.
TRICKY = b"%PDF-1.4\r\n--uuid:not-the-boundary\r\n\r\n\x00\xff\xfe\r\r\n\n" + bytes(range(256))


async def test_parts_are_found_by_start_and_percent_encoded_cids_bytes_unchanged(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    root = pnr(include("doc%201%2Fa%40example.org"), include("second@example.org"))
    body, content_type = mtom(
        root,
        [Part(TRICKY, "doc 1/a@example.org"), Part(b"", "second@example.org")],
        root_first=False,
    )
    response = await send(http, body, content_type)
    assert response.status_code == 200, response.text
    assert iti41_recorder.documents == [TRICKY, b""]


async def test_without_start_the_root_is_the_first_part(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    body, content_type = mtom(pnr(include("a@x")), [Part(TRICKY, "a@x")], start=None)
    response = await send(http, body, content_type)
    assert response.status_code == 200, response.text
    assert iti41_recorder.documents == [TRICKY]


async def test_inline_base64_documents_are_accepted_beside_mtom(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    inline = base64.encodebytes(TRICKY).decode()  # with line breaks, as xs:base64Binary allows
    body, content_type = mtom(pnr(inline, include("a@x")), [Part(b"mtom", "a@x")])
    response = await send(http, body, content_type)
    assert response.status_code == 200, response.text
    assert iti41_recorder.documents == [TRICKY, b"mtom"]


def _refused(code: str, status: int = 400) -> tuple[str, int]:
    return code, status


CASES: dict[str, tuple[tuple[bytes, str], tuple[str, int]]] = {
    "include-without-part": (
        mtom(pnr(include("a@x"), include("missing@x")), [Part(b"1", "a@x")]),
        _refused("xop-include-dangling"),
    ),
    "part-without-include": (
        mtom(pnr(include("a@x")), [Part(b"1", "a@x"), Part(b"2", "stray@x")]),
        _refused("mime-part-unreferenced"),
    ),
    "part-without-content-id": (
        mtom(pnr(include("a@x")), [Part(b"1", "a@x"), Part(b"2", None)]),
        _refused("malformed-mime"),
    ),
    "duplicate-content-id": (
        mtom(pnr(include("a@x")), [Part(b"1", "a@x"), Part(b"2", "a@x")]),
        _refused("malformed-mime"),
    ),
    "unreadable-content-id": (
        mtom(pnr(include("a@x")), [Part(b"1", "a@x"), Part(b"2", "\x01\udcff@x")]),
        _refused("mime-part-unreferenced"),
    ),
    "start-names-no-part": (
        mtom(pnr(include("a@x")), [Part(b"1", "a@x")], start="<nowhere@x>"),
        _refused("malformed-mime"),
    ),
    "root-not-xop": (
        mtom(pnr(), [Part(b"<x/>", "a@x")], start="<a@x>"),
        _refused("malformed-mime"),
    ),
    "include-not-cid": (
        mtom(pnr('<xop:Include href="http://elsewhere.example/doc"/>'), []),
        _refused("xop-include-invalid"),
    ),
    "oversized-part": (
        mtom(pnr(include("a@x")), [Part(b"x" * (MAX_DOCUMENT + 1), "a@x")]),
        _refused("document-too-large", 413),
    ),
    "too-many-parts": (
        mtom(
            pnr(*(include(f"{n}@x") for n in range(MAX_DOCUMENTS + 1))),
            [Part(b"1", f"{n}@x") for n in range(MAX_DOCUMENTS + 1)],
        ),
        _refused("too-many-parts", 422),
    ),
    "doctype-in-root": (
        mtom(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + pnr(), []),
        _refused("xml-doctype-refused"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_inconsistent_or_oversized_mtom_requests_are_faults(
    http: httpx.AsyncClient, iti41_recorder: Recorder, case: str
) -> None:
    (body, content_type), (code, status) = CASES[case]
    response = await send(http, body, content_type)
    assert response.status_code == status, response.text
    fault = fault_of(response)
    assert (fault.code, fault.subcode) == (soap_code("Sender"), dmp(code))
    assert iti41_recorder.calls == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: body[: body.rindex(b"--uuid:")],  # no closing delimiter
        lambda body: body.replace(
            b"Content-Transfer-Encoding: binary", b"Content-Transfer-Encoding: quoted-printable", 1
        ),
        lambda body: body.replace(b"\r\n\r\n", b"\r\n", 1),  # root headers never end
        lambda body: b"no delimiter at all",
    ],
    ids=["truncated", "encoding", "headers-unterminated", "no-part"],
)
async def test_malformed_multipart_bodies_are_faults(
    http: httpx.AsyncClient, iti41_recorder: Recorder, mangle: Any
) -> None:
    body, content_type = mtom(pnr(include("a@x")), [Part(b"1", "a@x")], boundary="uuid:b")
    response = await send(http, mangle(body), content_type)
    assert response.status_code == 400, response.text
    assert fault_of(response).subcode == dmp("malformed-mime")
    assert iti41_recorder.calls == []


@pytest.mark.parametrize(
    ("content_type", "code", "status"),
    [
        ('multipart/related; type="application/xop+xml"', "malformed-mime", 400),
        ('multipart/related; type="text/xml"; boundary="b"', "unsupported-media-type", 415),
        (
            'multipart/related; type="application/xop+xml"; boundary="' + "b" * 71 + '"',
            "malformed-mime",
            400,
        ),
    ],
    ids=["no-boundary", "not-xop", "boundary-too-long"],
)
async def test_multipart_content_types_that_are_not_mtom_are_refused(
    http: httpx.AsyncClient, content_type: str, code: str, status: int
) -> None:
    response = await send(http, b"--b\r\n\r\nx\r\n--b--", content_type)
    assert response.status_code == status
    assert fault_of(response).subcode == dmp(code)


async def test_a_body_over_the_request_bound_is_refused_before_parsing(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    response = await send(http, pnr("A" * MAX_REQUEST), SOAP_TYPE)
    assert response.status_code == 413
    assert fault_of(response).subcode == dmp("request-too-large")
    assert iti41_recorder.calls == []


async def test_an_inline_document_over_the_document_bound_is_refused(
    http: httpx.AsyncClient, iti41_recorder: Recorder
) -> None:
    inline = base64.b64encode(b"x" * (MAX_DOCUMENT + 1)).decode()
    response = await send(http, pnr(inline), SOAP_TYPE)
    assert response.status_code == 413
    assert fault_of(response).subcode == dmp("document-too-large")
    assert iti41_recorder.documents == []


async def test_retrieve_answers_are_mtom_with_each_document_a_binary_part(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = [
        RetrievedDocument("1.2.3", "1.2.3.4", "text/xml", TRICKY),
        RetrievedDocument("1.2.3", "1.2.3.5", "application/pdf", b"%PDF", "urn:oid:1.2"),
    ]
    missing = RegistryError(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, "unknown document", location="9.9")

    async def retrieve(call: XdsCall) -> SoapReply:
        return retrieve_document_set_response(documents, [missing])

    monkeypatch.setitem(api.HANDLERS, ITI43.action, retrieve)
    body = envelope(
        "<x:RetrieveDocumentSetRequest xmlns:x='urn:ihe:iti:xds-b:2007'/>", ITI43.action
    )
    response = await http.post(ITI43.path, content=body, headers={"Content-Type": SOAP_TYPE})
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert (
        content_type.startswith("multipart/related;")
        and 'type="application/xop+xml"' in content_type
    )
    # An independent MIME reader (the one zeep uses).
    parts = MultipartDecoder(response.content, content_type).parts
    assert parts[0].headers[b"Content-Type"].startswith(b"application/xop+xml")
    assert f'start="{parts[0].headers[b"Content-ID"].decode()}"' in content_type
    by_cid = {part.headers[b"Content-ID"].decode()[1:-1]: part for part in parts[1:]}
    root = etree.fromstring(parts[0].content)
    assert root.findtext(f".//{{{ns.WSA}}}Action") == ITI43.response_action
    status = root.find(f".//{{{ns.RS}}}RegistryResponse")
    assert status is not None and status.get("status") == ResponseStatus.PARTIAL_SUCCESS
    answered = root.findall(f".//{{{ns.XDSB}}}DocumentResponse")
    assert [a.findtext(f"{{{ns.XDSB}}}DocumentUniqueId") for a in answered] == [
        "1.2.3.4",
        "1.2.3.5",
    ]
    for answer, document in zip(answered, documents, strict=True):
        href = answer.find(f"{{{ns.XDSB}}}Document/{{{ns.XOP}}}Include").get("href")  # type: ignore[union-attr]
        part = by_cid[href.removeprefix("cid:")]  # type: ignore[union-attr]
        assert part.content == document.content
        assert part.headers[b"Content-Type"].decode() == document.mime_type


# --- any bytes: a request or a refusal, never another exception -------------------------

_PIECES = st.sampled_from(
    [
        b"--b",
        b"--b--",
        b"\r\n",
        b"\r\n\r\n",
        b"Content-ID: <a@x>",
        b"Content-Type: application/xop+xml",
        b"Content-Transfer-Encoding: binary",
        include("a@x").encode(),
        pnr(include("a@x")),
        b"\x00\xff\xfe",
        b" ",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(_PIECES | st.binary(max_size=20), max_size=25),
    start=st.sampled_from([None, "<a@x>", "<root@test>", "\x00"]),
)
def test_any_multipart_body_is_parsed_or_refused_cleanly(
    pieces: list[bytes], start: str | None
) -> None:
    content_type = 'multipart/related; type="application/xop+xml"; boundary="b"'
    if start is not None:
        content_type += f'; start="{start}"'
    try:
        parse_request(b"".join(pieces), content_type, LIMITS)
    except (SoapFault, OpenDMPError) as refusal:
        if isinstance(refusal, SoapFault):
            fault_envelope(refusal)  # and the refusal can be written
