"""``opendmp demo`` started as a user would: the installed command, in its own process and
session, on a fresh ``OPENDMP_HOME`` and a loopback port, without the caller's OpenDMP
settings (a test database URL, a mode…)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
OPENDMP = Path(sys.executable).parent / "opendmp"


def clean_env() -> dict[str, str]:
    """The caller's environment without OpenDMP settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}


@contextlib.contextmanager
def opendmp_demo(home: Path, port: int, log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``opendmp demo`` on ``home`` and ``127.0.0.1:port``, its output to ``log``, until
    the block ends; then stop it (its own session: only what it started)."""
    proc = subprocess.Popen(
        [str(OPENDMP), "demo", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=clean_env() | {"OPENDMP_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
