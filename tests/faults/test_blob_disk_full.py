"""The blob disk fills up during deposits, then space is freed (docs/security.md, "Faults").

The blob root is a small tmpfs (``mount -t tmpfs -o size=…``; the tests run as root on CI).
Professionals deposit through the real app until the disk is full: the caller gets a 507
``OperationOutcome`` (``blob-store-full``), not a 500; no row names a blob that failed; no
partial or temporary file is left; nothing acknowledged is lost. Once space is freed the
next deposit succeeds, without restarting anything, and the audit chains verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from opendmp.app import Runtime
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.api.provide_support import create_record_for
from tests.factories import make_ins
from tests.faults.fault_support import (
    Deposits,
    assert_clear_error,
    assert_whole,
    deposit,
    http_client,
    iti105,
    tmpfs,
)
from tests.record_scope import whole_database

DISK = 1024 * 1024
BALLAST = 256 * 1024  # written first, removed to free space
PADDING = 96 * 1024  # per document


@pytest.fixture
def blob_root() -> Iterator[Path]:
    """Overrides tests/conftest.py's: a 1 MiB file system of its own."""
    with tmpfs(f"size={DISK}") as root:
        yield root


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


async def _blob_keys(ctx: ServiceContext) -> set[str]:
    async with ctx.sessions() as session:
        return set((await session.execute(whole_database(select(m.Document.blob_key)))).scalars())


async def test_a_full_blob_disk_gives_507_stores_nothing_half_and_recovers_when_freed(
    app: FastAPI, runtime: Runtime, ctx: ServiceContext, blob_root: Path
) -> None:
    ballast = blob_root / "ballast"
    ballast.write_bytes(b"\0" * BALLAST)
    ins = make_ins()
    await create_record_for(runtime, ins)
    seen = Deposits()
    async with http_client(app) as http:
        n = 0
        while not seen.errors:
            unique_id, _ = iti105(ins, n)
            seen.record(unique_id, await deposit(http, ins, n, at=ctx.now(), padding=PADDING))
            n += 1
            assert n < 20, "the disk never filled"
        [(status, body)] = seen.errors
        assert_clear_error(status, body, {507})
        assert len(seen.acknowledged) >= 3
        failed, _ = iti105(ins, n - 1)
        # Only the acknowledged documents have rows (none for the refused one), and the
        # disk holds nothing but their whole blobs: no partial blob, no temporary file.
        assert await assert_whole(ctx, seen.acknowledged) == len(seen.acknowledged)
        assert _files(blob_root) == await _blob_keys(ctx) | {"ballast"}

        again = await deposit(http, ins, n - 1, at=ctx.now(), padding=PADDING)
        assert again.status_code == 507  # still full: refused again, the same way
        ballast.unlink()  # the operator frees space
        response = await deposit(http, ins, n - 1, at=ctx.now(), padding=PADDING)

    assert response.status_code == 201, response.text
    assert await assert_whole(ctx, seen.acknowledged | {failed}) == len(seen.acknowledged) + 1
    assert _files(blob_root) == await _blob_keys(ctx)
