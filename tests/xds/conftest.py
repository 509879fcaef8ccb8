"""Fixtures of the XDS.b transport tests: an HTTP client of the app (``app`` fixture of
tests/conftest.py, so every test runs on SQLite and, when configured, PostgreSQL), and
recording handlers the tests register in ``xds.api.HANDLERS`` for the duration of a test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from opendmp.xds import api
from opendmp.xds.api import XdsCall
from opendmp.xds.registry_response import registry_reply
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI41
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
