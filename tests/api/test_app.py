"""The ASGI app: health, readiness, metrics, and the start-up checks of its lifespan.

``httpx.ASGITransport`` does not run the lifespan; the tests that need it enter
``app.router.lifespan_context(app)`` themselves, as the server would at start.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from opendmp.app import Runtime, build_runtime, create_app
from opendmp.blobs import MasterKey
from opendmp.config import load_settings
from opendmp.domain.errors import ConfigurationError, KeyFailure
from opendmp.services.records import lifecycle as records
from opendmp.storage.migrate import upgrade
from tests.factories import OPERATOR, make_ins, new_record


@pytest.fixture(autouse=True)
def _only_the_home_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def fresh_runtime(home: Path, **overrides: object) -> Runtime:
    settings = load_settings(home=home, mode="development", **overrides)
    return build_runtime(settings, create_key=True)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = fresh_runtime(tmp_path)
    await upgrade(rt.engine)
    yield rt
    await rt.close()


@pytest.fixture
async def started(runtime: Runtime) -> AsyncIterator[FastAPI]:
    app = create_app(runtime.settings, runtime)
    async with app.router.lifespan_context(app):
        yield app


# --- start-up refusals ----------------------------------------------------------------------


async def test_the_app_refuses_to_start_on_a_database_never_migrated(tmp_path: Path) -> None:
    rt = fresh_runtime(tmp_path)
    try:
        app = create_app(rt.settings, rt)
        with pytest.raises(ConfigurationError) as refused:
            async with app.router.lifespan_context(app):
                pytest.fail("the app started on an empty database")
        assert refused.value.code == "database-not-migrated"
        assert "opendmp db upgrade" in refused.value.message
    finally:
        await rt.close()


async def test_the_app_refuses_to_start_on_a_database_left_at_base(tmp_path: Path) -> None:
    rt = fresh_runtime(tmp_path)
    try:
        await upgrade(rt.engine, "base")
        app = create_app(rt.settings, rt)
        with pytest.raises(ConfigurationError) as refused:
            async with app.router.lifespan_context(app):
                pytest.fail("the app started on a database at base")
        assert refused.value.code == "database-not-migrated"
    finally:
        await rt.close()


async def test_the_app_refuses_to_start_on_a_database_ahead_of_the_code(
    runtime: Runtime,
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    app = create_app(runtime.settings, runtime)
    with pytest.raises(ConfigurationError) as refused:
        async with app.router.lifespan_context(app):
            pytest.fail("the app started on a database from a newer version")
    assert refused.value.code == "database-not-migrated"


async def test_the_app_refuses_to_start_with_another_master_key(
    runtime: Runtime, tmp_path: Path
) -> None:
    await records.create_record(
        runtime.ctx, actor=OPERATOR, request=new_record(make_ins(), runtime.ctx.now())
    )
    other_key = base64.b64encode(MasterKey.generate().raw).decode()
    other = fresh_runtime(tmp_path, master_key=other_key)
    try:
        app = create_app(other.settings, other)
        with pytest.raises(KeyFailure) as refused:
            async with app.router.lifespan_context(app):
                pytest.fail("the app started with the wrong master key")
        assert refused.value.code == "master-key-mismatch"
        assert other_key not in refused.value.message
    finally:
        await other.close()


# --- readiness ------------------------------------------------------------------------------


async def test_readiness_fails_when_the_blob_folder_is_not_a_folder(
    started: FastAPI, runtime: Runtime
) -> None:
    blob_dir = runtime.settings.blob_dir
    shutil.rmtree(blob_dir)
    blob_dir.write_text("not a folder")
    async with client(started) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["blobs"].startswith("error:")


async def test_readiness_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    unreachable = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'folder' / 'opendmp.db'}"
    rt = fresh_runtime(tmp_path, database_url=unreachable)
    try:
        async with client(create_app(rt.settings, rt)) as http:
            response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"].startswith("error:")
        assert response.json()["blobs"] == "ok"
    finally:
        await rt.close()


async def test_readiness_reports_the_database_and_the_blobs(started: FastAPI) -> None:
    async with client(started) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "blobs": "ok"}


# --- health and metrics ---------------------------------------------------------------------


async def test_liveness_answers_ok(started: FastAPI) -> None:
    async with client(started) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["version"]


async def test_metrics_are_prometheus_text_counting_requests(started: FastAPI) -> None:
    async with client(started) as http:
        await http.get("/healthz")
        await http.get("/healthz")
        await http.get("/no-such-page")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert re.search(r"^# TYPE opendmp_http_requests(_total)? counter$", body, re.M)
    healthz = 'method="GET",route="/healthz",status="200",status_class="2xx"'
    assert f"opendmp_http_requests_total{{{healthz}}} 2.0" in body
    assert 'route="unmatched",status="404"' in body
    assert "opendmp_http_request_seconds_bucket" in body


async def test_each_app_has_its_own_metrics(runtime: Runtime) -> None:
    first, second = create_app(runtime.settings, runtime), create_app(runtime.settings, runtime)
    async with client(first) as http:
        await http.get("/healthz")
    async with client(second) as http:
        body = (await http.get("/metrics")).text
    assert 'route="/healthz"' not in body


async def test_the_api_docs_are_served_outside_production(started: FastAPI) -> None:
    async with client(started) as http:
        assert (await http.get("/docs")).status_code == 200


async def test_the_api_docs_are_not_served_in_production(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        mode="production",
        master_key=base64.b64encode(MasterKey.generate().raw).decode(),
        behind_tls_proxy=True,
        database_url="postgresql+asyncpg://opendmp@127.0.0.1:1/unused",
    )
    rt = build_runtime(settings)  # the engine connects lazily: nothing is reached here
    try:
        async with client(create_app(settings, rt)) as http:
            assert (await http.get("/docs")).status_code == 404
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await rt.close()
