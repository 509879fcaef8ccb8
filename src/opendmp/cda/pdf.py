"""Small one-page A4 PDFs (welcome letters, document renderings) with fpdf2.

The PDF core fonts only know Latin-1 and cannot print ``œ € — ’``, so a Unicode TrueType
font (DejaVu Sans, shipped in ``opendmp/data/fonts``) is embedded, subset to the glyphs
used. Output is byte-for-byte deterministic for the same arguments: the creation date is
an argument (fixed by default) and fpdf2 derives the file ID from the content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable

from fpdf import FPDF

FONT_FAMILY = "DejaVuSans"
# Any fixed instant keeps the output reproducible; callers pass the real one when it
# matters (e.g. the time a letter was issued).
DEFAULT_CREATED = datetime(2000, 1, 1, tzinfo=UTC)


def _font(name: str) -> Traversable:
    return resources.files("opendmp.data").joinpath("fonts", name)


def make_pdf(
    title: str, lines: list[str], *, created: datetime | None = None, paginate: bool = False
) -> bytes:
    """An A4 PDF: ``title`` in bold, then ``lines`` as wrapped paragraphs.

    One page unless ``paginate``: text that does not fit is then cut (no second page is
    added), so callers keep their content short; with ``paginate`` (a document's narrative)
    pages are added as needed. ``created`` must be timezone-aware.
    """
    when = created or DEFAULT_CREATED
    if when.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(when)
    pdf.set_creator("OpenDMP")
    pdf.set_producer("OpenDMP")
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=paginate, margin=20)
    with resources.as_file(_font("DejaVuSans.ttf")) as regular:
        pdf.add_font(FONT_FAMILY, "", str(regular))
    with resources.as_file(_font("DejaVuSans-Bold.ttf")) as bold:
        pdf.add_font(FONT_FAMILY, "B", str(bold))
    pdf.add_page()
    pdf.set_margins(20, 20, 20)
    pdf.set_xy(20, 20)
    pdf.set_font(FONT_FAMILY, "B", 16)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT_FAMILY, "", 11)
    bottom = pdf.h - 20
    for line in lines:
        if not paginate and pdf.get_y() + 6 > bottom:
            break
        pdf.multi_cell(0, 6, line or " ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
