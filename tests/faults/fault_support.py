"""What every fault test checks once the fault is gone (docs/security.md, "Faults"):
the caller got a clear error, nothing acknowledged is lost, no half-written document, and the
audit chains verify. Deposits go through the real app (ITI-105 over ASGI).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.views import data_key_of
from opendmp.services.operations.maintenance import verify_audit
from opendmp.storage import models as m
from tests.api.provide_support import FHIR_JSON, ans_iti105, b64, cda, now
from tests.auth_support import PSC
from tests.record_scope import whole_database

REQUEST_TIMEOUT = 20.0  # seconds: a request still unanswered by then is a hang


def iti105(ins: Ins, n: int, *, padding: int = 0) -> tuple[str, bytes]:
    """(uniqueId, body) of the n-th ITI-105 publication for ``ins``; ``padding`` bytes of
    XML comment make the document larger."""
    unique_id = f"1.2.250.1.213.1.4.8.99999.{1000 + n}"
    doc = ans_iti105(ins)
    doc["masterIdentifier"]["value"] = f"urn:oid:{unique_id}"
    document = cda(unique_id=unique_id, ins=ins, author_idnat="899700218896")
    document += b"<!--" + b"x" * padding + b"-->\n" if padding else b""
    doc["content"][0]["attachment"]["data"] = b64(document)
    return unique_id, orjson.dumps(doc)


@dataclass
class Deposits:
    """What the callers were told: acknowledged uniqueIds, and every error answer."""

    acknowledged: set[str] = field(default_factory=set)
    errors: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def record(self, unique_id: str, response: httpx.Response) -> None:
        if response.status_code == 201:
            self.acknowledged.add(unique_id)
            return
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:  # a bare server error page
            body = {"raw": response.text[:200]}
        self.errors.append((response.status_code, body))


def http_client(app: FastAPI) -> httpx.AsyncClient:
    """A client that sees what a real server would answer: an unhandled exception becomes the
    server's 500, not an exception in the test."""
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://dmp.test")


async def deposit(
    http: httpx.AsyncClient,
    ins: Ins,
    n: int,
    *,
    at: dt.datetime | None = None,
    padding: int = 0,
) -> httpx.Response:
    """Publish the n-th document (ITI-105) with a token issued ``at`` (the app's clock)."""
    _, body = iti105(ins, n, padding=padding)
    token = PSC.token(at or now(), aud="https://dmp.test", scope="ITI-105")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    return await asyncio.wait_for(
        http.post("/fhir/DocumentReference", content=body, headers=headers), REQUEST_TIMEOUT
    )


def assert_clear_error(status: int, body: dict[str, Any], allowed: set[int]) -> None:
    """An OperationOutcome with a stable code and a status the caller can act on."""
    assert status in allowed, (status, body)
    assert body["resourceType"] == "OperationOutcome", body
    codes = {c["code"] for i in body["issue"] for c in i["details"]["coding"]}
    assert codes, body
    assert "Traceback" not in orjson.dumps(body).decode()


async def assert_whole(ctx: ServiceContext, acknowledged: set[str]) -> int:
    """Every acknowledged document is stored; every stored document is whole (its submission
    set, its audit event, its blob readable); the audit chains verify. Returns the count."""
    async with ctx.sessions() as session:
        rows = (await session.execute(whole_database(select(m.Document)))).scalars().all()
        records = {r.id: r for r in (await session.execute(select(m.Record))).scalars()}
        sets = set((await session.execute(whole_database(select(m.SubmissionSet.id)))).scalars())
        audited = set(
            (
                await session.execute(
                    whole_database(
                        select(m.AuditEvent.target_document_id).where(
                            m.AuditEvent.action == "document:document:deposit",
                            m.AuditEvent.outcome == "success",
                        )
                    )
                )
            ).scalars()
        )
    stored = {row.unique_id.removeprefix("urn:oid:") for row in rows}
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)}"
    for row in rows:
        assert row.submission_set_id in sets
        assert row.id in audited
        content = await ctx.blobs.get_document(
            data_key=data_key_of(ctx, records[row.record_id]),
            blob_key=row.blob_key,
            document_id=str(row.id),
        )
        assert len(content) == row.size
    reports = await verify_audit(ctx)
    assert reports and all(r.ok for r in reports), [r for r in reports if not r.ok]
    return len(rows)


@contextlib.contextmanager
def tmpfs(options: str) -> Iterator[Path]:
    """A tmpfs of its own mounted with ``options`` (``size=…``, ``ro``…), for a blob root
    that fills up or refuses writes; skips the test where it cannot mount (needs root)."""
    root = Path(tempfile.mkdtemp(prefix="opendmp-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"{options},mode=0700", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        root.rmdir()
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.decode()[:120]}")
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root)], check=True)
        root.rmdir()
