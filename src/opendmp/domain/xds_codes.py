"""OpenDMP's stable error codes -> the XDS error codes of IHE ITI TF-3 Table 4.2.4.1-2.

Shared by the two interfaces that speak them: the FHIR API (MHD puts them in
``OperationOutcome.issue.details.coding``, ``fhir/outcome.py``) and XDS.b (``rs:RegistryError``
``errorCode``, ``xds/iti41.py``), so that one refusal carries one XDS code in both.
"""

from __future__ import annotations

from typing import Final

# Our stable codes -> XDS error codes (IHE ITI TF-3 Table 4.2.4.1-2).
XDS_CODES: Final[dict[str, str]] = {
    "record-not-found": "XDSUnknownPatientId",
    "unknown-patient": "XDSUnknownPatientId",
    "patient-mismatch": "XDSPatientIdDoesNotMatch",
    "hash-mismatch": "XDSNonIdenticalHash",
    "size-mismatch": "XDSNonIdenticalSize",
    "duplicate-unique-id": "XDSDuplicateUniqueIdInRegistry",
    "duplicate-unique-id-in-message": "XDSRegistryDuplicateUniqueIdInMessage",
    "replaced-document-not-current": "XDSRegistryDeprecatedDocumentError",
    "invalid-metadata": "XDSRegistryMetadataError",
    "invalid-document": "InvalidDocumentContent",
    "invalid-cda": "InvalidDocumentContent",
    "cda-mismatch": "InvalidDocumentContent",
    "unresolved-reference": "UnresolvedReferenceException",
    "fhir-document-not-supported": "FHIRDocumentNotSupported",
    "unmodifiable-metadata": "UnmodifiableMetadataError",
    "record-closed": "LocalPolicyRestrictionError",
    "missing-document": "XDSMissingDocument",
    "unknown-type-code": "XDSRegistryMetadataError",
}
