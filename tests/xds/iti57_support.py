"""Building ITI-57 requests in tests: a new version of a stored document's DocumentEntry
(as ITI-18 shows it, confidentialityCode changed) or an UpdateAvailabilityStatus."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from lxml import etree

from opendmp.domain.identifiers import Ins
from opendmp.services.documents import DocumentView
from opendmp.xds import ebrim
from opendmp.xds.metadata_out import (
    association,
    availability_status,
    extrinsic_object,
    registry_package,
    submit_objects_request,
)
from tests.xds.helpers import REPOSITORY, R, compact, submission_set_view

DMP_CODES = "1.2.250.1.213.1.1.4.13"


def _slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    value_list = etree.SubElement(etree.SubElement(parent, f"{R}Slot", name=name), f"{R}ValueList")
    for value in values:
        etree.SubElement(value_list, f"{R}Value").text = value


def set_codes(entry: etree._Element, codes: Iterable[str]) -> None:
    """Replace the entry's confidentialityCode classifications by ``codes``."""
    for old in list(entry.iterchildren(f"{R}Classification")):
        if compact(old.get("classificationScheme")) == ebrim.DE_CONFIDENTIALITY_CODE:
            entry.remove(old)
    for code in codes:
        node = etree.SubElement(
            entry,
            f"{R}Classification",
            id=f"urn:uuid:{uuid.uuid4()}",
            classificationScheme=ebrim.DE_CONFIDENTIALITY_CODE,
            classifiedObject=str(entry.get("id")),
            nodeRepresentation=code,
        )
        _slot(
            node, ebrim.SLOT_CODING_SCHEME, ["2.16.840.1.113883.5.25" if code == "N" else DMP_CODES]
        )


def new_version(doc: DocumentView, ins: Ins, codes: Iterable[str]) -> etree._Element:
    """The stored entry as ITI-18 shows it, with a new id and ``codes`` as confidentiality."""
    entry = extrinsic_object(doc, ins=ins, repository_unique_id=REPOSITORY)
    entry.set("id", "Document01")
    set_codes(entry, codes)
    return entry


def update_request(
    ins: Ins,
    entry: etree._Element,
    previous_version: str,
    *,
    set_ins: Ins | None = None,
) -> etree._Element:
    """SubmissionSet + ``entry`` + HasMember with PreviousVersion."""
    package = registry_package(submission_set_view(), ins=set_ins or ins)
    member = association(
        ebrim.HAS_MEMBER,
        str(package.get("id")),
        str(entry.get("id")),
        submission_set_status=ebrim.SUBMISSION_SET_ORIGINAL,
    )
    _slot(member, ebrim.SLOT_PREVIOUS_VERSION, [previous_version])
    return submit_objects_request([package, entry, member])


def status_request(
    ins: Ins, target: str, new: str, *, original: str = ebrim.APPROVED
) -> etree._Element:
    """SubmissionSet + UpdateAvailabilityStatus of ``target`` (an entryUUID or a lid)."""
    package = registry_package(submission_set_view(), ins=ins)
    change = association(ebrim.UPDATE_AVAILABILITY_STATUS, str(package.get("id")), target)
    _slot(change, ebrim.SLOT_ORIGINAL_STATUS, [original])
    _slot(change, ebrim.SLOT_NEW_STATUS, [new])
    return submit_objects_request([package, change])


def codes_of(doc: DocumentView, ins: Ins) -> set[str]:
    """The confidentiality codes and status ITI-18 would show for ``doc``."""
    entry = extrinsic_object(doc, ins=ins, repository_unique_id=REPOSITORY)
    found = {
        str(c.get("nodeRepresentation"))
        for c in entry.iterchildren(f"{R}Classification")
        if compact(c.get("classificationScheme")) == ebrim.DE_CONFIDENTIALITY_CODE
    }
    return found | {availability_status(doc)}
