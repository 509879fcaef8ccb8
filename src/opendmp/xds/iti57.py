"""ITI-57 Update Document Set (XDS Metadata Update, IHE ITI TF-2b §3.57): the DMP's metadata
updates TD3.3a–d (CI-SIS "Volet Partage de documents de santé"), carried out by the SAME
services as the FHIR PATCH (``fhir/update.py``), so that the stored state, the audit and the
notifications are identical whichever interface asked (docs/xds.md, "ITI-57 Update Document
Set").

One request = one change of one document, so that a refused request changes nothing:

- a new version of a DocumentEntry (same ``lid``, HasMember from the SubmissionSet with the
  ``PreviousVersion`` slot) whose confidentialityCode differs from the stored one:
  ``MASQUE_PS`` → ``mask_document`` (TD3.3a); ``INVISIBLE_PATIENT`` /
  ``INVISIBLE_REPRESENTANTS_LEGAUX`` → ``set_visibility`` (TD3.3b). Every other attribute
  must be the stored one (``XDSMetadataUpdateError``: the DMP updates nothing else);
- an ``UpdateAvailabilityStatus`` association (``OriginalStatus`` = the current status):
  ``urn:asip:ci-sis:2010:StatusType:Archived`` ↔ ``Approved`` → ``archive_document``
  (TD3.3d); ``…:Deleted`` → ``delete_document`` (TD3.3c). ``Deprecated`` is refused: a
  version is deprecated by its replacement (ITI-41 RPLC), as FHIR refuses ``superseded``.

Checks, all before any change: the SubmissionSet's patientId is the VIHF's patient and every
DocumentEntry's (``XDSPatientIdDoesNotMatch``); the document is in that record and the caller
may see it (else ``XDSMetadataUpdateError``, the answer of an unknown document);
``PreviousVersion`` is the current version (``XDSMetadataVersionError``). Then the service
decides (policy, audit); its refusal is ``LocalPolicyRestrictionError`` with its reason.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from opendmp.domain.actors import Actor
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import (
    DocumentView,
    archive_document,
    delete_document,
    mask_document,
    read_document_metadata,
    set_visibility,
)
from opendmp.services.documents.lookup import locate_documents_by_identifier
from opendmp.xds import ebrim
from opendmp.xds.api import HANDLERS, XdsCall
from opendmp.xds.caller import caller
from opendmp.xds.metadata_in import (
    PATIENT_MISMATCH,
    UNKNOWN_PATIENT,
    XdsMetadataError,
    check_ids,
    classifications,
    compact,
    entry_state,
    external_id,
    localized,
    patient_ins,
    registry_objects,
    single,
    slots,
    submission_input,
)
from opendmp.xds.metadata_out import availability_status, extrinsic_object
from opendmp.xds.namespaces import RIM
from opendmp.xds.registry_response import ErrorCode, RegistryError, registry_reply
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI57

UPDATE_ERROR = "XDSMetadataUpdateError"
VERSION_ERROR = "XDSMetadataVersionError"
POLICY_ERROR = "LocalPolicyRestrictionError"
_R = f"{{{RIM}}}"
# The confidentiality codes of the DMP (DocumentView columns) and the "normal" code.
_DMP_CODES = {
    "MASQUE_PS": "masked",
    "INVISIBLE_PATIENT": "invisible_to_patient",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "invisible_to_representatives",
}
_KNOWN_CODES = frozenset({*_DMP_CODES, "N"})
# Registry-held values an update does not state: the repository (configuration).
_IGNORED_SLOTS = frozenset({ebrim.SLOT_REPOSITORY_UNIQUE_ID})


def _refuse(message: str, location: str | None, code: str = UPDATE_ERROR) -> XdsMetadataError:
    return XdsMetadataError(code, message, location)


def _listed(names: list[str], limit: int = 5) -> str:
    """At most ``limit`` names of the caller's, each bounded, for an error message."""
    shown = ", ".join(name[:80] for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True, slots=True)
class EntryUpdate:
    """A new version of a DocumentEntry: its element, ``lid`` and ``PreviousVersion``."""

    element: etree._Element
    logical_id: uuid.UUID
    previous_version: str


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """An ``UpdateAvailabilityStatus`` association."""

    location: str
    target: str
    original: str
    new: str


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """A parsed ITI-57 request: the patient and its one change."""

    ins: Ins
    change: EntryUpdate | StatusUpdate


# --- parsing ------------------------------------------------------------------------------------


def _logical_id(element: etree._Element, where: str) -> uuid.UUID:
    lid = compact(element.get("lid"))
    if not lid:
        raise _refuse(f"{where}: a metadata update names its document by lid", where)
    try:
        return uuid.UUID(lid.removeprefix("urn:uuid:"))
    except ValueError:
        raise _refuse(f"{where}: lid {lid[:80]!r} is not a known document", where) from None


def _member(association: etree._Element, entries: Mapping[str, etree._Element]) -> EntryUpdate:
    where = str(association.get("id"))
    target = association.get("targetObject") or ""
    if target not in entries:
        raise _refuse(f"{where}: HasMember must target a DocumentEntry of the request", where)
    values = slots(association)
    status = single(values, ebrim.SLOT_SUBMISSION_SET_STATUS, where)
    if status not in (None, ebrim.SUBMISSION_SET_ORIGINAL):
        raise _refuse(f"{where}: SubmissionSetStatus {status} is not supported", where)
    previous = single(values, ebrim.SLOT_PREVIOUS_VERSION, where)
    if previous is None:
        raise _refuse(f"{where}: a metadata update needs the PreviousVersion slot", where)
    element = entries[target]
    return EntryUpdate(element, _logical_id(element, target), previous)


def _status_update(association: etree._Element) -> StatusUpdate:
    where = str(association.get("id"))
    values = slots(association)
    original = single(values, ebrim.SLOT_ORIGINAL_STATUS, where)
    new = single(values, ebrim.SLOT_NEW_STATUS, where)
    target = compact(association.get("targetObject"))
    if original is None or new is None or not target:
        raise _refuse(
            f"{where}: UpdateAvailabilityStatus needs a targetObject and the OriginalStatus and"
            " NewStatus slots",
            where,
        )
    return StatusUpdate(where, target, compact(original), compact(new))


def _changes(
    associations: list[etree._Element], set_id: str, entries: Mapping[str, etree._Element]
) -> list[EntryUpdate | StatusUpdate]:
    found: list[EntryUpdate | StatusUpdate] = []
    for association in associations:
        where = str(association.get("id"))
        kind = compact(association.get("associationType"))
        if association.get("sourceObject") != set_id:
            raise _refuse(f"{where}: an association must come from the SubmissionSet", where)
        if kind == ebrim.HAS_MEMBER:
            found.append(_member(association, entries))
        elif kind == ebrim.UPDATE_AVAILABILITY_STATUS:
            found.append(_status_update(association))
        else:
            raise _refuse(f"{where}: association type {kind or '(none)'} is not supported", where)
    return found


def parse_update(request: etree._Element) -> UpdateRequest:
    """An ITI-57 ``lcm:SubmitObjectsRequest`` -> its patient and its one change;
    :class:`XdsMetadataError` for the first rule broken (nothing read from the store)."""
    found = registry_objects(request)
    check_ids(found)
    if found.folders:
        raise _refuse("Folders are not part of the DMP's metadata updates", found.folders[0])
    package = found.submission_sets[0]
    _, ins = submission_input(package)
    entries = {str(e.get("id")): e for e in found.documents}
    changes = _changes(found.associations, str(package.get("id")), entries)
    members = {c.element.get("id") for c in changes if isinstance(c, EntryUpdate)}
    for where, element in entries.items():
        if where not in members:
            raise _refuse(f"{where}: no HasMember association from the SubmissionSet", where)
        entry_ins = patient_ins(external_id(element, ebrim.DE_PATIENT_ID, where), where)
        if entry_ins != ins:
            raise _refuse(
                f"{where}: the patientId is not the SubmissionSet's", where, PATIENT_MISMATCH
            )
    if len(changes) != 1:
        raise _refuse(
            f"an ITI-57 request carries exactly one change (one DocumentEntry version or one"
            f" status), found {len(changes)}",
            None,
        )
    return UpdateRequest(ins, changes[0])


# --- comparing a new version with the stored one ------------------------------------------------


def _projection(element: etree._Element) -> dict[str, Any]:
    """What a DocumentEntry states, but its ids, status, version and confidentialityCode."""
    seen: dict[str, Any] = {
        "objectType": compact(element.get("objectType")) or ebrim.STABLE_DOCUMENT,
        "mimeType": (element.get("mimeType") or "").strip(),
        "title": localized(element, "Name"),
        "comments": localized(element, "Description"),
    }
    for name, values in slots(element).items():
        if name not in _IGNORED_SLOTS:
            seen[name] = tuple(values)
    schemes = {
        compact(c.get("classificationScheme")) for c in element.iterchildren(f"{_R}Classification")
    }
    for scheme in schemes - {ebrim.DE_CONFIDENTIALITY_CODE}:
        seen[f"classification {scheme}"] = sorted(
            (
                (c.get("nodeRepresentation") or "").strip(),
                sorted((k, tuple(v)) for k, v in slots(c).items()),
                localized(c, "Name"),
            )
            for c in classifications(element, scheme)
        )
    for identifier in element.iterchildren(f"{_R}ExternalIdentifier"):
        scheme = compact(identifier.get("identificationScheme"))
        seen[f"externalIdentifier {scheme}"] = (identifier.get("value") or "").strip()
    return seen


def _check_unchanged(submitted: etree._Element, view: DocumentView, ins: Ins) -> None:
    where = str(submitted.get("id"))
    repository = single(slots(submitted), ebrim.SLOT_REPOSITORY_UNIQUE_ID, where) or ""
    stored = extrinsic_object(view, ins=ins, repository_unique_id=repository)
    if compact(submitted.get("status")) not in ("", availability_status(view)):
        raise _refuse(f"{where}: the status changes by UpdateAvailabilityStatus only", where)
    if where == view.entry_uuid:
        raise _refuse(f"{where}: a new version needs a new entryUUID", where)
    before, after = _projection(stored), _projection(submitted)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        raise _refuse(
            f"{where}: the DMP updates the confidentialityCode only, not {_listed(changed)}",
            where,
        )


def _wanted_labels(submitted: etree._Element) -> dict[str, bool]:
    where = str(submitted.get("id"))
    codes = {
        (c.get("nodeRepresentation") or "").strip()
        for c in classifications(submitted, ebrim.DE_CONFIDENTIALITY_CODE)
    }
    unknown = codes - _KNOWN_CODES
    if unknown:
        raise _refuse(
            f"{where}: unknown confidentialityCode {_listed(sorted(unknown))}: N, MASQUE_PS,"
            " INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX",
            where,
        )
    state = entry_state(submitted)
    return {column: getattr(state, column) for column in _DMP_CODES.values()}


# --- carrying out -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    ctx: ServiceContext
    actor: Actor
    ins: Ins
    view: DocumentView


async def _locate(ctx: ServiceContext, actor: Actor, ins: Ins, ident: str) -> DocumentView:
    """The current version of the document ``ident`` (entryUUID or lid) in ``ins``'s record,
    as the caller may read it (audited as the FHIR PATCH's read)."""
    logical = None
    with contextlib.suppress(ValueError):
        logical = uuid.UUID(ident.removeprefix("urn:uuid:"))
    found = await locate_documents_by_identifier(
        ctx, entry_uuids=[ident], ids=[logical] if logical else [], ins=ins, limit=1
    )
    if not found:
        raise _refuse(f"{ident[:80]}: no such document in this patient's record", ident[:200])
    return await read_document_metadata(ctx, actor=actor, ins=ins, document_id=found[0].document_id)


async def _apply_entry(target: _Target, update: EntryUpdate) -> DocumentView:
    view, where = target.view, str(update.element.get("id"))
    if update.previous_version.strip() != str(view.version):
        raise _refuse(
            f"{where}: PreviousVersion {update.previous_version[:20]} is not the current version"
            f" {view.version}",
            where,
            VERSION_ERROR,
        )
    _check_unchanged(update.element, view, target.ins)
    wanted = _wanted_labels(update.element)
    mask = wanted["masked"] != view.masked_by_patient
    visibility = {
        name: wanted[name]
        for name in ("invisible_to_patient", "invisible_to_representatives")
        if wanted[name] != getattr(view, name)
    }
    if mask and visibility:
        raise _refuse(
            f"{where}: masking and visibility are two updates (TD3.3a, TD3.3b): one per request",
            where,
        )
    ctx, actor, ins = target.ctx, target.actor, target.ins
    if mask:
        return await mask_document(
            ctx, actor=actor, ins=ins, document_id=view.id, masked=wanted["masked"]
        )
    if visibility:
        return await set_visibility(ctx, actor=actor, ins=ins, document_id=view.id, **visibility)
    return view  # nothing asked: not a new version (as a PATCH that changes nothing)


async def _apply_status(target: _Target, update: StatusUpdate) -> DocumentView | None:
    view, where = target.view, update.location
    current = availability_status(view)
    if update.original != current:
        raise _refuse(f"{where}: OriginalStatus is not the document's status {current}", where)
    ctx, actor, ins = target.ctx, target.actor, target.ins
    if update.new == current:
        return view
    if update.new == ebrim.DMP_DELETED:
        await delete_document(ctx, actor=actor, ins=ins, document_id=view.id)
        return None
    if update.new in (ebrim.DMP_ARCHIVED, ebrim.APPROVED) and current in (
        ebrim.DMP_ARCHIVED,
        ebrim.APPROVED,
    ):
        archived = update.new == ebrim.DMP_ARCHIVED
        return await archive_document(
            ctx, actor=actor, ins=ins, document_id=view.id, archived=archived
        )
    raise _refuse(
        f"{where}: NewStatus {update.new[:100]} cannot be set: Archived, Approved (unarchive) or"
        " Deleted; a version is deprecated by its replacement (ITI-41 RPLC)",
        where,
    )


def _registry_error(error: OpenDMPError, location: str | None) -> XdsMetadataError:
    """A service's refusal as an ITI-57 error (its OpenDMP code in the message)."""
    if error.code in ("document-not-found", "document-deleted"):
        code = UPDATE_ERROR
    elif error.code == "record-not-found":
        code = UNKNOWN_PATIENT
    elif error.http_status == 403:
        code = POLICY_ERROR
    elif error.code == "concurrent-update":
        code = VERSION_ERROR
    else:
        code = UPDATE_ERROR
    return _refuse(f"{error.code}: {error.message}", location, code)


def check_patient(ins: Ins, vihf_patient: str | None) -> None:
    """The request's patient must be the VIHF's ``resource-id`` ("OID|VALUE")."""
    if vihf_patient is None or vihf_patient.strip() != str(ins):
        raise _refuse(
            "the SubmissionSet's patientId is not the VIHF's patient", None, PATIENT_MISMATCH
        )


async def update_document_set(
    ctx: ServiceContext, *, actor: Actor, vihf_patient: str | None, request: etree._Element
) -> DocumentView | None:
    """Carry out an ITI-57 request for ``actor``: the updated document's view (None after a
    delete), or :class:`XdsMetadataError` with nothing changed."""
    parsed = parse_update(request)
    check_patient(parsed.ins, vihf_patient)
    change = parsed.change
    where = change.element.get("id") if isinstance(change, EntryUpdate) else change.location
    try:
        if isinstance(change, EntryUpdate):
            view = await _locate(ctx, actor, parsed.ins, f"urn:uuid:{change.logical_id}")
            return await _apply_entry(_Target(ctx, actor, parsed.ins, view), change)
        view = await _locate(ctx, actor, parsed.ins, change.target)
        return await _apply_status(_Target(ctx, actor, parsed.ins, view), change)
    except XdsMetadataError:
        raise
    except OpenDMPError as error:
        raise _registry_error(error, where) from None


# --- the SOAP endpoint ---------------------------------------------------------------------------

_ERROR_CODES = {code.value: code for code in ErrorCode}


async def update_document_set_handler(call: XdsCall) -> SoapReply:
    """``POST /xds/iti57``: the VIHF's professional updates one document of the VIHF's
    patient; a RegistryResponse, Failure with one RegistryError when refused."""
    identity = await caller(call)
    try:
        await update_document_set(
            call.ctx,
            actor=identity.actor,
            vihf_patient=identity.vihf.patient_ins,
            request=call.soap.body,
        )
    except XdsMetadataError as error:
        code = _ERROR_CODES.get(error.code, ErrorCode.METADATA_UPDATE_ERROR)
        return registry_reply([RegistryError(code, error.message, location=error.location)])
    return registry_reply()


HANDLERS[ITI57.action] = update_document_set_handler

__all__ = [
    "EntryUpdate",
    "StatusUpdate",
    "UpdateRequest",
    "parse_update",
    "update_document_set",
    "update_document_set_handler",
]
