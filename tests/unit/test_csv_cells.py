"""The shared CSV writer (issue 12 item 4): whatever the values, no cell a spreadsheet
reads starts a formula, and the visible text gives back every value exactly."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import opendmp
from opendmp.services.core.csv_cells import (
    FORMULA_TRIGGERS,
    csv_bytes,
    neutralise_cell,
    visible_text,
)

# Values that start with a trigger (or a quote) are drawn often, not left to chance.
_cells = st.one_of(
    st.text(),
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from([*sorted(FORMULA_TRIGGERS), "'", " ", "\n"]),
        st.text(),
    ),
)


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@settings(max_examples=200, deadline=None)
@given(header=st.lists(_cells, min_size=1, max_size=4), body=st.lists(st.lists(_cells)))
def test_no_cell_starts_a_formula_and_every_value_is_recoverable(
    header: list[str], body: list[list[str]]
) -> None:
    rows = [header, *body]
    read = _read(csv_bytes(header, body))
    assert len(read) == len(rows)
    for written, original in zip(read, rows, strict=True):
        # An empty row is read back as [] by the csv module: nothing to run either.
        assert [visible_text(cell) for cell in written] == (original if written else [])
        assert not [cell for cell in written if cell[:1] in FORMULA_TRIGGERS]


def test_each_trigger_is_prefixed_and_plain_text_is_untouched() -> None:
    for trigger in FORMULA_TRIGGERS:
        assert neutralise_cell(trigger + "1+1") == "'" + trigger + "1+1"
    assert neutralise_cell("'=1") == "''=1"
    assert neutralise_cell("Dr Fictif") == "Dr Fictif"
    assert neutralise_cell(None) == ""
    assert csv_bytes(["a"], [["=1"]]).decode("utf-8-sig") == '"a"\r\n"\'=1"\r\n'


def test_no_module_writes_csv_but_the_shared_writer() -> None:
    """The class of mistake, not one instance: any CSV OpenDMP writes goes through
    ``services.csv_cells`` (benchmark scripts, outside ``src``, are not OpenDMP's output)."""
    source = Path(opendmp.__file__).parent
    writers = re.compile(r"\bcsv\.(writer|DictWriter)\b|\bfrom csv import\b")
    offenders = [
        path.relative_to(source).as_posix()
        for path in source.rglob("*.py")
        if writers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == ["services/core/csv_cells.py"]
