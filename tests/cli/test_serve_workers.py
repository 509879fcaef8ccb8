"""``opendmp serve`` starts one worker process per core it may run on unless told
(docs/benchmarks.md, workers); ``--workers N`` still wins, and 0 is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendmp.cli import app, server
from opendmp.config import Settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """The worker counts ``serve`` would start uvicorn with (uvicorn itself not started)."""
    counts: list[int] = []

    def record(_settings: Settings, workers: int) -> None:
        counts.append(workers)

    monkeypatch.setattr(server, "_serve", record)
    monkeypatch.setenv("OPENDMP_HOME", str(tmp_path))
    return counts


def test_the_default_is_one_worker_per_core(started: list[int]) -> None:
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert started == [len(os.sched_getaffinity(0))]
    assert server.default_workers() == len(os.sched_getaffinity(0)) >= 1


def test_an_explicit_count_wins(started: list[int]) -> None:
    assert CliRunner().invoke(app, ["serve", "--workers", "3"]).exit_code == 0
    assert started == [3]


def test_zero_workers_is_refused(started: list[int]) -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code != 0
    assert started == []
