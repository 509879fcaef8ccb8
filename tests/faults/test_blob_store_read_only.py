"""The blob store cannot be written (a read-only file system): ``/readyz`` says so with a
503 naming the blobs, so the load balancer takes the node out (docs/deployment.md). The blob
root is a read-only tmpfs (``mount -o ro``: refused even to root, which the tests run as)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.faults.fault_support import http_client, tmpfs


@pytest.fixture
def blob_root() -> Iterator[Path]:
    """Overrides tests/conftest.py's: a read-only file system."""
    with tmpfs("ro,size=65536") as root:
        yield root


async def test_readiness_fails_when_the_blob_store_is_read_only(app: FastAPI) -> None:
    async with http_client(app) as http:
        response = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "blobs": "error: ConfigurationError",
    }
    assert alive.status_code == 200  # the process is up: liveness is not readiness
