"""Durable file writes (POSIX): a new file or a rename survives a crash only once the
directory that holds it has been fsynced too."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
