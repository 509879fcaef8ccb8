"""The answers of the XDS.b transactions: ``rs:RegistryResponse`` (ITI-41, ITI-57),
``query:AdhocQueryResponse`` (ITI-18), ``xdsb:RetrieveDocumentSetResponse`` (ITI-43, MTOM),
with their status and ``rs:RegistryErrorList`` (ebRS 3.0 §2.1; ITI TF-3 §4.2.4.1, error codes
of Table 4.2.4.1-2).

Errors inside a transaction are answered this way, with HTTP 200; only a request that is not
a well-formed XDS.b message gets a SOAP Fault (``xds/faults.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from opendmp.xds import namespaces as ns
from opendmp.xds.envelope import element, sub
from opendmp.xds.mtom import Attachment, include, new_content_id
from opendmp.xds.soap import SoapReply


class ResponseStatus(StrEnum):
    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


class Severity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


class ErrorCode(StrEnum):
    """ITI TF-3 Table 4.2.4.1-2 (as enumerated by IPF's ``ErrorCode``); the value is the code."""

    # XDS and Restricted Metadata Update
    MISSING_DOCUMENT = "XDSMissingDocument"
    MISSING_DOCUMENT_METADATA = "XDSMissingDocumentMetadata"
    REGISTRY_NOT_AVAILABLE = "XDSRegistryNotAvailable"
    REGISTRY_ERROR = "XDSRegistryError"
    REPOSITORY_ERROR = "XDSRepositoryError"
    REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
    REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRepositoryDuplicateUniqueIdInMessage"
    DUPLICATE_UNIQUE_ID_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
    NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
    NON_IDENTICAL_SIZE = "XDSNonIdenticalSize"
    REGISTRY_BUSY = "XDSRegistryBusy"
    REPOSITORY_BUSY = "XDSRepositoryBusy"
    REGISTRY_OUT_OF_RESOURCES = "XDSRegistryOutOfResources"
    REPOSITORY_OUT_OF_RESOURCES = "XDSRepositoryOutOfResources"
    REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
    REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
    TOO_MANY_RESULTS = "XDSTooManyResults"
    EXTRA_METADATA_NOT_SAVED = "XDSExtraMetadataNotSaved"
    UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
    PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
    UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
    STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
    STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
    REGISTRY_DEPRECATED_DOCUMENT_ERROR = "XDSRegistryDeprecatedDocumentError"
    UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
    DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
    RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
    UNKNOWN_COMMUNITY = "XDSUnknownCommunity"
    MISSING_HOME_COMMUNITY_ID = "XDSMissingHomeCommunityId"
    UNAVAILABLE_COMMUNITY = "XDSUnavailableCommunity"
    METADATA_UPDATE_ERROR = "XDSMetadataUpdateError"
    PATIENT_ID_RECONCILIATION_ERROR = "XDSPatientIDReconciliationError"
    METADATA_UPDATE_OPERATION_ERROR = "XDSMetadataUpdateOperationError"
    METADATA_VERSION_ERROR = "XDSMetadataVersionError"
    REMOVE_DOCUMENTS_ERROR = "XDSRemoveDocumentsError"
    REPLACE_FAILED = "XDSReplaceFailed"
    OBJECT_TYPE_ERROR = "XDSObjectTypeError"
    METADATA_IDENTIFIER_ERROR = "XDSMetadataIdentifierError"
    INVALID_REQUEST_EXCEPTION = "XDSInvalidRequestException"
    UNREFERENCED_OBJECT_EXCEPTION = "XDSUnreferencedObjectException"
    METADATA_ANNOTATION_ERROR = "XDSMetadataAnnotationError"
    # Partial success and warnings
    PARTIAL_FOLDER_CONTENT_NOT_PROCESSED = "PartialFolderContentNotProcessed"
    PARTIAL_REPLACE_CONTENT_NOT_PROCESSED = "PartialReplaceContentNotProcessed"
    PARTIAL_TRANSFORM_NOT_PROCESSED = "PartialTransformNotProcessed"
    PARTIAL_APPEND_CONTENT_NOT_PROCESSED = "PartialAppendContentNotProcessed"
    PARTIAL_RELATIONSHIP_CONTENT_NOT_PROCESSED = "PartialRelationshipContentNotProcessed"
    PARTIAL_TRANSFORM_REPLACE_NOT_PROCESSED = "PartialTransformReplaceNotProcessed"
    DOCUMENT_QUEUED = "DocumentQueued"
    # Other
    INVALID_DOCUMENT_CONTENT = "InvalidDocumentContent"
    TRANSCODING_ERROR = "TranscodingError"
    UNRESOLVED_REFERENCE_EXCEPTION = "UnresolvedReferenceException"
    REFERENCES_EXIST_EXCEPTION = "ReferencesExistException"
    UNMODIFIABLE_METADATA_ERROR = "UnmodifiableMetadataError"
    LOCAL_POLICY_RESTRICTION_ERROR = "LocalPolicyRestrictionError"
    UNKNOWN_RECIPIENT = "UnknownRecipient"
    UNAVAILABLE_RECIPIENT = "UnavailableRecipient"
    FHIR_DOCUMENT_NOT_SUPPORTED = "FHIRDocumentNotSupported"


@dataclass(frozen=True, slots=True)
class RegistryError:
    """One ``rs:RegistryError``: ``context`` is a readable English message (no health data);
    ``location`` names the element or object at fault (an id, a uniqueId) when useful."""

    code: ErrorCode
    context: str
    severity: Severity = Severity.ERROR
    location: str | None = None


def status_of(errors: Iterable[RegistryError], *, partial: bool = False) -> ResponseStatus:
    """Success without error (warnings allowed); with errors, Failure, or PartialSuccess
    when some of the work was done (``partial``, ITI-43 with some documents found)."""
    if not any(error.severity is Severity.ERROR for error in errors):
        return ResponseStatus.SUCCESS
    return ResponseStatus.PARTIAL_SUCCESS if partial else ResponseStatus.FAILURE


def _fill(
    response: etree._Element,
    status: ResponseStatus,
    errors: Sequence[RegistryError],
    request_id: str | None,
) -> etree._Element:
    response.set("status", status.value)
    if request_id:
        response.set("requestId", request_id)
    if errors:
        listed = sub(response, ns.RS, "RegistryErrorList")
        worst = Severity.ERROR if any(e.severity is Severity.ERROR for e in errors) else None
        listed.set("highestSeverity", (worst or Severity.WARNING).value)
        for error in errors:
            item = sub(
                listed,
                ns.RS,
                "RegistryError",
                error.context,
                codeContext=error.context,
                errorCode=error.code.value,
                severity=error.severity.value,
            )
            if error.location:
                item.set("location", error.location)
    return response


def registry_response(
    errors: Sequence[RegistryError] = (),
    *,
    status: ResponseStatus | None = None,
    request_id: str | None = None,
) -> etree._Element:
    """``rs:RegistryResponse``; the status is ``status_of(errors)`` unless given."""
    response = element(ns.RS, "RegistryResponse")
    return _fill(response, status or status_of(errors), errors, request_id)


def registry_reply(
    errors: Sequence[RegistryError] = (), *, status: ResponseStatus | None = None
) -> SoapReply:
    """The whole answer of ITI-41 / ITI-57: a ``SoapReply`` holding a RegistryResponse."""
    return SoapReply(registry_response(errors, status=status))


def adhoc_query_response(
    objects: Iterable[etree._Element],
    errors: Sequence[RegistryError] = (),
    *,
    status: ResponseStatus | None = None,
    total_result_count: int | None = None,
) -> SoapReply:
    """ITI-18's answer: ``query:AdhocQueryResponse`` with ``rim:RegistryObjectList`` holding
    ``objects`` (ObjectRefs or ExtrinsicObjects, RegistryPackages, Associations…; moved into
    the list, in order). The list is present even when empty, as the schema requires."""
    response = element(ns.QUERY, "AdhocQueryResponse")
    _fill(response, status or status_of(errors), errors, None)
    found = element(ns.RIM, "RegistryObjectList")
    found.extend(objects)
    response.append(found)
    if total_result_count is not None:
        response.set("totalResultCount", str(total_result_count))
    return SoapReply(response)


@dataclass(frozen=True, slots=True)
class RetrievedDocument:
    """One ``DocumentResponse`` of ITI-43; ``content`` goes as an MTOM part."""

    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    content: bytes
    home_community_id: str | None = None


def retrieve_document_set_response(
    documents: Sequence[RetrievedDocument],
    errors: Sequence[RegistryError] = (),
) -> SoapReply:
    """ITI-43's answer: ``xdsb:RetrieveDocumentSetResponse`` with a RegistryResponse (Success;
    PartialSuccess when some documents were found and some errors listed; Failure when none
    was found) and one DocumentResponse per document, its bytes an MTOM part."""
    response = element(ns.XDSB, "RetrieveDocumentSetResponse")
    status = status_of(errors, partial=bool(documents))
    response.append(registry_response(errors, status=status))
    attachments: dict[str, Attachment] = {}
    for document in documents:
        item = sub(response, ns.XDSB, "DocumentResponse")
        if document.home_community_id:
            sub(item, ns.XDSB, "HomeCommunityId", document.home_community_id)
        sub(item, ns.XDSB, "RepositoryUniqueId", document.repository_unique_id)
        sub(item, ns.XDSB, "DocumentUniqueId", document.document_unique_id)
        sub(item, ns.XDSB, "mimeType", document.mime_type)
        cid = new_content_id()
        include(sub(item, ns.XDSB, "Document"), cid)
        attachments[cid] = Attachment(document.content, document.mime_type)
    return SoapReply(response, attachments)
