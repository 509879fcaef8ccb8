"""OpenDMP's views as ebRIM: the DMP's statuses and confidentiality codes, stable ids, the
SubmissionSet classification, ObjectRefs; all schema-valid."""

from __future__ import annotations

import pytest
from lxml import etree

from opendmp.services.documents.deposit import canonical_json
from opendmp.xds import ebrim
from opendmp.xds import fhir_shape as shape
from opendmp.xds.hl7v2 import Xcn, Xon
from opendmp.xds.metadata_out import (
    extrinsic_object,
    membership,
    object_ref,
    registry_package,
    replacement,
    submit_objects_request,
)
from tests.factories import make_ins
from tests.xds.helpers import LCM_SCHEMA, REPOSITORY, R, document_view, submission_set_view

INS = make_ins(21)
CONTENT = b"%PDF-1.7 fictif"


def _codes(element: etree._Element, scheme: str) -> list[tuple[str | None, str | None]]:
    found = []
    for node in element.iterchildren(f"{R}Classification"):
        if node.get("classificationScheme") == scheme:
            value = node.find(f"{R}Slot/{R}ValueList/{R}Value")
            found.append((node.get("nodeRepresentation"), None if value is None else value.text))
    return found


def _slot(element: etree._Element, name: str) -> list[str]:
    return [
        str(v.text)
        for s in element.iterchildren(f"{R}Slot")
        if s.get("name") == name
        for v in s.iter(f"{R}Value")
    ]


@pytest.mark.parametrize(
    ("status", "archived", "expected"),
    [
        ("current", False, ebrim.APPROVED),
        ("current", True, ebrim.DMP_ARCHIVED),
        ("superseded", False, ebrim.DEPRECATED),
        ("deleted", False, ebrim.DMP_DELETED),
    ],
)
def test_availability_status(status: str, archived: bool, expected: str) -> None:
    doc = document_view(CONTENT, status=status, archived=archived)
    assert extrinsic_object(doc, ins=INS, repository_unique_id=REPOSITORY).get("status") == expected


def test_confidentiality_codes_carry_the_dmp_visibility() -> None:
    plain = extrinsic_object(document_view(CONTENT), ins=INS, repository_unique_id=REPOSITORY)
    assert _codes(plain, ebrim.DE_CONFIDENTIALITY_CODE) == [("N", "2.16.840.1.113883.5.25")]
    hidden = document_view(
        CONTENT,
        masked_by_patient=True,
        invisible_to_patient=True,
        invisible_to_representatives=True,
    )
    element = extrinsic_object(hidden, ins=INS, repository_unique_id=REPOSITORY)
    dmp = "1.2.250.1.213.1.1.4.13"
    assert _codes(element, ebrim.DE_CONFIDENTIALITY_CODE) == [
        ("MASQUE_PS", dmp),
        ("INVISIBLE_PATIENT", dmp),
        ("INVISIBLE_REPRESENTANTS_LEGAUX", dmp),
    ]


def test_entry_ids_version_and_repository() -> None:
    doc = document_view(CONTENT, version=3)
    element = extrinsic_object(doc, ins=INS, repository_unique_id=REPOSITORY)
    assert (element.get("id"), element.get("lid")) == (doc.entry_uuid, f"urn:uuid:{doc.id}")
    assert element.find(f"{R}VersionInfo").get("versionName") == "3"  # type: ignore[union-attr]
    assert _slot(element, "repositoryUniqueId") == [REPOSITORY]
    assert _slot(element, "hash") == [doc.sha1]
    assert _slot(element, "size") == [str(len(CONTENT))]
    assert _slot(element, "sourcePatientId") == [f"{INS.value}^^^&{INS.oid}&ISO"]
    # Two answers about one document carry the same classification ids.
    again = extrinsic_object(doc, ins=INS, repository_unique_id=REPOSITORY)
    assert etree.tostring(again) == etree.tostring(element)


def test_the_producers_author_is_shown_before_the_depositor() -> None:
    author = shape.Author(
        person=Xcn("899700000013", "DEMO", "Paul", authority="1.2.250.1.71.4.2.1"),
        institutions=(Xon("Cabinet Demo", "1750000010", "1.2.250.1.71.4.2.2"),),
    )
    reference, contained = shape.author_resources(author, "author-0")
    doc = document_view(
        CONTENT, extra=canonical_json({"author": [reference], "contained": contained})
    )
    element = extrinsic_object(doc, ins=INS, repository_unique_id=REPOSITORY)
    [node] = [
        c
        for c in element.iterchildren(f"{R}Classification")
        if c.get("classificationScheme") == ebrim.DE_AUTHOR
    ]
    assert _slot(node, "authorPerson") == ["899700000013^DEMO^Paul^^^^^^&1.2.250.1.71.4.2.1&ISO"]
    assert _slot(node, "authorInstitution") == [
        "Cabinet Demo^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000010"
    ]


def test_leaf_class_objects_and_object_refs_are_schema_valid() -> None:
    old, doc = document_view(CONTENT, status="superseded"), document_view(CONTENT)
    sub = submission_set_view()
    package = registry_package(sub, ins=INS)
    [node] = [c for c in package.iterchildren(f"{R}Classification") if c.get("classificationNode")]
    assert (node.get("classificationNode"), node.get("classifiedObject")) == (
        ebrim.SUBMISSION_SET_NODE,
        sub.entry_uuid,
    )
    link = replacement(doc.entry_uuid, old.entry_uuid)
    assert link.get("id") == replacement(doc.entry_uuid, old.entry_uuid).get("id")
    assert membership(sub.entry_uuid, doc.entry_uuid).get("id") != link.get("id")
    objects = [
        package,
        extrinsic_object(doc, ins=INS, repository_unique_id=REPOSITORY),
        extrinsic_object(old, ins=INS, repository_unique_id=REPOSITORY),
        membership(sub.entry_uuid, doc.entry_uuid),
        link,
        object_ref(old.entry_uuid),
    ]
    LCM_SCHEMA.assertValid(submit_objects_request(objects))
