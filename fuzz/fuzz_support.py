"""What the harnesses of ``fuzz/`` share (docs/security.md, "Coverage-guided fuzzing").

Each harness defines ``test_one_input(data: bytes) -> None``: it feeds ``data`` to one
parser and returns normally when the parser accepts the input or refuses it with one of
its documented refusals (an ``OpenDMPError`` with a 4xx status: ``InvalidInput``,
``Unauthenticated``, ``AccessDenied``…). Any other exception escapes and is a crash.
``main`` runs it under atheris (libFuzzer), with coverage instrumentation of OpenDMP's
code and of the libraries the harness names; without atheris the same function runs over
the seed corpus (tests/unit/test_fuzz_harnesses.py).
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
import types
from collections.abc import Callable
from pathlib import Path

from opendmp.domain.errors import OpenDMPError

CORPUS = Path(__file__).resolve().parent / "corpus"
# The instant every harness verifies at: tokens and certificates are minted around it.
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def is_refusal(error: BaseException) -> bool:
    """A documented refusal: one of OpenDMP's own errors that maps to a 4xx answer."""
    return isinstance(error, OpenDMPError) and error.http_status < 500


def split_once(data: bytes, separator: bytes = b"\x00") -> tuple[bytes, bytes]:
    """``data`` cut at the first ``separator`` (the second part empty when there is none)."""
    head, _, tail = data.partition(separator)
    return head, tail


def instrument(packages: set[str]) -> int:
    """Add coverage instrumentation to every loaded function of ``packages`` (top-level
    names); returns how many. ``atheris.instrument_all`` would also patch the thousands of
    generated functions of pydantic and fhir.resources, which takes many minutes and only
    slows every input down: what decides a parser's paths is in these packages."""
    import atheris

    functions = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, types.FunctionType)
        and str(getattr(obj, "__module__", None) or "").partition(".")[0] in packages
    ]
    for function in functions:
        atheris.instrument_func(function)
    return len(functions)


def main(test_one_input: Callable[[bytes], None], *libraries: str) -> None:
    """Fuzz ``test_one_input`` with libFuzzer's command line (``-runs=``, corpus folders),
    OpenDMP's code and ``libraries`` instrumented."""
    import atheris

    count = instrument({"opendmp", "fuzz_support", *libraries})
    print(f"INFO: instrumented {count} functions", file=sys.stderr)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
