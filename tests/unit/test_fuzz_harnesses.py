"""The atheris harnesses of fuzz/ stay runnable: each one's one-input function is run over
its seed corpus, without atheris (plain Python), so a renamed parser, a changed refusal or
a seed that now crashes fails the suite (docs/security.md, "Coverage-guided fuzzing")."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
TARGETS = ("cda_header", "fhir_xml", "tokens", "assertions", "certificates")


@pytest.fixture(scope="module", autouse=True)
def _fuzz_on_path() -> Iterator[None]:
    sys.path.insert(0, str(FUZZ))
    yield
    sys.path.remove(str(FUZZ))


def _harness(target: str) -> Callable[[bytes], None]:
    try:
        module = importlib.import_module(target)
    except ImportError as error:  # the harness itself cannot load: nothing to run
        pytest.skip(f"fuzz/{target}.py cannot be imported: {error}")
    one_input: Callable[[bytes], None] = module.test_one_input
    return one_input


def _seeds(target: str) -> list[Path]:
    return sorted(p for p in (FUZZ / "corpus" / target).iterdir() if p.is_file())


@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_runs_through_its_harness_without_a_crash(target: str) -> None:
    one_input = _harness(target)
    seeds = _seeds(target)
    assert len(seeds) >= 5, f"fuzz/corpus/{target} needs a handful of seeds"
    for seed in seeds:
        one_input(seed.read_bytes())


def test_a_crash_escapes_the_harness() -> None:
    """The harness lets through what is not a documented refusal (else it proves nothing)."""
    fuzz_support = importlib.import_module("fuzz_support")
    from opendmp.domain.errors import IntegrityFailure, InvalidInput, Unauthenticated

    assert fuzz_support.is_refusal(InvalidInput("x"))
    assert fuzz_support.is_refusal(Unauthenticated("x"))
    assert not fuzz_support.is_refusal(IntegrityFailure("x"))  # a 500, even if ours
    assert not fuzz_support.is_refusal(KeyError("x"))


def test_the_corpus_stays_small() -> None:
    total = sum(p.stat().st_size for p in (FUZZ / "corpus").rglob("*") if p.is_file())
    assert total < 200_000
