"""ITI-43 Retrieve Document Set (docs/xds.md, "ITI-43"): each ``DocumentRequest`` read
through the service ITI-68 uses (``services/documents/reads.py``: policy decided and the
consultation audited, document by document), the documents answered as MTOM parts.

The caller is the VIHF (``xds/caller.py``); a document is looked up by its uniqueId in the
record of the VIHF's patient only. ``RepositoryUniqueId`` must be OpenDMP's
(``OPENDMP_XDS_REPOSITORY_UNIQUE_ID``; else ``XDSUnknownRepositoryId``). A document that is
unknown, deleted, or that the caller may not read gets one and the same error,
``XDSDocumentUniqueIdError`` (ITI TF-3 §4.2.4.1: "not available… or the requestor is not
authorized"), so the answer never tells that a document the caller may not know of exists
(docs/security.md, "Existence"). Some found and some not: ``PartialSuccess``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from lxml import etree

from opendmp.config import Settings
from opendmp.domain.errors import AccessDenied, Gone, NotFound
from opendmp.domain.identifiers import Ins, parse_ins_reference
from opendmp.domain.limits import too_many
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.lookup import locate_documents_by_identifier
from opendmp.services.documents.reads import read_document
from opendmp.xds import namespaces as ns
from opendmp.xds.api import HANDLERS, XdsCall
from opendmp.xds.caller import VihfIdentity, caller
from opendmp.xds.envelope import qname
from opendmp.xds.faults import sender
from opendmp.xds.registry_response import (
    ErrorCode,
    RegistryError,
    RetrievedDocument,
    retrieve_document_set_response,
)
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI43


def repository_unique_id(request: Request) -> str:
    """The repositoryUniqueId OpenDMP answers to (``OPENDMP_XDS_REPOSITORY_UNIQUE_ID``)."""
    settings: Settings = request.app.state.runtime.settings
    return settings.xds_repository_unique_id


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None


def _text(item: etree._Element, name: str) -> str:
    return (item.findtext(qname(ns.XDSB, name)) or "").strip()


def document_requests(body: etree._Element, limit: int) -> list[DocumentRequest]:
    """The ``DocumentRequest``s of a ``RetrieveDocumentSetRequest`` (at most ``limit``)."""
    if body.tag != qname(ns.XDSB, "RetrieveDocumentSetRequest"):
        raise sender("ITI-43 expects an xdsb:RetrieveDocumentSetRequest", "malformed-request")
    items = body.findall(qname(ns.XDSB, "DocumentRequest"))
    if not items:
        raise sender("the request holds no xdsb:DocumentRequest", "malformed-request")
    if len(items) > limit:
        raise too_many(
            "DocumentRequest",
            len(items),
            limit,
            "OPENDMP_MAX_DOCUMENTS_PER_SUBMISSION",
            code="too-many-documents",
        )
    found = []
    for item in items:
        wanted = DocumentRequest(
            _text(item, "RepositoryUniqueId"),
            _text(item, "DocumentUniqueId"),
            _text(item, "HomeCommunityId") or None,
        )
        if not wanted.repository_unique_id or not wanted.document_unique_id:
            raise sender(
                "each DocumentRequest needs a RepositoryUniqueId and a DocumentUniqueId",
                "malformed-request",
            )
        found.append(wanted)
    return found


def _unavailable(wanted: DocumentRequest) -> RegistryError:
    return RegistryError(
        ErrorCode.DOCUMENT_UNIQUE_ID_ERROR,
        "no such document for this caller",
        location=wanted.document_unique_id,
    )


async def _retrieve(
    ctx: ServiceContext, identity: VihfIdentity, ins: Ins, wanted: DocumentRequest
) -> RetrievedDocument | None:
    """The document, or None when it is not available to this caller (whatever the reason)."""
    found = await locate_documents_by_identifier(
        ctx, unique_ids=[wanted.document_unique_id], ins=ins, limit=1
    )
    if not found:
        return None
    try:
        view, content = await read_document(
            ctx, actor=identity.actor, ins=ins, document_id=found[0].document_id
        )
    except (NotFound, Gone, AccessDenied):  # audited by the service when it decided
        return None
    return RetrievedDocument(
        wanted.repository_unique_id,
        wanted.document_unique_id,
        view.mime_type,
        content,
        wanted.home_community_id,
    )


async def retrieve_document_set(call: XdsCall) -> SoapReply:
    identity = await caller(call)
    wanted_all = document_requests(call.soap.body, call.ctx.limits.max_documents)
    ins = parse_ins_reference(identity.vihf.patient_ins, call.ctx.default_ins_oid)
    ours = repository_unique_id(call.request)
    documents: list[RetrievedDocument] = []
    errors: list[RegistryError] = []
    for wanted in wanted_all:
        if wanted.repository_unique_id != ours:
            errors.append(
                RegistryError(
                    ErrorCode.UNKNOWN_REPOSITORY_ID,
                    f"this repository is {ours}",
                    location=wanted.repository_unique_id,
                )
            )
            continue
        document = await _retrieve(call.ctx, identity, ins, wanted)
        if document is None:
            errors.append(_unavailable(wanted))
        else:
            documents.append(document)
    return retrieve_document_set_response(documents, errors)


HANDLERS[ITI43.action] = retrieve_document_set
