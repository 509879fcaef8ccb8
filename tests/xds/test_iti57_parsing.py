"""ITI-57 request parsing (``xds.iti57.parse_update``), without a database: the IPF update
example, and the malformed requests refused before anything is read."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from lxml import etree

from opendmp.xds import ebrim
from opendmp.xds.iti57 import EntryUpdate, StatusUpdate, parse_update
from opendmp.xds.metadata_in import XdsMetadataError
from opendmp.xds.namespaces import LCM
from tests.factories import make_ins
from tests.xds.helpers import R, compact, example, find
from tests.xds.iti57_support import status_request

INS = make_ins(57)
UPDATE_EXAMPLE = "SubmitObjectsRequest_ebrs30_update.xml"
Mutation = Callable[[etree._Element], etree._Element]


def refusal(request: etree._Element) -> XdsMetadataError:
    with pytest.raises(XdsMetadataError) as caught:
        parse_update(request)
    return caught.value


def without(request: etree._Element, object_id: str) -> etree._Element:
    found = find(request, object_id)
    parent = found.getparent()
    assert parent is not None
    parent.remove(found)
    return request


def test_the_ipf_example_holds_two_changes_and_is_refused_whole() -> None:
    error = refusal(example(UPDATE_EXAMPLE, INS))
    assert error.code == "XDSMetadataUpdateError" and "exactly one change" in error.message


def test_the_ipf_example_s_new_version_alone_is_read() -> None:
    parsed = parse_update(without(example(UPDATE_EXAMPLE, INS), "Assoc2"))
    assert parsed.ins == INS
    change = parsed.change
    assert isinstance(change, EntryUpdate)
    assert change.logical_id == uuid.UUID("20744602-ba65-44e9-87ee-a52303a5183e")
    assert change.previous_version == "1"


def status_only(request: etree._Element) -> etree._Element:
    """The IPF example without its new version (DocumentEntry and HasMember)."""
    return without(without(request, "Document01"), "Assoc")


def test_the_ipf_example_s_status_change_alone_is_read() -> None:
    change = parse_update(status_only(example(UPDATE_EXAMPLE, INS))).change
    assert isinstance(change, StatusUpdate)
    assert change.target == "urn:uuid:e0985823-dc50-45a5-a6c8-a11a829893bd"
    assert (change.original, change.new) == (ebrim.APPROVED, ebrim.DEPRECATED)


def slot_removed(request: etree._Element, name: str) -> etree._Element:
    for slot in list(request.iter(f"{R}Slot")):
        if slot.get("name") == name:
            parent = slot.getparent()
            assert parent is not None
            parent.remove(slot)
    return request


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (
            lambda r: slot_removed(without(r, "Assoc2"), ebrim.SLOT_PREVIOUS_VERSION),
            "XDSMetadataUpdateError",
        ),
        (
            lambda r: slot_removed(status_only(r), ebrim.SLOT_NEW_STATUS),
            "XDSMetadataUpdateError",
        ),
        (lambda r: _no_lid(without(r, "Assoc2")), "XDSMetadataUpdateError"),
        (lambda r: _entry_patient(without(r, "Assoc2")), "XDSPatientIdDoesNotMatch"),
        (lambda r: _foreign_association(without(r, "Assoc2")), "XDSMetadataUpdateError"),
    ],
    ids=["no PreviousVersion", "no NewStatus", "no lid", "entry of another patient", "RPLC"],
)
def test_malformed_updates_are_refused(mutate: Mutation, code: str) -> None:
    error = refusal(mutate(example(UPDATE_EXAMPLE, INS)))
    assert error.code == code, error.message


def _no_lid(request: etree._Element) -> etree._Element:
    del find(request, "Document01").attrib["lid"]
    return request


def _entry_patient(request: etree._Element) -> etree._Element:
    entry = find(request, "Document01")
    for identifier in entry.iter(f"{R}ExternalIdentifier"):
        if compact(identifier.get("identificationScheme")) == ebrim.DE_PATIENT_ID:
            identifier.set("value", f"{make_ins(58).value}^^^&{make_ins(58).oid}&ISO")
    return request


def _foreign_association(request: etree._Element) -> etree._Element:
    member = find(request, "Assoc")
    member.set("associationType", ebrim.RPLC)
    return request


def test_not_a_submit_objects_request_is_refused() -> None:
    error = refusal(etree.Element(f"{{{LCM}}}RemoveObjectsRequest"))
    assert error.code == "XDSRegistryMetadataError"


def test_an_unknown_status_target_is_a_change_the_registry_looks_up() -> None:
    change = parse_update(
        status_request(INS, "urn:uuid:" + str(uuid.uuid4()), ebrim.DMP_DELETED)
    ).change
    assert isinstance(change, StatusUpdate) and change.new == ebrim.DMP_DELETED
