"""The IPF example SubmitObjectsRequests (ITI-41/42) parse into the deposit's inputs once given
a test INS and their documents; the ITI-57 update example is not an ITI-41 submission."""

from __future__ import annotations

import datetime as dt

import pytest

from opendmp.services.documents.deposit import DocumentInput, SubmissionSetInput
from opendmp.xds.metadata_in import XdsMetadataError, parse_submission
from tests.factories import make_ins
from tests.xds.helpers import LCM_SCHEMA, REGISTER_EXAMPLES, example

CONTENT = b"<ClinicalDocument/>"


@pytest.mark.parametrize("name", REGISTER_EXAMPLES)
def test_register_example_parses(name: str) -> None:
    ins = make_ins(1)
    root = example(name, ins)
    LCM_SCHEMA.assertValid(root)
    parsed = parse_submission(root, {"Document01": CONTENT})
    assert parsed.ins == ins
    assert parsed.document_ids == ["Document01"]
    assert parsed.submission_set_id == "SubmissionSet01"
    assert isinstance(parsed.submission, SubmissionSetInput)
    sub = parsed.submission
    assert (sub.unique_id, sub.source_id) == ("1.3.6.1.4.1.21367.2005.3.9999.33", "3670984664")
    assert sub.submitted_at == dt.datetime(2004, 12, 25, 23, 50, 50, tzinfo=dt.UTC)
    assert sub.title == "Physical"
    assert sub.content_type_code == "History and Physical"
    assert sub.entry_uuid is None  # a symbolic id: the DMP assigns the entryUUID
    [doc] = parsed.documents
    assert isinstance(doc, DocumentInput)
    assert doc.unique_id == "1.3.6.1.4.1.21367.2005.3.9999.32"
    assert (doc.type_code, doc.type_system) == ("34108-1", "LOINC")
    assert doc.mime_type == "text/xml"
    assert doc.content == CONTENT
    assert doc.format_code == "CDAR2/IHE 1.0"
    assert doc.creation_time == dt.datetime(2005, 12, 24, tzinfo=dt.UTC)
    assert doc.service_start == dt.datetime(2004, 12, 23, 8, 0, tzinfo=dt.UTC)
    assert doc.service_stop == dt.datetime(2004, 12, 23, 8, 1, tzinfo=dt.UTC)
    assert (doc.facility_type, doc.practice_setting) == ("Outpatient", "General Medicine")
    assert doc.language == "en-us"
    assert doc.title == "Physical"
    assert doc.declared_size == len(CONTENT)
    assert doc.replaces is None
    extra = doc.extra or {}
    assert extra["category"] == [
        {
            "coding": [
                {
                    "system": "Connect-a-thon classCodes",
                    "code": "History and Physical",
                    "display": "History and Physical",
                }
            ]
        }
    ]
    contained = {r["id"]: r for r in extra["contained"]}
    assert contained["author-0"]["identifier"] == [{"value": "Gerald Smitty"}]
    role = contained["author-0-role"]
    assert role["code"] == [{"coding": [{"code": "Attending"}]}]
    assert role["specialty"] == [{"coding": [{"code": "Orthopedic"}]}]
    assert contained["author-0-org-1"]["name"] == "Parma Community"
    patient = contained["source-patient"]
    assert patient["name"] == [{"family": "Doe", "given": ["John"]}]
    assert (patient["birthDate"], patient["gender"]) == ("1956-05-27", "male")
    assert patient["address"][0]["city"] == "Metropolis"
    assert extra["context"]["sourcePatientInfo"] == {"reference": "#source-patient"}
    # The IsSnapshotOf association is accepted and reported as not processed.
    assert [w.code for w in parsed.warnings] == ["PartialRelationshipContentNotProcessed"]
    assert parsed.warnings[0].location == "as02"


def test_update_example_is_not_a_submission() -> None:
    """ITI-57's UpdateAvailabilityStatus has no place in ITI-41."""
    ins = make_ins(2)
    root = example("SubmitObjectsRequest_ebrs30_update.xml", ins)
    ids = [str(e.get("id")) for e in root.iter() if e.tag.endswith("ExtrinsicObject")]
    with pytest.raises(XdsMetadataError) as caught:
        parse_submission(root, dict.fromkeys(ids, CONTENT))
    assert caught.value.code == "XDSRegistryMetadataError"
