"""Bad input never answers a 500 under /fhir (issue 12, item 3; docs/security.md, "FHIR
errors"): each input that once crashed a route gets its 4xx OperationOutcome and changes
nothing, for a professional and for a patient; and an exception nobody foresaw becomes a
logged 500 OperationOutcome that says nothing about the request. Runs on both databases."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from opendmp.app import Runtime, create_app
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.storage.db import make_engine, make_sessionmaker
from tests.api.fhir_support import (  # noqa: F401 - the fixture api
    Api,
    api_fixture,
    error_codes,
)
from tests.api.provide_support import ans_iti105
from tests.services.access_support import DOCTOR, create, snapshot
from tests.services.document_support import deposit, grant

FHIR_XML = "application/fhir+xml"
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"


XML_UNKNOWN = {
    "Consent": ("POST", "/fhir/Consent"),
    "Bundle": ("POST", "/fhir"),
    "DocumentReference": ("POST", "/fhir/DocumentReference"),
}


def _xml_with_unknown_element(resource: str, element: str = "notAnElement") -> bytes:
    return (
        f'<{resource} xmlns="http://hl7.org/fhir"><id value="x"/>'
        f'<{element} value="1"/></{resource}>'
    ).encode()


@pytest.fixture
async def ins(api: Api, ctx: ServiceContext) -> Ins:
    ins = await create(ctx)
    await grant(ctx, ins, DOCTOR)
    # Signed in once before the snapshots: the first sign-in records the structure the
    # credential names (docs/security.md, "Facts from credentials"), not the request's work.
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
        whoami = await http.get("/auth/whoami", headers=api.professional(DOCTOR))
    assert whoami.status_code == 200
    return ins


def _callers(api: Api, ins: Ins) -> dict[str, dict[str, str]]:
    return {"professional": api.professional(DOCTOR), "patient": api.patient(ins)}


def _assert_invalid(status: int, body: dict[str, Any], expected: int = 400) -> None:
    assert status == expected, body
    assert body["resourceType"] == "OperationOutcome"
    assert "invalid-resource" in error_codes(body) or "invalid-patch" in error_codes(body), body


@pytest.mark.parametrize("caller", ["professional", "patient"])
@pytest.mark.parametrize("resource", sorted(XML_UNKNOWN))
async def test_an_xml_body_with_an_unknown_element_is_refused_with_400(
    api: Api, ctx: ServiceContext, ins: Ins, resource: str, caller: str
) -> None:
    method, url = XML_UNKNOWN[resource]
    before = await snapshot(ctx)
    headers = {**_callers(api, ins)[caller], "Content-Type": FHIR_XML}
    status, body = await api.request(
        method, url, headers=headers, content=_xml_with_unknown_element(resource)
    )
    _assert_invalid(status, body)
    assert "notAnElement" in body["issue"][0]["diagnostics"]
    assert await snapshot(ctx) == before


def _nested_extensions(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"url": "urn:x", "valueString": "leaf"}
    for _ in range(depth):
        node = {"url": "urn:x", "extension": [node]}
    return node


def _patch_xml_unknown() -> bytes:
    return (
        b'<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>'
        b'<notAnElement value="1"/></parameter></Parameters>'
    )


async def _document_id(ctx: ServiceContext, ins: Ins) -> str:
    view = await deposit(ctx, ins, actor=DOCTOR)
    return view.entry_uuid.removeprefix("urn:uuid:")


@pytest.mark.parametrize("caller", ["professional", "patient"])
async def test_an_xml_patch_with_an_unknown_element_is_refused_with_400(
    api: Api, ctx: ServiceContext, ins: Ins, caller: str
) -> None:
    entry_id = await _document_id(ctx, ins)
    before = await snapshot(ctx)
    headers = {**_callers(api, ins)[caller], "Content-Type": FHIR_XML}
    status, body = await api.request(
        "PATCH",
        f"/fhir/DocumentReference/{entry_id}",
        headers=headers,
        content=_patch_xml_unknown(),
    )
    _assert_invalid(status, body)
    assert await snapshot(ctx) == before


@pytest.mark.parametrize("url", [12, True, {"a": 1}, ["x"]])
async def test_a_non_string_attachment_url_is_refused_with_400(
    api: Api, ctx: ServiceContext, ins: Ins, url: Any
) -> None:
    resource = ans_iti105(ins)
    resource["content"][0]["attachment"]["url"] = url
    before = await snapshot(ctx)
    status, body = await api.request(
        "POST", "/fhir/DocumentReference", headers=api.professional(DOCTOR), json_body=resource
    )
    _assert_invalid(status, body)
    assert await snapshot(ctx) == before


@pytest.mark.parametrize(
    ("method", "url"), [("POST", "/fhir/DocumentReference"), ("POST", "/fhir/Consent")]
)
async def test_deeply_nested_extensions_are_refused_with_400(
    api: Api, ctx: ServiceContext, ins: Ins, method: str, url: str
) -> None:
    resource: dict[str, Any] = (
        ans_iti105(ins) if url.endswith("DocumentReference") else {"resourceType": "Consent"}
    )
    resource["extension"] = [_nested_extensions(120)]
    before = await snapshot(ctx)
    status, body = await api.request(method, url, headers=api.patient(ins), json_body=resource)
    _assert_invalid(status, body)
    assert await snapshot(ctx) == before


@pytest.mark.parametrize("exp", [253402300800 * 10, 10**30, 253402300799])
async def test_a_signed_token_expiring_after_year_9999_is_refused_with_401(
    api: Api, ins: Ins, exp: int
) -> None:
    status, body = await api.get(
        f"/fhir/Consent?patient.identifier={INS_SYSTEM}|{ins.value}",
        headers=api.patient(ins, exp=exp),
    )
    assert status == 401, body
    assert "token-time-out-of-range" in error_codes(body)


SECRET = "INS 1840372000000 DUPONT Camille"  # synthetic, stands for health data


async def _raising_route() -> None:
    raise RuntimeError(f"a defect holding {SECRET}")


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_an_unexpected_exception_in_a_fhir_route_is_a_logged_500_outcome(
    app: FastAPI, api: Api, ins: Ins, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A route registered by this test only; it raises as a defect of ours would.
    app.add_api_route("/fhir/_test_raise", _raising_route, methods=["GET"])
    with caplog.at_level(logging.ERROR, logger="opendmp.fhir"):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
            response = await http.get(f"/fhir/_test_raise?_format={fmt}")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(f"application/fhir+{fmt}")
    assert SECRET not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text and "_raising_route" not in response.text
    body = orjson.loads(response.content) if fmt == "json" else None
    if body is not None:
        assert body["resourceType"] == "OperationOutcome"
        assert error_codes(body) == {"internal-error"}
        assert body["issue"][0]["code"] == "exception"
    [record] = [r for r in caplog.records if r.name == "opendmp.fhir"]
    logged = record.getMessage()
    incident = logged.split("incident ")[1].split()[0]
    assert incident in response.text
    assert "RuntimeError" in logged and "/fhir/_test_raise" in logged and "_raising_route" in logged
    assert SECRET not in logged and record.exc_info is None


async def test_a_database_that_cannot_be_opened_gives_a_500_outcome_not_a_crash(
    runtime: Runtime, api: Api, ins: Ins, tmp_path: Path
) -> None:
    # A real fault: the app's database file lives in a folder that does not exist.
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/opendmp.db")
    ctx = replace(runtime.ctx, sessions=make_sessionmaker(engine))
    broken = create_app(runtime.settings, Runtime(runtime.settings, engine, ctx))
    transport = httpx.ASGITransport(app=broken, client=("10.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
        response = await http.get(
            f"/fhir/Consent?patient.identifier={INS_SYSTEM}|{ins.value}",
            headers=api.patient(ins),
        )
    await engine.dispose()
    assert response.status_code == 500, response.text
    assert error_codes(orjson.loads(response.content)) == {"internal-error"}
    assert "missing" not in response.text and "sqlite" not in response.text.lower()


@pytest.mark.parametrize("text", ["\x00", "\x1b[31m", "\ufffe"])
async def test_an_error_quoting_characters_xml_cannot_carry_is_answered_in_xml(
    api: Api, ins: Ins, text: str
) -> None:
    # Found by schemathesis: the OperationOutcome quoted an element's name, lxml refused it.
    body = orjson.dumps({"resourceType": "Bundle", "type": "transaction", f"x{text}": 1})
    transport = httpx.ASGITransport(app=api.app, client=("10.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
        response = await http.post(
            "/fhir?_format=xml",
            content=body,
            headers={**api.professional(DOCTOR), "Content-Type": "application/fhir+json"},
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(FHIR_XML)
    assert b"<OperationOutcome" in response.content and "\ufffd" in response.text


@pytest.mark.parametrize("element", ["copy", "typing", "xml_dumps"])
@pytest.mark.parametrize("resource", sorted(XML_UNKNOWN))
async def test_an_xml_element_named_like_a_global_of_the_xml_reader_is_refused_with_400(
    api: Api, ctx: ServiceContext, ins: Ins, resource: str, element: str
) -> None:
    # Found by schemathesis: fhir_core resolves element names among its module's globals.
    method, url = XML_UNKNOWN[resource]
    before = await snapshot(ctx)
    headers = {**api.patient(ins), "Content-Type": FHIR_XML}
    status, body = await api.request(
        method, url, headers=headers, content=_xml_with_unknown_element(resource, element)
    )
    _assert_invalid(status, body)
    assert await snapshot(ctx) == before
