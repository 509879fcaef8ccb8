"""The server's log lines in a test: ``log_lines`` (a fixture: every record as
``configure_logging`` writes it, JSON) and the request lines among them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from opendmp.observability import QUIET_LIBRARIES, configure_logging


@pytest.fixture(name="log_lines")
def log_lines_fixture() -> Iterator[io.StringIO]:
    """Every log record of the test as the server writes it (``configure_logging``, JSON
    lines), at DEBUG: even then no identity."""
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    configure_logging("DEBUG", "json", out)
    try:
        yield out
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def request_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in parsed(out) if line["logger"] == "opendmp.access"]
