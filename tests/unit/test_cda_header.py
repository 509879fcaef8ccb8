"""CDA header metadata: refusals first, then every CI-SIS example, then field by field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from opendmp.cda.header import (
    INS_OIDS,
    CdaHeader,
    Code,
    InstanceId,
    extract_nonxml_body,
    parse_header,
    parse_ts,
)
from opendmp.domain.errors import InvalidInput

# CI lays a copy of `shared/` beside the clone: <parent>/main (this repo) and <parent>/shared.
SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
EXAMPLES = SHARED / "testdata" / "ans-cisis-cda" / "ExemplesCDA"
# "Autoprésentable" CI-SIS documents are XSLT stylesheets that carry the CDA inside;
# they are not ClinicalDocument roots and are refused (see test below).
SELF_PRESENTING = {
    "BIO-CR-BIO_2021.01_Auto-Presentable.xml",
    "CANCER-PPS_2022.01_Autopresentable.xml",
}
ALL_FILES = sorted(p.name for p in EXAMPLES.glob("*.xml")) if EXAMPLES.is_dir() else []
CDA_FILES = [name for name in ALL_FILES if name not in SELF_PRESENTING]

needs_examples = pytest.mark.skipif(
    not EXAMPLES.is_dir(), reason=f"CI-SIS examples not found at {EXAMPLES}"
)

MINIMAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="1.2.3"/>
  <code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/>
  <effectiveTime value="20210325120000+0100"/>
  <recordTarget><patientRole><id root="1.2.3.4.5" extension="IPP1"/></patientRole></recordTarget>
</ClinicalDocument>
"""


def _example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<html/>", "invalid-cda"),
        (b'<ClinicalDocument xmlns="urn:hl7-org:v2"/>', "invalid-cda"),
        (b"<ClinicalDocument/>", "invalid-cda"),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><id", "malformed-xml"),
    ],
)
def test_a_document_that_is_not_a_cda_is_refused(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_header(data)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("removed", "needle"),
    [
        (b'<id root="1.2.3"/>', "id"),
        (b'<code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/>', "code"),
        (b'<effectiveTime value="20210325120000+0100"/>', "effectiveTime"),
    ],
)
def test_a_cda_without_its_required_parts_is_refused(removed: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_header(MINIMAL.replace(removed, b""))
    assert caught.value.code == "invalid-cda"
    assert needle in caught.value.message


def test_a_cda_without_a_record_target_is_refused() -> None:
    start = MINIMAL.index(b"<recordTarget>")
    end = MINIMAL.index(b"</recordTarget>") + len(b"</recordTarget>")
    with pytest.raises(InvalidInput) as caught:
        parse_header(MINIMAL[:start] + MINIMAL[end:])
    assert caught.value.code == "invalid-cda"


def test_a_malformed_creation_time_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_header(MINIMAL.replace(b"20210325120000+0100", b"2021-03-25"))
    assert caught.value.code == "invalid-cda"


@needs_examples
@pytest.mark.parametrize("name", sorted(SELF_PRESENTING))
def test_a_self_presenting_stylesheet_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_header(_example(name))
    assert caught.value.code == "invalid-cda"
    assert "self-presenting" in caught.value.message


def test_a_structured_document_has_no_nonxml_body() -> None:
    with pytest.raises(InvalidInput) as caught:
        extract_nonxml_body(MINIMAL)
    assert caught.value.code == "invalid-cda"


# --- every CI-SIS example --------------------------------------------------------------


@needs_examples
def test_the_example_folder_holds_the_expected_documents() -> None:
    assert len(CDA_FILES) >= 90
    assert set(ALL_FILES) >= SELF_PRESENTING


@needs_examples
@pytest.mark.parametrize("name", CDA_FILES)
def test_every_ci_sis_example_header_parses(name: str) -> None:
    header = parse_header(_example(name))
    assert isinstance(header, CdaHeader)
    assert header.document_id.root
    assert header.effective_time.tzinfo is UTC
    assert header.patient.ins_oid in INS_OIDS
    assert header.patient.ins_value
    assert header.authors
    assert header.body_kind in {"nonxml", "structured"}
    if header.body_kind == "nonxml":
        media_type, content = extract_nonxml_body(_example(name))
        assert media_type == header.body_media_type
        assert content


# --- field by field on the reference level-1 example -----------------------------------


@needs_examples
def test_the_level1_reference_example_gives_every_field() -> None:
    h = parse_header(_example("DOC_NON_STRUCTURE_CDA-R2-N1.xml"))
    assert h.document_id == InstanceId("1.3.6.1.4.1.19376.1.2.20.12345.1.1")
    assert h.set_id == InstanceId("1.3.6.1.4.1.19376.1.2.20.12345.1")
    assert h.version_number == 1
    assert h.code == Code("11502-2", "2.16.840.1.113883.6.1", "CR d'examens biologiques")
    assert h.title == "Compte rendu d'examens biologiques"
    assert h.effective_time == datetime(2021, 4, 1, 12, 47, 45, tzinfo=UTC)
    assert h.confidentiality is not None and h.confidentiality.code == "N"
    assert h.language == "fr-FR"
    assert "1.3.6.1.4.1.19376.1.2.20" in h.template_ids
    p = h.patient
    assert (p.ins_value, p.ins_oid) == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert p.other_ids == (InstanceId("1.2.3.4.567.8.9.10", "1234567890121"),)
    assert (p.family_name, p.given_name) == ("PAT-TROIS", "DOMINIQUE")
    assert p.given_names == "DOMINIQUE MARIE-LOUISE"
    assert (p.birth_date, p.sex) == (date(1979, 3, 28), "F")
    (author,) = h.authors
    assert (author.idnat, author.idnat_root) == ("801234534765", "1.2.250.1.71.4.2.1")
    assert (author.family_name, author.given_name) == ("CAMPARINI", "Marcel")
    assert (author.profession_code, author.specialty_code) == ("G15_10", "SM03")
    assert author.organization is not None
    assert author.organization.id == InstanceId("1.2.250.1.71.4.2.2", "1120459876")
    assert author.organization.name == "Laboratoire des charmes"
    assert h.custodian is not None and h.custodian.name == "Laboratoire des charmes"
    assert h.legal_authenticator is not None
    assert h.legal_authenticator.id == InstanceId("1.2.250.1.71.4.2.1", "807505123456")
    assert h.service_start == datetime(2021, 1, 4, 12, 47, tzinfo=UTC)
    assert h.service_stop == datetime(2021, 1, 4, 12, 55, tzinfo=UTC)
    assert h.practice_setting == Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire")
    assert h.facility_type == Code("SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel")
    assert h.replaces is None
    assert (h.body_kind, h.body_media_type) == ("nonxml", "application/pdf")
    media_type, content = extract_nonxml_body(_example("DOC_NON_STRUCTURE_CDA-R2-N1.xml"))
    assert media_type == "application/pdf"
    assert content.startswith(b"%PDF-")


@needs_examples
def test_the_ins_is_chosen_among_several_patient_ids() -> None:
    # CSE-CS24 2025 lists the INS (.10) and the NIR used as social security number (.13).
    h = parse_header(_example("CSE-CS24_2025.01.xml"))
    assert h.patient.ins_oid == "1.2.250.1.213.1.4.10"
    assert any(i.root == "1.2.250.1.213.1.4.13" for i in h.patient.other_ids)


@needs_examples
def test_a_malformed_signature_time_yields_none_not_an_error() -> None:
    # The BIO-TROD examples carry legalAuthenticator/time "20240106113623+100".
    h = parse_header(_example("BIO-TROD_2024.01_Angine.xml"))
    assert h.legal_authenticator is not None
    assert h.legal_authenticator.time is None


def test_what_a_minimal_document_lacks_comes_back_as_none() -> None:
    h = parse_header(MINIMAL)
    assert h.patient.ins_value is None and h.patient.ins_oid is None
    assert h.authors == ()
    assert h.custodian is None and h.legal_authenticator is None
    assert h.service_start is None and h.practice_setting is None and h.facility_type is None
    assert h.body_kind is None


# --- timestamps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20210325120000+0100", datetime(2021, 3, 25, 11, 0, tzinfo=UTC)),
        ("202302091130+0100", datetime(2023, 2, 9, 10, 30, tzinfo=UTC)),
        ("20210325120000.123-0500", datetime(2021, 3, 25, 17, 0, 0, 123000, tzinfo=UTC)),
        ("20200701134745", datetime(2020, 7, 1, 11, 47, 45, tzinfo=UTC)),  # Paris, summer
        ("20201231", datetime(2020, 12, 30, 23, 0, tzinfo=UTC)),  # Paris, winter
    ],
)
def test_cda_timestamps_become_aware_utc(value: str, expected: datetime) -> None:
    assert parse_ts(value) == expected
    assert parse_ts(value).tzinfo is UTC


@pytest.mark.parametrize("value", ["", "2021-03-25", "20210325120000+100", "20211325"])
def test_malformed_timestamps_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match=r".*"):
        parse_ts(value)


# Found by fuzz/cda_header.py: a valid local time whose UTC instant falls outside what a
# datetime holds (year 1 in Paris is still year 0 in UTC) leaked OverflowError as a 500.
@pytest.mark.parametrize("value", ["00010101", "00010101000000+2359", "99991231235959-2359"])
def test_timestamps_whose_utc_instant_is_out_of_range_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_ts(value)
    with pytest.raises(InvalidInput) as caught:
        parse_header(MINIMAL.replace(b"20210325120000+0100", value.encode()))
    assert caught.value.code == "invalid-cda"
