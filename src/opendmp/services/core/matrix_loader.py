"""Load the access matrix (docs/rules.md §3.6) from disk: the packaged default or a given file;
and the professional view's ranking (``data/relevance.json``, next to the matrix).

The domain parses; this reads. A ``.csv`` file is the official matrix as published
(``profession,specialty,type_code,may_read``); anything else is the JSON form.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from opendmp.domain.errors import ConfigurationError
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.relevance import Relevance

DEFAULT_MATRIX = "access-matrix.json"
DEFAULT_RELEVANCE = "relevance.json"


def load_matrix(path: Path | None = None) -> AccessMatrix:
    """The matrix at ``path``, or OpenDMP's default one when ``path`` is None."""
    if path is None:
        text = resources.files("opendmp.data").joinpath(DEFAULT_MATRIX).read_text("utf-8")
        return AccessMatrix.from_json_text(text)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigurationError(
            f"the access matrix {path} cannot be read ({exc.strerror})",
            code="access-matrix-unreadable",
        ) from None
    if path.suffix.lower() == ".csv":
        return AccessMatrix.from_csv_text(text)
    return AccessMatrix.from_json_text(text)


@functools.cache
def load_relevance() -> Relevance:
    """OpenDMP's ranking of the professional view (``data/relevance.json``), read once."""
    text = resources.files("opendmp.data").joinpath(DEFAULT_RELEVANCE).read_text("utf-8")
    return Relevance.from_json_text(text)
