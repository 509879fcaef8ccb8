"""PostgreSQL stops in the middle of deposits, then comes back (docs/security.md, "Faults").

A throwaway cluster (tests/faults/postgres_cluster.py) is stopped with ``pg_ctl -m
immediate`` — a crash, no checkpoint — while professionals deposit through the real app.
Every caller must get an answer within seconds: 201, or a 503 ``OperationOutcome``
(``database-unavailable``), never a 500 nor a hang. When the cluster is back, the very next
deposit succeeds without restarting OpenDMP; every acknowledged document is there, whole;
no document is half-written; the audit chains verify.

Runs only where PostgreSQL's binaries are installed (Debian's ``postgresql`` package).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from opendmp.app import Runtime
from opendmp.auth.sessions import cookie_name
from opendmp.domain.identifiers import Ins
from tests.api.fhir_read_support import ins_token
from tests.api.provide_support import bearer, create_record_for, make_app, make_runtime
from tests.factories import make_ins
from tests.faults.fault_support import (
    REQUEST_TIMEOUT,
    Deposits,
    assert_clear_error,
    assert_whole,
    deposit,
    http_client,
    iti105,
)
from tests.faults.postgres_cluster import Cluster, postgres_bin, throwaway_cluster

BIN = postgres_bin()
pytestmark = pytest.mark.skipif(
    BIN is None, reason="PostgreSQL's binaries (initdb, pg_ctl) are not installed"
)
WRITERS = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    assert BIN is not None
    with throwaway_cluster(BIN) as found:
        yield found


@pytest.fixture
async def runtime(cluster: Cluster, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await make_runtime(tmp_path, database_url=cluster.url)
    yield rt
    await rt.close()


async def _writer(
    http: httpx.AsyncClient, ins: Ins, first: int, stop: asyncio.Event, seen: Deposits
) -> None:
    n = first
    while not stop.is_set():
        unique_id, _ = iti105(ins, n)
        seen.record(unique_id, await deposit(http, ins, n))
        n += WRITERS


async def test_postgresql_stopped_mid_deposit_gives_503_then_recovers_by_itself(
    cluster: Cluster, runtime: Runtime
) -> None:
    ins = make_ins()
    await create_record_for(runtime, ins)
    seen = Deposits()
    stop = asyncio.Event()
    async with http_client(make_app(runtime)) as http:
        writers = [asyncio.create_task(_writer(http, ins, i, stop, seen)) for i in range(WRITERS)]
        async with asyncio.timeout(60):
            while len(seen.acknowledged) < 20:
                assert not seen.errors, seen.errors  # refused before any fault
                await asyncio.sleep(0.01)
        await asyncio.to_thread(cluster.stop)  # deposits are in flight
        await asyncio.sleep(1.0)  # and go on arriving while it is down
        stop.set()
        await asyncio.gather(*writers)
        assert seen.errors, "no deposit met the stopped database"
        search = await asyncio.wait_for(
            http.get(
                "/fhir/DocumentReference",
                params={"patient.identifier": ins_token(ins), "status": "current"},
                headers=bearer(scope="ITI-67"),
            ),
            REQUEST_TIMEOUT,
        )
        seen.errors.append((search.status_code, search.json()))  # reads too: 503
        # A portal page that needs the database: the portal's error page, 503 too.
        http.cookies.set(cookie_name(runtime.settings), "a-session-token")
        page = await asyncio.wait_for(http.get("/patient/connexion"), REQUEST_TIMEOUT)
        assert page.status_code == 503, page.text
        assert "database-unavailable" in page.text
        for status, body in seen.errors:
            assert_clear_error(status, body, {503})
        answered = len(seen.acknowledged) + len(seen.errors)

        await asyncio.to_thread(cluster.start)
        response = await deposit(http, ins, 10_000)  # the very next one, same app

    assert response.status_code == 201, response.text
    seen.record(iti105(ins, 10_000)[0], response)
    stored = await assert_whole(runtime.ctx, seen.acknowledged)
    # A deposit whose COMMIT reached the server before it stopped may be stored though
    # its caller got a 503: a retry answers "already stored" (idempotent), never a loss.
    assert len(seen.acknowledged) <= stored <= answered + 1


async def test_readiness_fails_while_postgresql_is_down_and_recovers(
    cluster: Cluster, runtime: Runtime
) -> None:
    """``/readyz`` (what the load balancer polls) answers 503 naming the database while the
    cluster is down, 200 once it is back, without restarting OpenDMP."""
    async with http_client(make_app(runtime)) as http:
        assert (await http.get("/readyz")).json()["database"] == "ok"
        await asyncio.to_thread(cluster.stop)
        try:
            down = await asyncio.wait_for(http.get("/readyz"), REQUEST_TIMEOUT)
        finally:
            await asyncio.to_thread(cluster.start)
        up = await asyncio.wait_for(http.get("/readyz"), REQUEST_TIMEOUT)
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert down.json()["database"].startswith("error:")
    assert down.json()["blobs"] == "ok"
    assert up.status_code == 200, up.text
