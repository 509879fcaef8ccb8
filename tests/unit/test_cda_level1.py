"""PDF-in-CDA (level 1): refusals, round trip through the header parser, XSD, the PDF."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from opendmp.cda.header import Code, InstanceId, extract_nonxml_body, parse_header
from opendmp.cda.level1 import AuthorHeader, OrgHeader, PatientHeader, format_ts, wrap_level1
from opendmp.cda.pdf import make_pdf
from opendmp.cda.xml import NS

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
SCHEMAS = {
    "hl7": SHARED / "testdata/hl7-cda-r2/schema/normative/infrastructure/cda/CDA.xsd",
    "ans": SHARED / "testdata/ans-cisis-cda/infrastructure/cda/CDA_extended.xsd",
}
PARIS_WINTER = timezone(timedelta(hours=1))

CLINIC = OrgHeader(idnat="1750000016", name="Clinique Fictive d’Œuvre & Fils <test>")
PATIENT = PatientHeader(
    ins_value="279035121518989",
    ins_oid="1.2.250.1.213.1.4.10",
    family_name="TEST-FICTIF",
    given_name="ZOÉ",
    birth_date=date(1979, 3, 28),
    sex="F",
)
AUTHOR = AuthorHeader(
    idnat="810000000001",
    family_name="DOCTEUR-FICTIF",
    given_name="Jean",
    profession_code="G15_10",
    specialty_code="SM26",
    organization=CLINIC,
)


def _wrap(**overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "content": b"%PDF-1.3 fake",
        "media_type": "application/pdf",
        "document_id": ("1.2.250.1.999.1", "DOC-42"),
        "set_id": ("1.2.250.1.999.2", None),
        "version": 2,
        "type_code": "11490-0",
        "type_display": "Lettre de liaison à la sortie",
        "title": "Lettre de sortie — Zoé’s œdème (12 €)",
        "effective_time": datetime(2021, 3, 25, 12, 0, tzinfo=PARIS_WINTER),
        "confidentiality": "N",
        "patient": PATIENT,
        "author": AUTHOR,
        "custodian": CLINIC,
        "service_start": datetime(2021, 3, 20, 8, 30, tzinfo=UTC),
        "service_stop": datetime(2021, 3, 24, 17, 0, tzinfo=UTC),
        "practice_setting": "ETABLISSEMENT",
        "facility_type": "SA01",
    }
    arguments.update(overrides)
    return wrap_level1(**arguments)


# --- refusals --------------------------------------------------------------------------


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _wrap(effective_time=datetime(2021, 3, 25, 12, 0))  # noqa: DTZ001


def test_a_version_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        _wrap(version=0)


def test_empty_identifiers_and_names_are_refused() -> None:
    with pytest.raises(ValueError, match="ins_value, patient_family_name"):
        _wrap(patient=replace(PATIENT, ins_value="", family_name=" "))


def test_user_data_cannot_inject_markup() -> None:
    hostile = 'x</title><recordTarget/><title a="'
    data = _wrap(title=hostile, custodian=OrgHeader("1", "]]><!-- &amp; -->"))
    root = etree.fromstring(data)
    targets = root.xpath("cda:recordTarget", namespaces=NS)
    assert isinstance(targets, list) and len(targets) == 1
    header = parse_header(data)
    assert header.title == hostile
    assert header.custodian is not None and header.custodian.name == "]]><!-- &amp; -->"


# --- round trip ------------------------------------------------------------------------


def test_every_field_comes_back_through_the_header_parser() -> None:
    pdf = make_pdf("Lettre", ["Bonjour"])
    data = _wrap(content=pdf)
    h = parse_header(data)
    assert h.document_id == InstanceId("1.2.250.1.999.1", "DOC-42")
    assert h.set_id == InstanceId("1.2.250.1.999.2", None)
    assert h.version_number == 2
    assert h.code == Code("11490-0", "2.16.840.1.113883.6.1", "Lettre de liaison à la sortie")
    assert h.title == "Lettre de sortie — Zoé’s œdème (12 €)"
    assert h.effective_time == datetime(2021, 3, 25, 11, 0, tzinfo=UTC)
    assert h.confidentiality == Code("N", "2.16.840.1.113883.5.25")
    assert h.language == "fr-FR"
    assert h.template_ids == (
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.2.20",
    )
    p = h.patient
    assert (p.ins_value, p.ins_oid) == (PATIENT.ins_value, PATIENT.ins_oid)
    assert (p.family_name, p.given_name) == (PATIENT.family_name, PATIENT.given_name)
    assert (p.birth_date, p.sex) == (PATIENT.birth_date, PATIENT.sex)
    (a,) = h.authors
    assert (a.idnat, a.idnat_root) == (AUTHOR.idnat, "1.2.250.1.71.4.2.1")
    assert (a.family_name, a.given_name) == (AUTHOR.family_name, AUTHOR.given_name)
    assert a.role == Code("G15_10/SM26", "1.2.250.1.213.1.1.4.5")
    assert (a.profession_code, a.specialty_code) == ("G15_10", "SM26")
    assert a.organization is not None
    assert a.organization.id == InstanceId("1.2.250.1.71.4.2.2", CLINIC.idnat)
    assert a.organization.name == CLINIC.name
    assert h.custodian is not None
    assert (h.custodian.id, h.custodian.name) == (a.organization.id, CLINIC.name)
    assert h.legal_authenticator is not None
    assert h.legal_authenticator.id == InstanceId("1.2.250.1.71.4.2.1", AUTHOR.idnat)
    assert h.service_start == datetime(2021, 3, 20, 8, 30, tzinfo=UTC)
    assert h.service_stop == datetime(2021, 3, 24, 17, 0, tzinfo=UTC)
    assert h.practice_setting == Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9")
    assert h.facility_type == Code("SA01", "1.2.250.1.71.4.2.4")
    assert (h.body_kind, h.body_media_type) == ("nonxml", "application/pdf")
    assert extract_nonxml_body(data) == ("application/pdf", pdf)


def test_optional_parts_are_left_out_and_come_back_as_none() -> None:
    author = replace(AUTHOR, specialty_code=None)
    h = parse_header(
        _wrap(author=author, service_stop=None, practice_setting=None, facility_type=None)
    )
    assert h.service_stop is None
    assert h.practice_setting is None
    assert h.facility_type is None
    assert h.authors[0].role == Code("G15_10", "1.2.250.1.213.1.1.4.5")
    assert h.authors[0].specialty_code is None


def test_times_are_written_in_utc_to_the_second() -> None:
    assert format_ts(datetime(2021, 3, 25, 12, 0, 7, 999, tzinfo=PARIS_WINTER)) == (
        "20210325110007+0000"
    )


# --- XSD -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(SCHEMAS))
def cda_schema(request: pytest.FixtureRequest) -> etree.XMLSchema:
    path = SCHEMAS[request.param]
    if not path.is_file():
        pytest.skip(f"CDA schema not found at {path}")
    # The schema files are ours (test data), not user input: loading includes is fine.
    return etree.XMLSchema(etree.parse(str(path)))


@pytest.mark.parametrize(
    "overrides",
    [{}, {"service_stop": None, "practice_setting": None, "facility_type": None}],
    ids=["full", "minimal"],
)
def test_the_document_validates_against_the_cda_schema(
    cda_schema: etree.XMLSchema, overrides: dict[str, Any]
) -> None:
    document = etree.fromstring(_wrap(**overrides))
    assert cda_schema.validate(document), cda_schema.error_log


# --- the PDF ---------------------------------------------------------------------------

FRENCH = ["Œuvre, cœur, 12 € — l’été à Noël", "Deuxième ligne : ça va ?"]


def _to_unicode_targets(pdf: bytes) -> set[int]:
    """Code points named by the fonts' ToUnicode CMaps (uncompressed in fpdf2 output)."""
    found: set[int] = set()
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", pdf, re.S):
        found.update(int(u, 16) for u in re.findall(rb"<[0-9A-F]+> <([0-9A-F]+)>", block))
    return found


def test_the_pdf_is_a_small_pdf() -> None:
    pdf = make_pdf("Lettre d’accueil", FRENCH)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) < 50_000
    assert pdf.count(b"/Type /Page\n") == 1


def test_the_pdf_embeds_dejavu_and_maps_the_french_characters() -> None:
    pdf = make_pdf("Titre — œ", FRENCH)
    assert b"/FontFile2" in pdf  # embedded TrueType, not a core font
    assert b"DejaVuSans" in pdf
    assert b"Helvetica" not in pdf
    for char in "œŒ€—’éàç":
        assert ord(char) in _to_unicode_targets(pdf), char


def test_the_pdf_is_deterministic() -> None:
    when = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert make_pdf("T", FRENCH, created=when) == make_pdf("T", FRENCH, created=when)
    assert make_pdf("T", FRENCH) == make_pdf("T", FRENCH)


def test_the_pdf_refuses_a_naive_creation_date() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_pdf("T", [], created=datetime(2024, 5, 1))  # noqa: DTZ001


def test_too_many_lines_stay_on_one_page() -> None:
    pdf = make_pdf("Long", [f"ligne {i}" for i in range(200)])
    assert pdf.count(b"/Type /Page\n") == 1
