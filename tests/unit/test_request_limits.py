"""The OPENDMP_MAX_* bounds (docs/security.md, "Bounded work per request"): read from the
settings into the services' context, incoherent ones refused at start, and the size of a
base64 document measured exactly without decoding it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from opendmp.config import load_settings
from opendmp.domain.errors import ConfigurationError
from opendmp.domain.limits import LimitExceeded, RequestLimits, check_value_counts, decoded_size


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 1023, 1024, 1025, 4096, 20 * 1024 * 1024])
def test_decoded_size_is_exact(size: int) -> None:
    text = base64.b64encode(b"\x00" * size).decode()
    assert decoded_size(text) == size


def test_the_settings_reach_the_limits(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        max_bundle_entries=21,
        max_documents_per_submission=10,
        max_document_bytes=2048,
        max_search_values=7,
        max_patch_operations=3,
        max_request_bytes=4096,
    )
    assert settings.request_limits == RequestLimits(
        max_request_bytes=4096,
        max_bundle_entries=21,
        max_documents=10,
        max_document_bytes=2048,
        max_search_values=7,
        max_patch_operations=3,
    )


def test_the_defaults_are_coherent(tmp_path: Path) -> None:
    limits = load_settings(home=tmp_path).request_limits
    assert limits == RequestLimits()
    assert limits.problems() == []
    # The largest document, in base64, fits in the largest request.
    assert (limits.max_document_bytes + 2) // 3 * 4 < limits.max_request_bytes


def test_an_entry_bound_that_cannot_carry_the_documents_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot carry max_documents"):
        load_settings(home=tmp_path, max_bundle_entries=20, max_documents_per_submission=10)


def test_repeats_and_alternatives_count_together() -> None:
    check_value_counts([("type", "a,b"), ("type", "c"), ("status", "current")], 3)
    with pytest.raises(LimitExceeded) as caught:
        check_value_counts([("type", "a,b"), ("type:not", "c,d")], 3)
    assert (caught.value.http_status, caught.value.code) == (422, "too-many-values")
    assert "the 3 accepted" in caught.value.message
