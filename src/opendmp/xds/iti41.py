"""ITI-41 Provide and Register Document Set-b (docs/xds.md, "ITI-41"): a thin adapter over
:func:`opendmp.services.documents.deposit.provide_documents`, the one deposit pipeline of
ITI-65 — same policy, audit, notifications, all or nothing.

The caller is the VIHF (``xds/caller.py``); the submission's patient must be the VIHF's
(``XDSPatientIdDoesNotMatch``). The ``lcm:SubmitObjectsRequest`` becomes the deposit's inputs
(``xds/metadata_in.py``), the ``xdsb:Document`` elements their bytes (MTOM part or inline
base64). A refusal, by a metadata rule or by the service, is a ``RegistryResponse`` with
status Failure and its ITI TF-3 code (``domain/xds_codes.py``, the table the FHIR API uses);
nothing is stored then. Accepted submissions carry their warnings (severity Warning).
"""

from __future__ import annotations

from lxml import etree

from opendmp.domain.errors import OpenDMPError
from opendmp.domain.limits import LimitExceeded
from opendmp.domain.xds_codes import XDS_CODES
from opendmp.services.documents.deposit import (
    DepositRefused,
    DepositWarning,
    checked_by_size,
    provide_documents,
)
from opendmp.xds import namespaces as ns
from opendmp.xds.api import HANDLERS, XdsCall
from opendmp.xds.caller import caller
from opendmp.xds.envelope import qname
from opendmp.xds.faults import sender
from opendmp.xds.metadata_in import XdsMetadataError, XdsSubmission, XdsWarning, parse_submission
from opendmp.xds.registry_response import ErrorCode, RegistryError, Severity, registry_reply
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI41

_KNOWN_CODES = frozenset(code.value for code in ErrorCode)


def _is_fault(exc: OpenDMPError) -> bool:
    """Answered as a SOAP fault, not a RegistryResponse: authentication, the bounds of the
    request (as the transport answers them, docs/xds.md §4) and OpenDMP's own failures."""
    return isinstance(exc, LimitExceeded) or exc.http_status == 401 or exc.http_status >= 500


def _xds_code(code: str, http_status: int, default: ErrorCode) -> ErrorCode:
    """The ITI TF-3 code of an OpenDMP refusal or warning: itself when it is one, else its
    mapped code; a policy refusal (403) is ``LocalPolicyRestrictionError`` (as a closed
    record is); else ``default``."""
    if code in _KNOWN_CODES:
        return ErrorCode(code)
    mapped = XDS_CODES.get(code)
    if mapped is not None:
        return ErrorCode(mapped)
    if http_status == 403:
        return ErrorCode.LOCAL_POLICY_RESTRICTION_ERROR
    return default


def _documents(request: etree._Element, call: XdsCall) -> dict[str, bytes]:
    """The bytes of each ``xdsb:Document``, by its ``id`` (the ExtrinsicObject it carries)."""
    found: dict[str, bytes] = {}
    for holder in request.iterfind(qname(ns.XDSB, "Document")):
        document_id = (holder.get("id") or "").strip()
        if not document_id or document_id in found:
            raise XdsMetadataError(
                ErrorCode.REPOSITORY_METADATA_ERROR.value,
                "each xdsb:Document needs its own id (the ExtrinsicObject it carries)",
                document_id or None,
            )
        found[document_id] = call.soap.binary(holder)
    return found


def _submission(call: XdsCall) -> etree._Element:
    request = call.soap.body
    if request.tag != qname(ns.XDSB, "ProvideAndRegisterDocumentSetRequest"):
        raise sender(
            "ITI-41 expects an xdsb:ProvideAndRegisterDocumentSetRequest", "malformed-request"
        )
    objects = request.find(qname(ns.LCM, "SubmitObjectsRequest"))
    if objects is None:
        raise sender("the request holds no lcm:SubmitObjectsRequest", "malformed-request")
    return objects


def _warning(code: str, message: str, location: str | None) -> RegistryError:
    """A warning; one with no ITI TF-3 code (``already-stored``…) keeps OpenDMP's code in
    its text, under ``XDSRegistryError``."""
    xds = _xds_code(code, 200, ErrorCode.REGISTRY_ERROR)
    text = message if xds.value == code or code in XDS_CODES else f"{code}: {message}"
    return RegistryError(xds, text, Severity.WARNING, location)


def _warnings(
    parsed: XdsSubmission, metadata: list[XdsWarning], service: list[DepositWarning]
) -> list[RegistryError]:
    found = [_warning(w.code, w.message, w.location) for w in metadata]
    for warning in service:
        index = warning.entry_index
        where = parsed.document_ids[index] if index is not None else parsed.submission_set_id
        found.append(_warning(warning.code, warning.message, where))
    return found


def _refusal(exc: OpenDMPError, parsed: XdsSubmission | None) -> RegistryError:
    location = getattr(exc, "location", None)
    index = exc.entry_index if isinstance(exc, DepositRefused) else None
    if parsed is not None and index is not None and 0 <= index < len(parsed.document_ids):
        location = parsed.document_ids[index]
    xds = _xds_code(exc.code, exc.http_status, ErrorCode.REPOSITORY_ERROR)
    return RegistryError(xds, exc.message, location=location)


async def provide_and_register(call: XdsCall) -> SoapReply:
    identity = await caller(call)
    objects = _submission(call)
    parsed: XdsSubmission | None = None
    try:
        documents = _documents(call.soap.body, call)
        size = sum(len(content) for content in documents.values())
        parsed = await checked_by_size(size, parse_submission, objects, documents)
        if str(parsed.ins) != identity.vihf.patient_ins:
            return registry_reply(
                [
                    RegistryError(
                        ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                        "the submission's patient is not the VIHF's",
                        location=parsed.submission_set_id,
                    )
                ]
            )
        result = await provide_documents(
            call.ctx,
            actor=identity.actor,
            ins=parsed.ins,
            submission=parsed.submission,
            documents=parsed.documents,
        )
    except OpenDMPError as exc:
        if _is_fault(exc):
            raise
        return registry_reply([_refusal(exc, parsed)])
    return registry_reply(_warnings(parsed, parsed.warnings, result.warnings))


HANDLERS[ITI41.action] = provide_and_register
