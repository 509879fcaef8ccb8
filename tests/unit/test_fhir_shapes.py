"""``check_resource`` (fhir/shapes.py) decides exactly as the full R4B models do
(``validate_resource``): the same acceptances, the same refusals with the same message, on
the public examples (IHE MHD, ANS PDSm for the DMP, IHE PIXm — /work/shared/testdata, see
tests/api/provide_support.py) and on generated mutations of them; and its fast walk, which
only ever accepts, never accepts what the models refuse while accepting the ordinary ITI-65
and ITI-105 inputs (else it would not pay)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opendmp.fhir.shapes import _accepts, check_resource
from opendmp.fhir.validation import validate_resource
from tests.api.provide_support import (
    ANS,
    IHE_BUNDLE,
    TESTDATA,
    ans_iti65,
    ans_iti105,
    cisis_bundle,
    ihe_bundle,
    load,
)
from tests.factories import make_ins

PIXM = TESTDATA / "ihe-pixm/examples"
FILES = sorted([*ANS.glob("*.json"), IHE_BUNDLE, *sorted(PIXM.glob("*.json"))[:3]])


def verdict(check: Any, data: Any) -> str:
    """``accepted``, or the refusal's type and message."""
    try:
        check(copy.deepcopy(data))
    except Exception as exc:  # the refusal itself is what is compared
        return f"{type(exc).__name__}: {exc}"
    return "accepted"


def deposits() -> dict[str, dict[str, Any]]:
    ins = make_ins(7)
    return {
        "ANS ITI-65 with a CDA": ans_iti65(ins),
        "IHE ITI-65": ihe_bundle(ins),
        "ANS ITI-105": ans_iti105(ins),
        "CI-SIS documents": cisis_bundle("DOC_NON_STRUCTURE_CDA-R2-N1.xml", "LDL-SES_2022.01.xml"),
    }


EXAMPLES = {path.name: load(path) for path in FILES} | deposits()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_examples_get_the_models_verdict(name: str) -> None:
    data = EXAMPLES[name]
    assert verdict(check_resource, data) == verdict(validate_resource, data)


@pytest.mark.parametrize("name", sorted(deposits()))
def test_the_walk_accepts_the_ordinary_deposits(name: str) -> None:
    data = EXAMPLES[name]
    assert verdict(validate_resource, data) == "accepted"
    assert _accepts(copy.deepcopy(data))


def test_the_walk_leaves_unusual_input_to_the_models() -> None:
    """Nulls, primitive extensions, empty values, unknown elements, a resource without its
    type: the walk does not decide (the models accept some of these, refuse others)."""
    bundle = EXAMPLES["IHE ITI-65"]
    mutations: list[Callable[[dict[str, Any]], None]] = [
        lambda b: b.update(type=None),
        lambda b: b["entry"][0]["resource"].update(_status={"extension": []}),
        lambda b: b["entry"][0].update(resource={"status": "current"}),
        lambda b: b["entry"][1]["resource"].update(status=""),
        lambda b: b.update(unknownElement="x"),
        lambda b: b["entry"][0].update(request={}),
    ]
    for mutate in mutations:
        data = copy.deepcopy(bundle)
        mutate(data)
        assert not _accepts(copy.deepcopy(data))
        assert verdict(check_resource, data) == verdict(validate_resource, data)


# --- generated mutations ------------------------------------------------------------------

REPLACEMENTS: list[Any] = [
    None,
    "",
    " ",
    "x y",
    "current",
    "urn:uuid:5c5c1b1e-0000-4000-8000-000000000002",
    "2024-02-30",
    "2024-01-15T10:00:00+01:00",
    "2024-01-15T10:00:00",
    "not base64!",
    "aGVsbG8=",
    0,
    -1,
    3.5,
    True,
    [],
    [None],
    {},
    {"value": "x"},
    {"resourceType": "Binary", "contentType": "text/plain"},
    {"resourceType": "Nothing"},
]


def paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*here, index))
    return found


def mutated(data: Any, path: tuple[Any, ...], operation: str, value: Any) -> Any:
    data = copy.deepcopy(data)
    if not path:
        return value if operation == "replace" else data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "replace":
        parent[last] = copy.deepcopy(value)
    elif operation == "wrap":
        parent[last] = [parent[last]]
    elif operation == "add" and isinstance(parent[last], dict):
        parent[last][value if isinstance(value, str) and value else "extra"] = "x"
    elif operation == "extension" and isinstance(parent, dict) and isinstance(last, str):
        parent[f"_{last}"] = {"extension": [{"url": "http://example.org", "valueString": "x"}]}
    elif operation == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    return data


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,  # the same mutations on every run
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutations_get_the_models_verdict(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(EXAMPLES)), label="example")
    original = EXAMPLES[name]
    path = data.draw(st.sampled_from(paths(original)), label="path")
    operation = data.draw(
        st.sampled_from(["delete", "replace", "wrap", "add", "extension", "duplicate"])
    )
    value = data.draw(st.sampled_from(REPLACEMENTS), label="value")
    candidate = mutated(original, path, operation, value)
    expected = verdict(validate_resource, candidate)
    if _accepts(copy.deepcopy(candidate)):
        assert expected == "accepted", (name, path, operation, value)
    assert verdict(check_resource, candidate) == expected


def test_the_examples_exist() -> None:
    """The public data is there (a missing folder would make the tests above vacuous)."""
    assert len(FILES) >= 8
    assert all(Path(p).exists() for p in FILES)
