"""The patient's export as a ZIP (issue 6, issue 15, docs/rules.md §2, docs/portals.md):

- ``index.html``: a page to open first, listing every document (title, type, date of care,
  author, deposit time in Paris time with its UTC offset) with links to the PDF to read and
  to the file as stored; no script, every text escaped;
- ``pdf/0001-<title>.pdf``: the document to read, as PDF — a CDA level 1's embedded PDF, a
  level 3's narrative rendered with fpdf2 (``cda.narrative_pdf``); a stored PDF is its own
  copy (the index links to it under ``documents/``);
- ``documents/0001-<id>.<ext>``: every document the patient may read, as stored (a CDA is
  its XML; a PDF, image or text is the file), oldest deposit first;
- ``documents.fhir.json``: a FHIR R4 ``collection`` Bundle of their DocumentReferences, built
  by the API's own mapping (``fhir.mapping.document_reference``), each attachment's ``url``
  being the file's path inside the archive so that the Bundle describes the archive;
- ``history.csv``: the access history (UTF-8 with a BOM so that spreadsheet programs read the
  accents), newest first, every event (not grouped), times in Paris time with their offset,
  "who" a name (the patient's own, never the INS).

Rendering a level 3 narrative costs about half a second of CPU: ``export_archive`` writes the
whole archive in a worker thread (``asyncio.to_thread``), so the event loop keeps serving
other requests while a record of tens of documents is exported.

The service (``services.documents.export``) reads the data, checks the policy and audits the
export in one transaction; the formats are written here, in the interface layer. That is
why this module imports ``opendmp.fhir.mapping`` — the one reviewed exception to "web and
fhir are independent" (``[tool.importlinter]`` ``ignore_imports``): the DocumentReference
mapping is a pure function of a service view, and a second copy would drift from the API.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
import unicodedata
import zipfile

import orjson

from opendmp.cda.header import extract_nonxml_body
from opendmp.cda.narrative_pdf import narrative_pdf
from opendmp.domain.errors import InvalidInput
from opendmp.fhir.mapping import bundle, document_reference
from opendmp.services.core.csv_cells import csv_bytes
from opendmp.services.documents.export import ExportedDocument, RecordExport
from opendmp.services.records.history import HistoryEntry
from opendmp.web import i18n
from opendmp.web.patient.texts import (
    action_label,
    local,
    profession_label,
    stamped,
    type_label,
)
from opendmp.web.patient.viewing import CDA_TYPES, PDF

BUNDLE_NAME = "documents.fhir.json"
HISTORY_NAME = "history.csv"
INDEX_NAME = "index.html"
HISTORY_COLUMNS = (
    "time",
    "who",
    "who_id",
    "who_kind",
    "profession",
    "organisation",
    "organisation_id",
    "action",
    "action_label",
    "document",
    "access_mode",
    "outcome",
)


def documents_bundle(export: RecordExport, *, base_url: str) -> dict[str, object]:
    entries = []
    for item in export.documents:
        resource = document_reference(
            item.view,
            base_url=base_url,
            ins_oid=export.ins_oid,
            ins_value=export.ins_value,
            replaces_entry_uuid=item.replaces_entry_uuid,
        )
        for content in resource.get("content", []):
            content["attachment"]["url"] = item.file_name
        entries.append(
            {"fullUrl": f"{base_url}/fhir/DocumentReference/{resource['id']}", "resource": resource}
        )
    return bundle("collection", entries, timestamp=export.exported_at)


def _who(entry: HistoryEntry, export: RecordExport, lang: str) -> str:
    if entry.actor_kind == "patient" and entry.actor_id == f"{export.ins_oid}|{export.ins_value}":
        return export.patient_name or i18n.t("patient.history.you", lang)
    if entry.actor_kind == "system":
        return i18n.t("patient.history.system", lang)
    return entry.actor_name or entry.actor_id


def history_csv(export: RecordExport, lang: str) -> bytes:
    """The history as CSV through the shared writer: a name from a credential such as
    ``=HYPERLINK(…)`` is shown as text, never run (``services.csv_cells``)."""
    return csv_bytes(
        HISTORY_COLUMNS,
        (
            (
                local(entry.time).isoformat(timespec="seconds"),
                _who(entry, export, lang),
                entry.actor_id,
                entry.actor_kind,
                profession_label(entry.actor_profession, lang) if entry.actor_profession else "",
                entry.organization_name or entry.actor_organization or "",
                entry.actor_organization or "",
                entry.action,
                action_label(entry.action, lang),
                entry.document_title or "",
                entry.access_mode,
                entry.outcome,
            )
            for entry in export.history
        ),
    )


def _media(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def readable_pdf(item: ExportedDocument, export: RecordExport) -> bytes | None:
    """The PDF to read of a document that is not itself a PDF: a level 1's embedded PDF, a
    level 3's narrative rendered; None when there is none (an image, a text, an unreadable
    CDA: the stored file is what there is)."""
    if _media(item.view.mime_type) not in CDA_TYPES:
        return None
    try:
        inner_type, inner = extract_nonxml_body(item.content)
    except InvalidInput:
        try:
            return narrative_pdf(
                item.content, fallback_title=item.view.title, created=export.exported_at
            )
        except InvalidInput:
            return None
    return inner if _media(inner_type) == PDF and inner.startswith(b"%PDF-") else None


def _slug(title: str) -> str:
    """A file name from a title: accents dropped (``é`` → ``e``), ASCII letters and digits."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:50] or "document"


_CSS = (
    "body{font:1rem/1.5 system-ui,sans-serif;margin:1rem;max-width:70rem}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3rem;"
    "text-align:left;vertical-align:top}caption{text-align:left;font-weight:bold}"
)


def index_html(export: RecordExport, readable: dict[int, str], lang: str) -> bytes:
    """The archive's front page; ``readable`` maps a document's position to its PDF path."""
    e, t = html.escape, i18n.t
    rows = []
    for index, item in enumerate(export.documents, start=1):
        view = item.view
        act = view.service_start or view.creation_time or view.deposited_at
        pdf = readable.get(index)
        if pdf is None and _media(view.mime_type) == PDF:
            pdf = item.file_name
        read = f'<a href="{e(pdf)}">PDF</a>' if pdf else t("patient.export.no_pdf", lang)
        rows.append(
            f"<tr><td>{e(view.title)}</td><td>{e(type_label(view.type_code, lang))}</td>"
            f"<td>{e(stamped(act, lang, time=False))}</td>"
            f"<td>{e(view.author_name or view.author_idnat or '—')}</td>"
            f"<td>{e(stamped(view.deposited_at, lang))}</td><td>{read}</td>"
            f'<td><a href="{e(item.file_name)}">{e(item.file_name.rsplit(".", 1)[-1].upper())}'
            "</a></td></tr>"
        )
    columns = "".join(
        f'<th scope="col">{e(t(f"patient.export.col.{name}", lang))}</th>'
        for name in ("title", "type", "act", "author", "deposited", "read", "stored")
    )
    at = stamped(export.exported_at, lang)
    intro = t("patient.export.intro", lang, name=export.patient_name, at=at)
    page = (
        f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">'
        f"<title>{e(t('patient.export.title', lang))}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(t('patient.export.title', lang))}</h1>"
        f"<p>{e(intro)}</p>"
        f'<p><a href="{HISTORY_NAME}">{e(t("patient.export.history", lang))}</a> · '
        f'<a href="{BUNDLE_NAME}">{e(t("patient.export.fhir", lang))}</a></p>'
        f"<table><caption>{e(t('patient.export.caption', lang, count=len(export.documents)))}"
        f"</caption><thead><tr>{columns}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>"
    )
    return page.encode("utf-8")


def export_zip(export: RecordExport, *, base_url: str, lang: str) -> bytes:
    """The archive (CPU-bound when level 3 narratives are rendered: see ``export_archive``)."""
    buffer = io.BytesIO()
    readable: dict[int, str] = {}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, item in enumerate(export.documents, start=1):
            archive.writestr(item.file_name, item.content)
            pdf = readable_pdf(item, export)
            if pdf is not None:
                readable[index] = f"pdf/{index:04d}-{_slug(item.view.title)}.pdf"
                archive.writestr(readable[index], pdf)
        archive.writestr(INDEX_NAME, index_html(export, readable, lang))
        archive.writestr(
            BUNDLE_NAME,
            orjson.dumps(documents_bundle(export, base_url=base_url), option=orjson.OPT_INDENT_2),
        )
        archive.writestr(HISTORY_NAME, history_csv(export, lang))
    return buffer.getvalue()


async def export_archive(export: RecordExport, *, base_url: str, lang: str) -> bytes:
    """``export_zip`` in a worker thread: rendering narratives (~0.45 s each) and deflating
    never block the event loop."""
    return await asyncio.to_thread(export_zip, export, base_url=base_url, lang=lang)
