"""CDA level 3 (``structuredBody``) to safe HTML, for people to read.

Only the human-readable part is rendered: each section's ``title`` and its narrative block
(``text``, CDA R2 StrucDoc.Text), nested sections becoming sub-headings. The coded entries
are not shown: the narrative is, by the CDA rules, what the author attests.

Safety is by construction, not by cleaning: the output is built from scratch, element by
element, from a whitelist (paragraphs, lists, tables, line breaks, sub/superscripts,
emphasis). Every text is HTML-escaped. No attribute is copied except ``colspan`` and
``rowspan`` when they are small integers. Links (``linkHtml``) become plain text followed
by their address as text, never an active link, so ``javascript:`` and friends have nowhere
to go; embedded media (``renderMultiMedia``) become a placeholder. Any other element — a
``<script>`` smuggled into a section, an XHTML ``<iframe>``, an unknown extension — gives
only its text, escaped; the text of ``script`` and ``style`` is dropped altogether. The
input goes through ``cda.xml.parse_xml`` (no DTD, no entities, no network).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from opendmp.cda.xml import HL7_V3, parse_xml
from opendmp.domain.errors import InvalidInput

MAX_DEPTH = 48  # deeper narrative is flattened to text (libxml2 itself stops at 256)
MAX_SECTION_DEPTH = 4  # h2…h5, then sub-sections stay at h6
_SPAN = re.compile(r"^[1-9][0-9]{0,2}$")

# CDA element -> HTML element, for the narrative elements kept as structure.
_SAME = {
    "paragraph": "p",
    "br": "br",
    "sub": "sub",
    "sup": "sup",
    "table": "table",
    "caption": "caption",
    "thead": "thead",
    "tbody": "tbody",
    "tfoot": "tfoot",
    "tr": "tr",
    "th": "th",
    "td": "td",
    "item": "li",
}
_DROPPED_WITH_TEXT = frozenset({"script", "style", "col", "colgroup", "footnoteRef"})
_CELLS = frozenset({"th", "td"})


@dataclass(frozen=True, slots=True)
class RenderedDocument:
    title: str | None
    html: str  # safe HTML: built from the whitelist, every text escaped


def _local(element: etree._Element) -> str | None:
    tag = element.tag
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return etree.QName(tag).localname


def _esc(text: str | None) -> str:
    return html.escape(text, quote=True) if text else ""


def _text_only(element: etree._Element) -> str:
    """Every text below ``element``, escaped, except that of script/style elements."""
    parts = [_esc(element.text) if _local(element) is not None else ""]
    for child in element:
        if _local(child) not in {None, "script", "style"}:
            parts.append(_text_only(child))
        parts.append(_esc(child.tail))
    return "".join(parts)


def _styled(element: etree._Element, inner: str) -> str:
    style = (element.get("styleCode") or "").split()
    if "Bold" in style:
        inner = f"<strong>{inner}</strong>"
    if "Italics" in style or "Emphasis" in style:
        inner = f"<em>{inner}</em>"
    return inner


def _span_attributes(element: etree._Element) -> str:
    out = []
    for name in ("colspan", "rowspan"):
        value = (element.get(name) or "").strip()
        if _SPAN.match(value):
            out.append(f' {name}="{value}"')
    return "".join(out)


def _children(element: etree._Element, depth: int) -> str:
    parts = [_esc(element.text)]
    for child in element:
        parts.append(_node(child, depth + 1))
        parts.append(_esc(child.tail))
    return "".join(parts)


def _list(element: etree._Element, depth: int) -> str:
    tag = "ol" if element.get("listType") == "ordered" else "ul"
    caption = ""
    items = []
    for child in element:
        child_name = _local(child)
        if child_name == "caption":
            caption = f'<p class="cda-caption">{_children(child, depth + 1)}</p>'
        elif child_name == "item":
            items.append(f"<li>{_children(child, depth + 1)}</li>")
    return f"{caption}<{tag}>{''.join(items)}</{tag}>"


def _content(element: etree._Element, depth: int) -> str:
    return _styled(element, f"<span>{_children(element, depth)}</span>")


def _link(element: etree._Element, depth: int) -> str:
    label = _children(element, depth)
    href = (element.get("href") or "").strip()
    if href.lower().startswith(("http://", "https://")):
        return f'{label} <span class="cda-link">({_esc(href)})</span>'
    return label


def _multimedia(element: etree._Element, depth: int) -> str:
    caption = "".join(
        _children(child, depth + 1) for child in element if _local(child) == "caption"
    )
    return f'<span class="cda-media">[{caption or "image"}]</span>'


def _footnote(element: etree._Element, depth: int) -> str:
    return f'<small class="cda-footnote">{_children(element, depth)}</small>'


def _caption(element: etree._Element, depth: int) -> str:
    """A caption outside a table (a list's is the list's)."""
    parent = element.getparent()
    if parent is not None and _local(parent) != "table":
        return f'<span class="cda-caption">{_children(element, depth)}</span>'
    return _whitelisted(element, "caption", depth)


def _whitelisted(element: etree._Element, name: str, depth: int) -> str:
    html_tag = _SAME.get(name)
    if html_tag is None:
        # Not in the whitelist: its text, escaped, and nothing of its markup.
        return _children(element, depth)
    attributes = _span_attributes(element) if name in _CELLS else ""
    inner = _children(element, depth)
    return _styled(element, f"<{html_tag}{attributes}>{inner}</{html_tag}>")


# The narrative elements that do not map one to one to an HTML element.
_SPECIAL: dict[str, Callable[[etree._Element, int], str]] = {
    "br": lambda _element, _depth: "<br>",
    "list": _list,
    "content": _content,
    "linkHtml": _link,
    "renderMultiMedia": _multimedia,
    "footnote": _footnote,
    "caption": _caption,
}


def _node(element: etree._Element, depth: int) -> str:
    """One narrative element as safe HTML (its tail is the caller's)."""
    name = _local(element)
    if name is None or name in _DROPPED_WITH_TEXT:
        return ""
    if depth > MAX_DEPTH or (
        element.tag.startswith("{") and not element.tag.startswith(f"{{{HL7_V3}}}")
    ):
        # Foreign namespaces (XHTML, SVG…) never bring their markup along.
        return _text_only(element)
    special = _SPECIAL.get(name)
    if special is not None:
        return special(element, depth)
    return _whitelisted(element, name, depth)


def _section(section: etree._Element, level: int) -> str:
    parts = ['<section class="cda-section">']
    heading = min(level + 1, 6)
    title = section.find(f"{{{HL7_V3}}}title")
    if title is not None:
        parts.append(f"<h{heading}>{_text_only(title)}</h{heading}>")
    text = section.find(f"{{{HL7_V3}}}text")
    if text is not None:
        parts.append(f'<div class="cda-text">{_children(text, 0)}</div>')
    for component in section.findall(f"{{{HL7_V3}}}component"):
        for child in component.findall(f"{{{HL7_V3}}}section"):
            parts.append(_section(child, min(level + 1, MAX_SECTION_DEPTH + 1)))
    parts.append("</section>")
    return "".join(parts)


def render_structured_body(data: bytes) -> RenderedDocument:
    """The sections of a level 3 CDA as safe HTML (top sections are ``h2``).

    Raises ``InvalidInput`` (``invalid-cda``) when the document has no structured body, and
    the parser's errors for malformed XML or a DOCTYPE.
    """
    title, sections = structured_sections(data)
    return RenderedDocument(title=title, html="".join(_section(section, 1) for section in sections))


def plain_text(element: etree._Element) -> str:
    """The text below ``element`` (not that of script/style), whitespace collapsed."""
    return " ".join(html.unescape(_text_only(element)).split())


def structured_sections(data: bytes) -> tuple[str | None, list[etree._Element]]:
    """The document's title and its top-level sections (``render_structured_body`` says
    what is refused)."""
    root = parse_xml(data)
    if root.tag != f"{{{HL7_V3}}}ClinicalDocument":
        raise InvalidInput("invalid CDA: not a ClinicalDocument", code="invalid-cda")
    body = root.find(f"{{{HL7_V3}}}component/{{{HL7_V3}}}structuredBody")
    if body is None:
        raise InvalidInput("invalid CDA: no structuredBody", code="invalid-cda")
    title_node = root.find(f"{{{HL7_V3}}}title")
    title = plain_text(title_node) if title_node is not None else None
    sections = [
        section
        for component in body.findall(f"{{{HL7_V3}}}component")
        for section in component.findall(f"{{{HL7_V3}}}section")
    ]
    return title or None, sections
