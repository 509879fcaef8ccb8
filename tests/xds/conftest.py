"""Fixtures of the XDS.b transport tests: an HTTP client of the app (``app`` fixture of
tests/conftest.py, so every test runs on SQLite and, when configured, PostgreSQL), and
recording handlers the tests register in ``xds.api.HANDLERS`` for the duration of a test, and
a real server for the SOAP clients (zeep)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import MasterKey
from opendmp.config import load_settings
from opendmp.xds import api
from opendmp.xds.api import XdsCall
from opendmp.xds.registry_response import registry_reply
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI41
from tests.live_server import free_port, live_server
from tests.xds.soap_support import documents_of


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as client:
        yield client


class Recorder:
    """A test handler: keeps each call and the documents (bytes) its request carried."""

    def __init__(self) -> None:
        self.calls: list[XdsCall] = []
        self.documents: list[bytes] = []

    async def __call__(self, call: XdsCall) -> SoapReply:
        self.calls.append(call)
        self.documents += [call.soap.binary(holder) for holder in documents_of(call.soap.body)]
        return registry_reply()


@pytest.fixture
def iti41_recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """ITI-41 answered by a ``Recorder`` (the real handler comes with the transactions)."""
    recorder = Recorder()
    monkeypatch.setitem(api.HANDLERS, ITI41.action, recorder)
    return recorder


@pytest.fixture
def server(engine: AsyncEngine, tmp_path: Path, master_key: MasterKey) -> Iterator[str]:
    """A real server (uvicorn, real HTTP, tests/live_server.py) on the test database."""
    settings = load_settings(
        home=tmp_path,
        mode="development",
        host="127.0.0.1",
        port=free_port(),
        cookie_secure=False,
        run_worker_in_process=False,
    )
    with live_server(settings, engine, tmp_path / "blobs", master_key) as url:
        yield url
