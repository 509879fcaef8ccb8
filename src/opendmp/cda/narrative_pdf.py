"""A level 3 CDA's narrative as a PDF to read (the patient's export, issue 15).

The same human-readable part ``render`` shows on the portal — each section's title and its
narrative block, sub-sections after — as plain lines: a paragraph, a list item ("• …"), a
table row (cells joined by " | "), a caption. Coded entries are not printed (the narrative
is what the author attests). ``make_pdf`` (fpdf2, DejaVu Sans) lays them out on as many A4
pages as needed. CPU-bound: about half a second for a page of text, so callers that
render many documents do it off the event loop.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from opendmp.cda.pdf import make_pdf
from opendmp.cda.render import _local, plain_text, structured_sections
from opendmp.cda.xml import HL7_V3

__all__ = ["narrative_lines", "narrative_pdf"]

_BLOCKS = frozenset({"paragraph", "caption"})
_CELLS = frozenset({"td", "th"})
_SKIPPED = frozenset({"script", "style"})


def _walk(element: etree._Element, lines: list[str]) -> None:
    for child in element:
        name = _local(child)
        if name is None or name in _SKIPPED:
            continue
        if name == "tr":
            lines.append(" | ".join(plain_text(cell) for cell in child if _local(cell) in _CELLS))
        elif name == "item":
            lines.append("• " + plain_text(child))
        elif name in _BLOCKS:
            lines.append(plain_text(child))
        else:
            _walk(child, lines)


def _text_lines(text: etree._Element) -> list[str]:
    lines: list[str] = []
    _walk(text, lines)
    kept = [line for line in lines if line.strip(" |•")]
    if kept:
        return kept
    whole = plain_text(text)
    return [whole] if whole else []


def _section_lines(section: etree._Element, lines: list[str]) -> None:
    title = section.find(f"{{{HL7_V3}}}title")
    if title is not None and plain_text(title):
        lines.extend(["", plain_text(title).upper()])
    text = section.find(f"{{{HL7_V3}}}text")
    if text is not None:
        lines.extend(_text_lines(text))
    for component in section.findall(f"{{{HL7_V3}}}component"):
        for child in component.findall(f"{{{HL7_V3}}}section"):
            _section_lines(child, lines)


def narrative_lines(data: bytes) -> tuple[str | None, list[str]]:
    """The document's title and its narrative as lines; ``InvalidInput`` (``invalid-cda``)
    when it has no structured body."""
    title, sections = structured_sections(data)
    lines: list[str] = []
    for section in sections:
        _section_lines(section, lines)
    return title, lines[1:] if lines[:1] == [""] else lines


def narrative_pdf(data: bytes, *, fallback_title: str, created: dt.datetime) -> bytes:
    title, lines = narrative_lines(data)
    return make_pdf(title or fallback_title, lines, created=created, paginate=True)
