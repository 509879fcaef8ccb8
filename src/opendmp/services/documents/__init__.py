"""Documents: deposit, search, read, update and export a record's documents.

The package re-exports the names callers use most, so that they import one place:

- ``form_deposits``: the portals' deposits (a professional's, a patient's own);
- ``deposit``: ITI-65 / ITI-105 / ITI-41 submissions, all or nothing;
- ``reads``: read a document's metadata, content, or content as a stream;
- ``search``: ITI-67 / PDSm search with keyset paging;
- ``updates``: metadata updates (mask, visibility, archive, logical delete);
- ``export``: the patient's export of their record.
"""

from opendmp.services.documents.export import export_record
from opendmp.services.documents.form_deposits import (
    MAX_DOCUMENT_BYTES,
    PATIENT_DOCUMENT_TYPES,
    PATIENT_MIME_TYPES,
    DocumentSubmission,
    content_matches,
    deposit_document,
    deposit_patient_document,
)
from opendmp.services.documents.reads import (
    DocumentStream,
    read_document,
    read_document_metadata,
    stream_document,
    stream_located_document,
)
from opendmp.services.documents.search import (
    DateRange,
    DocumentPage,
    DocumentQuery,
    PageRequest,
    search_documents,
)
from opendmp.services.documents.updates import (
    archive_document,
    delete_document,
    mask_document,
    set_visibility,
)
from opendmp.services.documents.views import DocumentView, data_key_of, document_view
from opendmp.services.records.history import HistoryEntry, read_history, report_access

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "PATIENT_DOCUMENT_TYPES",
    "PATIENT_MIME_TYPES",
    "DateRange",
    "DocumentPage",
    "DocumentQuery",
    "DocumentStream",
    "DocumentSubmission",
    "DocumentView",
    "HistoryEntry",
    "PageRequest",
    "archive_document",
    "content_matches",
    "data_key_of",
    "delete_document",
    "deposit_document",
    "deposit_patient_document",
    "document_view",
    "export_record",
    "mask_document",
    "read_document",
    "read_document_metadata",
    "read_history",
    "report_access",
    "search_documents",
    "set_visibility",
    "stream_document",
    "stream_located_document",
]
