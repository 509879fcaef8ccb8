"""The access matrix (docs/rules.md §3.6): the packaged default and the official CSV loader."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from opendmp.domain.codes import DOCUMENT_TYPES, PROFESSIONS
from opendmp.domain.errors import ConfigurationError, InvalidInput
from opendmp.domain.matrix import AccessMatrix
from opendmp.services.core.matrix_loader import load_matrix

DEFAULT = load_matrix()
PATIENT_TYPES = {code for code, t in DOCUMENT_TYPES.items() if t.class_code == "90"}
HEADER = "profession,specialty,type_code,may_read\n"

# --- refusals: malformed CSV files name the line ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param("prof,spec,type,read\n10,,11488-4,1\n", 1, "header", id="a wrong header"),
        pytest.param("", 1, "header", id="an empty file"),
        pytest.param(HEADER + "10,,11488-4\n", 2, "columns", id="a missing column"),
        pytest.param(HEADER + "10,,11488-4,1\n10,,,1,x\n", 3, "columns", id="an extra column"),
        pytest.param(HEADER + "10,,11488-4,1\n99,,11488-4,1\n", 3, "profession", id="a bad pro"),
        pytest.param(HEADER + "10,,  ,1\n", 2, "type code", id="an empty type code"),
        pytest.param(HEADER + "10,,11488-4,peut-être\n", 2, "may_read", id="a bad boolean"),
        pytest.param(
            HEADER + "10,,11488-4,1\n\n10,,11488-4,0\n", 4, "duplicate of line 2", id="a duplicate"
        ),
        pytest.param(
            HEADER + "10,SM42,68599-0,1\n10,SM42,68599-0,oui\n",
            3,
            "duplicate",
            id="a duplicate specialty row",
        ),
    ],
)
def test_a_malformed_csv_matrix_is_refused_naming_the_line(
    text: str, line: int, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        AccessMatrix.from_csv_text(text)
    assert caught.value.code == "invalid-access-matrix"
    assert f"line {line}:" in caught.value.message
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("document", "words"),
    [
        pytest.param("[]", "rules", id="not an object"),
        pytest.param('{"rules": [', "line 1", id="not JSON"),
        pytest.param('{"rules": [{"profession": "99", "may_read": []}]}', "rule 1", id="bad pro"),
        pytest.param('{"rules": [{"profession": "10", "may_read": ["@x"]}]}', "group", id="group"),
        pytest.param('{"rules": [{"profession": "10", "may_raed": []}]}', "unknown keys", id="key"),
        pytest.param(
            '{"rules": [{"profession": "10"}, {"profession": "10"}]}', "second", id="twice"
        ),
    ],
)
def test_a_malformed_json_matrix_is_refused(document: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        AccessMatrix.from_json_text(document)
    assert caught.value.code == "invalid-access-matrix"
    assert words in caught.value.message


def test_a_missing_matrix_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_matrix(tmp_path / "absent.csv")
    assert caught.value.code == "access-matrix-unreadable"


# --- the CSV loader -----------------------------------------------------------------------------


def test_a_good_csv_matrix_loads_with_specialty_rows_overriding_the_profession() -> None:
    text = (
        "\ufeffprofession,specialty,type_code,may_read\n"
        "10,,11488-4,1\n"
        "10,,68599-0,0\n"
        "10,SM42,68599-0,oui\n"
        "60,,11488-4,true\n"
        "60,,REMB,non\n"
        '21,,"57833-6",TRUE\n'
        "\n"
    )
    matrix = AccessMatrix.from_csv_text(text)
    assert matrix.may_read("10", None, "11488-4")
    assert not matrix.may_read("10", None, "68599-0")
    assert matrix.may_read("10", "SM42", "68599-0")
    assert matrix.may_read("10", "SM54", "11488-4")  # no SM54 row: the profession's row
    assert not matrix.may_read("60", None, "REMB")
    assert matrix.readable_types("21", None) == {"57833-6"}
    assert matrix.readable_types("40", None) == frozenset()  # default deny
    assert matrix.readable_types(None, None) == frozenset()


def test_a_specialty_row_may_also_narrow_the_profession_row() -> None:
    matrix = AccessMatrix.from_csv_text(HEADER + "21,,51969-4,1\n21,SM03,51969-4,0\n")
    assert matrix.may_read("21", None, "51969-4")
    assert not matrix.may_read("21", "SM03", "51969-4")


def test_a_semicolon_csv_as_exported_by_a_french_spreadsheet_loads() -> None:
    matrix = AccessMatrix.from_csv_text("profession;specialty;type_code;may_read\n10;;REMB;1\n")
    assert matrix.may_read("10", None, "REMB")


def test_the_loader_reads_a_csv_file_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "arrete-2023.csv"
    path.write_text(HEADER + "50,,11488-4,1\n", encoding="utf-8")
    assert load_matrix(path).readable_types("50", None) == {"11488-4"}


# --- the packaged default matrix ---------------------------------------------------------------


def test_the_packaged_matrix_loads_and_names_its_source() -> None:
    raw = json.loads(resources.files("opendmp.data").joinpath("access-matrix.json").read_text())
    assert raw["_comment"]
    assert DEFAULT.version and DEFAULT.source


def test_the_packaged_matrix_has_a_rule_for_every_profession() -> None:
    assert DEFAULT.professions() == set(PROFESSIONS)


def test_the_packaged_matrix_names_only_known_document_types() -> None:
    assert {type_code for _, _, type_code in DEFAULT.cells} <= set(DOCUMENT_TYPES)


@pytest.mark.parametrize("profession", sorted(PROFESSIONS))
def test_the_packaged_matrix_answers_every_type_for_every_profession(profession: str) -> None:
    answers = {code: DEFAULT.may_read(profession, None, code) for code in DOCUMENT_TYPES}
    assert len(answers) == len(DOCUMENT_TYPES)
    # Documents the patient adds (class 90) are readable by every health profession.
    assert all(answers[code] for code in PATIENT_TYPES)
    # Nobody but doctors reads molecular genetics; nobody reads a residence certificate.
    assert answers["51969-4"] is (profession == "10")
    assert answers["ATTEST-RESID"] is False


def test_doctors_read_every_type_but_the_residence_certificate() -> None:
    assert DEFAULT.readable_types("10", None) == set(DOCUMENT_TYPES) - {"ATTEST-RESID"}
    assert DEFAULT.readable_types("10", "SM42") == DEFAULT.readable_types("10", None)


def test_dentists_read_neither_psychiatric_syntheses_nor_care_plans() -> None:
    assert not DEFAULT.may_read("40", None, "68599-0")
    assert not DEFAULT.may_read("40", None, "18776-5")
    assert DEFAULT.may_read("40", None, "11488-4")


def test_pharmacists_and_nurses_are_somewhat_more_restricted_than_doctors() -> None:
    doctors = DEFAULT.readable_types("10", None)
    for profession in ("21", "60"):
        readable = DEFAULT.readable_types(profession, None)
        assert readable < doctors
        assert len(readable) >= len(doctors) - 8
    assert not DEFAULT.may_read("21", None, "68599-0")
    assert DEFAULT.may_read("21", None, "60593-1")  # dispensing


def test_social_and_paramedical_professions_are_far_more_restricted() -> None:
    doctors = DEFAULT.readable_types("10", None)
    for profession in ("26", "28", "81", "91", "95", "96"):
        readable = DEFAULT.readable_types(profession, None)
        assert len(readable - PATIENT_TYPES) <= len(doctors - PATIENT_TYPES) // 3
