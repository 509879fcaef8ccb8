"""The one way OpenDMP writes CSV: cells a spreadsheet shows as text, never runs as formulas.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is evaluated
as a formula by spreadsheet programs (CSV/formula injection): a professional's name taken
from a credential, ``=HYPERLINK("https://…", "…")``, would run when the patient opens the
export. Following OWASP's advice, such a cell is prefixed with a single quote (which the
spreadsheet shows as a "text" marker) and every cell is quoted. A cell that already starts
with a single quote gets one more, so that :func:`visible_text` recovers every original
value exactly (docs/security.md, "CSV exports").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

__all__ = ["FORMULA_TRIGGERS", "csv_bytes", "neutralise_cell", "visible_text"]

FORMULA_TRIGGERS = frozenset("=+-@\t\r")
_QUOTE = "'"


def neutralise_cell(value: object) -> str:
    """``value`` as a cell that cannot start a formula."""
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_TRIGGERS or text.startswith(_QUOTE):
        return _QUOTE + text
    return text


def visible_text(cell: str) -> str:
    """The original value of a cell written by :func:`neutralise_cell`."""
    return cell[1:] if cell.startswith(_QUOTE) else cell


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file (UTF-8 with a BOM so that spreadsheets read accents, CRLF, every cell
    quoted and neutralised)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow([neutralise_cell(name) for name in header])
    for row in rows:
        writer.writerow([neutralise_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")
