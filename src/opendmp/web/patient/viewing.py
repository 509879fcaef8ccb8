"""How a document's content is shown to its patient.

- PDF: in an ``<iframe>`` whose source is the content route, served with
  ``Content-Security-Policy: sandbox; default-src 'none'`` (the framed document gets an
  opaque origin: no script runs, nothing loads, no form, no top navigation). The frame is
  sandboxed by that header rather than by a ``sandbox`` attribute: Chromium does not run
  its PDF viewer in an ``iframe[sandbox]`` (measured: a blank frame with a "blocked" icon),
  while it does under the header — the same isolation, and the PDF shows;
- JPEG, PNG, GIF: an ``<img>`` from the same route;
- plain text: in the page, escaped;
- CDA level 1: the body it carries, by the rules above (``cda.header.extract_nonxml_body``);
- CDA level 3: its sections rendered to safe HTML (``cda.render``);
- anything else (TIFF, RTF…): download only. Nothing is ever served inline as HTML, XML or
  SVG: those could carry script.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from opendmp.cda.header import extract_nonxml_body
from opendmp.cda.render import render_structured_body
from opendmp.domain.errors import InvalidInput

CDA_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
PDF = "application/pdf"
TEXT = "text/plain"
INLINE_TYPES = IMAGE_TYPES | {PDF}
MAX_TEXT_SHOWN = 2 * 1024 * 1024

_SIGNATURES = {
    PDF: (b"%PDF",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


@dataclass(frozen=True, slots=True)
class Presentation:
    kind: str  # pdf | image | text | structured | download
    text: str | None = None
    html: Markup | None = None
    inner_type: str | None = None  # the type of what a CDA level 1 carries
    unreadable: bool = False  # a CDA we could not read: download only


def _media(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def body_of(mime: str, content: bytes) -> tuple[str, bytes]:
    """The content to show and its type: a level-1 CDA's body, or the content itself."""
    media = _media(mime)
    if media in CDA_TYPES:
        inner_type, inner = extract_nonxml_body(content)
        return _media(inner_type), inner
    return media, content


def _matches(media: str, content: bytes) -> bool:
    """The bytes are what the type says (a "PDF" that is HTML is never served as a PDF)."""
    signatures = _SIGNATURES.get(media)
    return signatures is None or content.startswith(signatures)


def present(mime: str, content: bytes) -> Presentation:
    media = _media(mime)
    if media in CDA_TYPES:
        try:
            inner_type, inner = body_of(media, content)
        except InvalidInput:
            try:
                rendered = render_structured_body(content)
            except InvalidInput:
                return Presentation("download", unreadable=True)
            return Presentation(
                "structured",
                html=Markup(rendered.html),  # noqa: S704 (built from a whitelist, text escaped)
            )
        return _simple(inner_type, inner, inner_type=inner_type)
    return _simple(media, content)


def _simple(media: str, content: bytes, *, inner_type: str | None = None) -> Presentation:
    if media == PDF and _matches(media, content):
        return Presentation("pdf", inner_type=inner_type)
    if media in IMAGE_TYPES and _matches(media, content):
        return Presentation("image", inner_type=inner_type)
    if media == TEXT:
        text = content[:MAX_TEXT_SHOWN].decode("utf-8", errors="replace")
        return Presentation("text", text=text, inner_type=inner_type)
    return Presentation("download", inner_type=inner_type)


def inline_body(mime: str, content: bytes) -> tuple[str, bytes] | None:
    """What the content route may serve inline (PDF or image, checked by its bytes)."""
    try:
        media, body = body_of(mime, content)
    except InvalidInput:
        return None
    if media in INLINE_TYPES and _matches(media, body):
        return media, body
    return None
