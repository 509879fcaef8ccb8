"""Issue 12 item 7, on both databases: what a kill -9 during a deposit leaves in the blob
store (a blob whose document row never committed, the ``.tmp-*`` file of a write cut short)
is reaped once older than ``OPENDMP_BLOB_GRACE_SECONDS``, at start-up and on schedule;
never a referenced blob, never a temp file younger than the grace (a write in flight).

The leftovers are real: a child process writes through the real store and is SIGKILLed in
the middle of its write (``blob_writer_child.py``). The service clock is real time; the
leftovers are then aged past the grace by their modification time (what the reaper reads),
so that a fresh temp file keeps a wide margin on a loaded machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, create_app, maintenance_loop
from opendmp.config import load_settings
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from tests.factories import (
    OPERATOR,
    make_ins,
    make_professional,
    new_record,
    patient_actor,
    submission,
)

ROOT = Path(__file__).resolve().parents[3]
GRACE_SECONDS = 30
KEPT = b"%PDF-1.4 the deposited document"


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def kill_mid_write(blob_root: Path, record_id: str) -> tuple[Path, Path]:
    """Run the child, SIGKILL it while it writes its large blob; return (orphan, temp)."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.services.operations.blob_writer_child",
            str(blob_root),
            record_id,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("stored "), line
        orphan = blob_root / line.split()[1]
        deadline = time.monotonic() + 30
        while not _temp_files(orphan.parent):
            assert child.poll() is None and time.monotonic() < deadline, "no write to cut"
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        rest = child.communicate(timeout=30)[0]
    assert child.returncode == -signal.SIGKILL
    assert "finished" not in rest, "the child finished its write before the kill"
    (temp,) = _temp_files(orphan.parent)
    return orphan, temp


async def _until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the leftovers were not reaped"
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Scene:
    ins: Ins
    document_id: uuid.UUID
    record_dir: Path
    orphan: Path
    temp: Path
    fresh: Path

    def reaped(self) -> bool:
        return not self.orphan.exists() and not self.temp.exists()


def _runtime(ctx: ServiceContext, engine: AsyncEngine, home: Path) -> Runtime:
    settings = load_settings(
        home=home, mode="development", blob_grace_seconds=GRACE_SECONDS, cookie_secure=False
    )
    return Runtime(settings, engine, ctx)


async def _leftovers_after_the_grace(ctx: ServiceContext, blob_root: Path) -> Scene:
    """A deposited document, then a killed deposit's orphan and temp file, aged past the
    grace; then a fresh temp file (a write in flight)."""
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    doc = await documents.deposit_document(
        ctx, actor=make_professional(), ins=ins, submission=submission(ctx.now(), KEPT)
    )
    record_dir = blob_root / str(doc.record_id)
    orphan, temp = kill_mid_write(blob_root, str(doc.record_id))
    past_the_grace = time.time() - GRACE_SECONDS - 1
    for path in (orphan, temp):
        os.utime(path, (past_the_grace, past_the_grace))
    fresh = record_dir / ".tmp-in-flight"
    fresh.write_bytes(b"a write in progress")
    return Scene(ins, doc.id, record_dir, orphan, temp, fresh)


async def _only_the_leftovers_went(ctx: ServiceContext, scene: Scene) -> None:
    assert scene.fresh.read_bytes() == b"a write in progress"
    kept = [p for p in scene.record_dir.iterdir() if not p.name.startswith(".tmp-")]
    assert len(kept) == 1  # the deposited document's blob
    _, content = await documents.read_document(
        ctx, actor=patient_actor(scene.ins), ins=scene.ins, document_id=scene.document_id
    )
    assert content == KEPT


async def test_start_up_reaps_what_a_kill_left_once_past_the_grace(
    ctx: ServiceContext, engine: AsyncEngine, blob_root: Path, tmp_path: Path
) -> None:
    ctx.clock = real_now
    scene = await _leftovers_after_the_grace(ctx, blob_root)
    rt = _runtime(ctx, engine, tmp_path)
    app = create_app(rt.settings, rt)

    async with app.router.lifespan_context(app):  # as `opendmp serve` starts
        await _until(scene.reaped)

    await _only_the_leftovers_went(ctx, scene)


async def test_the_schedule_reaps_what_a_kill_left_after_start_up(
    ctx: ServiceContext, engine: AsyncEngine, blob_root: Path, tmp_path: Path
) -> None:
    ctx.clock = real_now
    rt = _runtime(ctx, engine, tmp_path)
    loop = asyncio.create_task(maintenance_loop(rt, interval=0.3))
    try:
        await asyncio.sleep(0.3)  # the start-up pass has nothing to do
        scene = await _leftovers_after_the_grace(ctx, blob_root)
        await _until(scene.reaped)
    finally:
        loop.cancel()
    await _only_the_leftovers_went(ctx, scene)
