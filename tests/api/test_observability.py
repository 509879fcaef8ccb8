"""What an operator sees of a request (opendmp/observability.py, docs/deployment.md,
"Monitoring"): one JSON log line per request with its id, route template, status, duration
and actor kind, never an INS nor a name; ``X-Request-ID`` in and out; the Prometheus metrics
per route template (the queue depths: tests/notify/test_notifications.py)."""

from __future__ import annotations

import io

import httpx
import pytest

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from tests.api.fhir_read_support import AUTHOR, auth, deposit, entry_id, ins_token, patient
from tests.log_support import log_lines_fixture, request_lines  # noqa: F401 - a fixture


async def test_one_line_per_request_with_the_route_template_and_no_identity(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, log_lines: io.StringIO
) -> None:
    view = await deposit(ctx, ins)
    search = await http.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": ins_token(ins), "status": "current"},
        headers=auth(ctx, AUTHOR),
    )
    read = await http.get(f"/fhir/DocumentReference/{entry_id(view)}", headers=auth(ctx, AUTHOR))
    mine = await http.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": ins_token(ins), "status": "current"},
        headers=auth(ctx, patient(ins)),
    )
    anonymous = await http.get(f"/fhir/Patient?identifier={ins_token(ins)}")
    assert [r.status_code for r in (search, read, mine)] == [200, 200, 200], mine.text
    assert anonymous.status_code == 401

    lines = request_lines(log_lines)
    assert [(x["method"], x["route"], x["status"], x["actor_kind"]) for x in lines] == [
        ("GET", "/fhir/DocumentReference", 200, "professional"),
        ("GET", "/fhir/DocumentReference/{document_id}", 200, "professional"),
        ("GET", "/fhir/DocumentReference", 200, "patient"),
        ("GET", "/fhir/Patient", 401, "anonymous"),
    ]
    for line, response in zip(lines, (search, read, mine, anonymous), strict=True):
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert line["level"] == "INFO"
    assert len({x["request_id"] for x in lines}) == 4
    whole = log_lines.getvalue()
    for secret in (ins.value, "FICTIF", "Alex", AUTHOR.idnat, entry_id(view)):
        assert secret not in whole


async def test_an_unmatched_path_is_logged_without_it(
    http: httpx.AsyncClient, ins: Ins, log_lines: io.StringIO
) -> None:
    response = await http.get(f"/no-such/{ins.value}")
    assert response.status_code == 404
    (line,) = request_lines(log_lines)
    assert line["route"] == "unmatched"
    assert ins.value not in log_lines.getvalue()


@pytest.mark.parametrize(
    "incoming",
    ["4f1c2a9e-93b1-4d7e-8a51-7f0c1d2e3b4a", "7F000001:B2A4_7F000001:1F90_65A0B1C2_0001:3E8"],
)
async def test_a_well_formed_request_id_from_the_proxy_is_kept(
    http: httpx.AsyncClient, log_lines: io.StringIO, incoming: str
) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    (line,) = request_lines(log_lines)
    assert line["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["short", "has space in it", "x" * 129, '"},"injected":"1', "ok-id-but-é-accent"],
)
async def test_a_malformed_request_id_is_replaced(
    http: httpx.AsyncClient, log_lines: io.StringIO, incoming: str
) -> None:
    response = await http.get("/healthz", headers={b"X-Request-ID": incoming.encode()})
    echoed = response.headers["X-Request-ID"]
    assert echoed != incoming
    assert len(echoed) == 32
    int(echoed, 16)  # a new uuid4, in hex
    (line,) = request_lines(log_lines)
    assert line["request_id"] == echoed
    assert "injected" not in log_lines.getvalue()


async def test_each_request_gets_its_own_id(http: httpx.AsyncClient) -> None:
    first, second = await http.get("/healthz"), await http.get("/healthz")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_the_metrics_count_routes_by_template_and_status_class(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    view = await deposit(ctx, ins)
    await http.get(f"/fhir/DocumentReference/{entry_id(view)}", headers=auth(ctx, AUTHOR))
    await http.get(f"/fhir/DocumentReference/{entry_id(view)}")  # 401
    body = (await http.get("/metrics")).text
    route = 'method="GET",route="/fhir/DocumentReference/{document_id}"'
    assert f'opendmp_http_requests_total{{{route},status="200",status_class="2xx"}} 1.0' in body
    assert f'opendmp_http_requests_total{{{route},status="401",status_class="4xx"}} 1.0' in body
    assert f"opendmp_http_request_seconds_count{{{route}}} 2.0" in body
    assert entry_id(view) not in body
    assert ins.value not in body
