"""The patient's export as a ZIP (issue 6, docs/rules.md §3.3):

- ``documents/0001-<id>.<ext>``: every document the patient may read, as stored (a CDA is
  its XML; a PDF, image or text is the file), oldest deposit first;
- ``documents.fhir.json``: a FHIR R4 ``collection`` Bundle of their DocumentReferences, built
  by the API's own mapping (``fhir.mapping.document_reference``), each attachment's ``url``
  being the file's path inside the archive so that the Bundle describes the archive;
- ``history.csv``: the access history as the portal shows it (UTF-8 with a BOM so that
  spreadsheet programs read the accents), newest first.

The service (``services.record_export``) reads the data, checks the policy and audits the
export in one transaction; the formats are written here, in the interface layer. That is
why this module imports ``opendmp.fhir.mapping`` — the one reviewed exception to "web and
fhir are independent" (``[tool.importlinter]`` ``ignore_imports``): the DocumentReference
mapping is a pure function of a service view, and a second copy would drift from the API.
"""

from __future__ import annotations

import io
import zipfile

import orjson

from opendmp.fhir.mapping import bundle, document_reference, fhir_instant
from opendmp.services.core.csv_cells import csv_bytes
from opendmp.services.documents.export import RecordExport
from opendmp.web.patient.texts import action_label, profession_label

BUNDLE_NAME = "documents.fhir.json"
HISTORY_NAME = "history.csv"
HISTORY_COLUMNS = (
    "time",
    "who",
    "who_id",
    "who_kind",
    "profession",
    "organisation",
    "action",
    "action_label",
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


def history_csv(export: RecordExport, lang: str) -> bytes:
    """The history as CSV through the shared writer: a name from a credential such as
    ``=HYPERLINK(…)`` is shown as text, never run (``services.csv_cells``)."""
    return csv_bytes(
        HISTORY_COLUMNS,
        (
            (
                fhir_instant(entry.time),
                entry.actor_name or entry.actor_id,
                entry.actor_id,
                entry.actor_kind,
                profession_label(entry.actor_profession, lang) if entry.actor_profession else "",
                entry.actor_organization or "",
                entry.action,
                action_label(entry.action, lang),
                entry.access_mode,
                entry.outcome,
            )
            for entry in export.history
        ),
    )


def export_zip(export: RecordExport, *, base_url: str, lang: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in export.documents:
            archive.writestr(item.file_name, item.content)
        archive.writestr(
            BUNDLE_NAME,
            orjson.dumps(documents_bundle(export, base_url=base_url), option=orjson.OPT_INDENT_2),
        )
        archive.writestr(HISTORY_NAME, history_csv(export, lang))
    return buffer.getvalue()
