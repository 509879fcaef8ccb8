"""ITI-41 metadata refused with the ITI TF-3 error code and the offending object's id; and the
associations and times that are accepted."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from opendmp.services.documents.deposit import ReplaceTarget
from opendmp.xds import ebrim
from opendmp.xds.metadata_in import XdsMetadataError, parse_submission
from opendmp.xds.metadata_out import association, patient_cx
from tests.factories import make_ins
from tests.xds.helpers import R, compact, document_view, find, submission_set_view, submit_request

CONTENT = b"<ClinicalDocument>un compte rendu</ClinicalDocument>"
INS = make_ins(11)


def _request(count: int = 1) -> tuple[etree._Element, dict[str, bytes], list[str], str]:
    docs = [document_view(CONTENT) for _ in range(count)]
    sub = submission_set_view()
    root = submit_request(INS, sub, docs)
    return root, {d.entry_uuid: CONTENT for d in docs}, [d.entry_uuid for d in docs], sub.entry_uuid


def _refused(root: etree._Element, documents: dict[str, bytes]) -> XdsMetadataError:
    with pytest.raises(XdsMetadataError) as caught:
        parse_submission(root, documents)
    return caught.value


def _slot_value(element: etree._Element, name: str, value: str) -> None:
    slot = next(s for s in element.iterchildren(f"{R}Slot") if s.get("name") == name)
    slot.find(f"{R}ValueList/{R}Value").text = value  # type: ignore[union-attr]


def _remove(element: etree._Element, tag: str, scheme: str, attribute: str) -> None:
    for child in list(element.iterchildren(f"{R}{tag}")):
        if compact(child.get(attribute)) == scheme:
            element.remove(child)


def test_the_request_as_written_is_accepted() -> None:
    root, documents, ids, set_id = _request(2)
    parsed = parse_submission(root, documents)
    assert parsed.document_ids == ids
    assert parsed.submission_set_id == set_id
    assert parsed.submission.entry_uuid == set_id
    assert parsed.warnings == []


@pytest.mark.parametrize(
    ("name", "scheme"),
    [
        ("classCode", ebrim.DE_CLASS_CODE),
        ("typeCode", ebrim.DE_TYPE_CODE),
        ("formatCode", ebrim.DE_FORMAT_CODE),
        ("confidentialityCode", ebrim.DE_CONFIDENTIALITY_CODE),
        ("healthcareFacilityTypeCode", ebrim.DE_FACILITY_TYPE_CODE),
        ("practiceSettingCode", ebrim.DE_PRACTICE_SETTING_CODE),
        ("author", ebrim.DE_AUTHOR),
    ],
)
def test_missing_mandatory_classification(name: str, scheme: str) -> None:
    root, documents, [doc_id], _ = _request()
    _remove(find(root, doc_id), "Classification", scheme, "classificationScheme")
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", doc_id)
    assert name in error.message


def test_a_code_without_its_coding_scheme() -> None:
    root, documents, [doc_id], _ = _request()
    node = next(
        c
        for c in find(root, doc_id).iterchildren(f"{R}Classification")
        if c.get("classificationScheme") == ebrim.DE_TYPE_CODE
    )
    node.remove(node.find(f"{R}Slot"))  # type: ignore[arg-type]
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", doc_id)


def test_missing_unique_id() -> None:
    root, documents, [doc_id], _ = _request()
    _remove(find(root, doc_id), "ExternalIdentifier", ebrim.DE_UNIQUE_ID, "identificationScheme")
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", doc_id)
    assert "uniqueId" in error.message


def _external(element: etree._Element, scheme: str) -> etree._Element:
    return next(
        e
        for e in element.iterchildren(f"{R}ExternalIdentifier")
        if e.get("identificationScheme") == scheme
    )


def test_document_patient_is_not_the_submission_sets() -> None:
    root, documents, [doc_id], _ = _request()
    _external(find(root, doc_id), ebrim.DE_PATIENT_ID).set("value", patient_cx(make_ins(12)))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSPatientIdDoesNotMatch", doc_id)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("12345^^^&1.2.3.4&ISO", "XDSUnknownPatientId"),  # not an INS domain
        (f"{INS.value[:-2]}00^^^&{INS.oid}&ISO", "XDSUnknownPatientId"),  # bad INS key
        (INS.value, "XDSRegistryMetadataError"),  # no assigning authority
        (f"{INS.value}^^^{INS.oid}", "XDSRegistryMetadataError"),  # not &OID&ISO
    ],
)
def test_patient_ids_that_are_not_an_ins(value: str, code: str) -> None:
    root, documents, _, set_id = _request()
    _external(find(root, set_id), ebrim.SS_PATIENT_ID).set("value", value)
    error = _refused(root, documents)
    assert (error.code, error.location) == (code, set_id)


def test_declared_size_differs() -> None:
    root, documents, [doc_id], _ = _request()
    _slot_value(find(root, doc_id), ebrim.SLOT_SIZE, str(len(CONTENT) + 1))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSNonIdenticalSize", doc_id)


def test_declared_hash_differs() -> None:
    root, documents, [doc_id], _ = _request()
    documents[doc_id] = CONTENT.replace(b"un", b"UN")  # same size, other bytes
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSNonIdenticalHash", doc_id)


def test_hash_and_size_are_optional() -> None:
    root, documents, [doc_id], _ = _request()
    element = find(root, doc_id)
    for slot in list(element.iterchildren(f"{R}Slot")):
        if slot.get("name") in (ebrim.SLOT_HASH, ebrim.SLOT_SIZE):
            element.remove(slot)
    [doc] = parse_submission(root, documents).documents
    assert doc.declared_size == len(CONTENT)


def test_a_document_without_its_bytes() -> None:
    root, _, [doc_id], _ = _request()
    error = _refused(root, {})
    assert (error.code, error.location) == ("XDSMissingDocument", doc_id)


def test_bytes_without_their_document_entry() -> None:
    root, documents, _, _ = _request()
    documents["Document99"] = CONTENT
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSMissingDocumentMetadata", "Document99")


def test_duplicate_unique_id_in_the_submission() -> None:
    root, documents, [first, second], _ = _request(2)
    value = _external(find(root, first), ebrim.DE_UNIQUE_ID).get("value")
    _external(find(root, second), ebrim.DE_UNIQUE_ID).set("value", str(value))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryDuplicateUniqueIdInMessage", second)


def test_document_unique_id_equal_to_the_submission_sets() -> None:
    root, documents, [doc_id], set_id = _request()
    value = _external(find(root, set_id), ebrim.SS_UNIQUE_ID).get("value")
    _external(find(root, doc_id), ebrim.DE_UNIQUE_ID).set("value", str(value))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryDuplicateUniqueIdInMessage", doc_id)


def _add(root: etree._Element, element: etree._Element) -> str:
    root.find(f"{R}RegistryObjectList").append(element)  # type: ignore[union-attr]
    return str(element.get("id"))


OLD = "urn:uuid:0b8f8bb5-3a8e-4c57-9d3e-6d1d1f7f5a10"


def test_replacement_is_read() -> None:
    root, documents, [doc_id], _ = _request()
    _add(root, association(ebrim.RPLC, doc_id, OLD))
    [doc] = parse_submission(root, documents).documents
    assert doc.replaces == ReplaceTarget(OLD, "id")


@pytest.mark.parametrize(
    ("kind", "warning"),
    [
        (ebrim.APND, "PartialAppendContentNotProcessed"),
        (ebrim.XFRM, "PartialTransformNotProcessed"),
        (ebrim.XFRM_RPLC, "PartialTransformReplaceNotProcessed"),
    ],
)
def test_addendum_and_transform_are_accepted_with_a_warning(kind: str, warning: str) -> None:
    root, documents, [doc_id], _ = _request()
    assoc_id = _add(root, association(kind, doc_id, OLD))
    parsed = parse_submission(root, documents)
    assert [(w.code, w.location) for w in parsed.warnings] == [(warning, assoc_id)]
    expected = ReplaceTarget(OLD, "id") if kind == ebrim.XFRM_RPLC else None
    assert parsed.documents[0].replaces == expected


def test_association_from_an_unknown_source() -> None:
    root, documents, _, _ = _request()
    assoc_id = _add(root, association(ebrim.RPLC, "urn:uuid:not-in-the-submission", OLD))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", assoc_id)


def test_has_member_to_an_unknown_target() -> None:
    root, documents, _, set_id = _request()
    assoc_id = _add(root, association(ebrim.HAS_MEMBER, set_id, "Document42"))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", assoc_id)


def test_replacing_a_symbolic_target() -> None:
    root, documents, [doc_id], _ = _request()
    assoc_id = _add(root, association(ebrim.RPLC, doc_id, "Document42"))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", assoc_id)


@pytest.mark.parametrize(
    "kind", [ebrim.UPDATE_AVAILABILITY_STATUS, "urn:elga-bes:AssociationType:NonVersioningUpdate"]
)
def test_unsupported_association_type(kind: str) -> None:
    root, documents, [doc_id], _ = _request()
    assoc_id = _add(root, association(kind, doc_id, OLD))
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", assoc_id)
    assert "not supported" in error.message


def test_document_outside_the_submission_set() -> None:
    root, documents, [doc_id], _ = _request()
    object_list = root.find(f"{R}RegistryObjectList")
    assert object_list is not None
    for element in list(object_list.iterchildren(f"{R}Association")):
        object_list.remove(element)
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", doc_id)


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-28",
        "20260228T140507",
        "2026022",
        "20261301",
        "20260230",
        "202602281460",
        "",
        "abcd",
    ],
)
def test_invalid_document_times(value: str) -> None:
    root, documents, [doc_id], _ = _request()
    _slot_value(find(root, doc_id), ebrim.SLOT_CREATION_TIME, value)
    if value == "":
        # An empty value is no value: the deposit takes the time from the CDA header.
        assert parse_submission(root, documents).documents[0].creation_time is None
        return
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", doc_id)
    assert "creationTime" in error.message


def test_invalid_submission_time() -> None:
    root, documents, _, set_id = _request()
    _slot_value(find(root, set_id), ebrim.SLOT_SUBMISSION_TIME, "20260301250000")
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", set_id)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026", (2026, 1, 1, 0, 0)),
        ("202603", (2026, 3, 1, 0, 0)),
        ("202603011015", (2026, 3, 1, 10, 15)),
    ],
)
def test_truncated_times_are_accepted(value: str, expected: tuple[int, ...]) -> None:
    root, documents, [doc_id], _ = _request()
    _slot_value(find(root, doc_id), ebrim.SLOT_SERVICE_START_TIME, value)
    start = parse_submission(root, documents).documents[0].service_start
    assert start is not None
    assert (start.year, start.month, start.day, start.hour, start.minute) == expected


def test_a_slot_given_twice() -> None:
    root, documents, [doc_id], _ = _request()
    slot = next(
        s for s in find(root, doc_id).iterchildren(f"{R}Slot") if s.get("name") == "creationTime"
    )
    value_list = slot.find(f"{R}ValueList")
    assert value_list is not None
    etree.SubElement(value_list, f"{R}Value").text = "20260101"
    error = _refused(root, documents)
    assert (error.code, error.location) == ("XDSRegistryMetadataError", doc_id)


def test_not_a_submit_objects_request() -> None:
    error = _refused(etree.Element("{urn:example}Other"), {})
    assert (error.code, error.location) == ("XDSRegistryMetadataError", None)


def test_masking_at_deposit_is_not_applied() -> None:
    """MASQUE_PS is the patient's choice: warned, as in ITI-65."""
    doc = document_view(CONTENT, masked_by_patient=True, invisible_to_patient=True)
    sub = submission_set_view()
    parsed = parse_submission(submit_request(INS, sub, [doc]), {doc.entry_uuid: CONTENT})
    [read] = parsed.documents
    assert read.invisible_to_patient is True
    assert [w.location for w in parsed.warnings] == [doc.entry_uuid]
    assert dataclasses.asdict(read)["invisible_to_representatives"] is False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), text=st.text(max_size=40).filter(lambda t: "\x00" not in t))
def test_any_altered_value_is_accepted_or_refused_with_a_code(
    data: st.DataObject, text: str
) -> None:
    """Whatever a slot value or an attribute holds, the reader answers an XDS error, never
    crashes (no 500)."""
    root, documents, _, _ = _request(2)
    targets = [e for e in root.iter() if isinstance(e.tag, str)]
    element = data.draw(st.sampled_from(targets))
    try:
        if element.tag == f"{R}Value":
            element.text = text
        else:
            names = sorted(element.attrib) or ["id"]
            element.set(data.draw(st.sampled_from(names)), text)
    except ValueError:
        return  # not XML text: lxml refuses it, no request can carry it
    try:
        parse_submission(root, documents)
    except XdsMetadataError as exc:
        assert exc.code.startswith("XDS")
