"""Code systems: professions, document types and their classes, visibility and closure codes."""

from __future__ import annotations

import pytest

from opendmp.domain.codes import (
    CLOSURE_REASONS,
    CONFIDENTIALITY_CODES,
    DOCUMENT_CLASSES,
    DOCUMENT_TYPES,
    FORMAT_CODES,
    HEALTHCARE_FACILITY_TYPES,
    LEVEL_1_FORMAT_CODES,
    LOINC_OID,
    PRACTICE_SETTINGS,
    PROFESSIONS,
    SPECIALTIES,
    class_for_type,
    is_known_type,
    profession_label,
    type_label,
)
from opendmp.domain.errors import InvalidInput

# docs/rules.md §1 and §4.
# fmt: off
RULES_PROFESSIONS = [
    "10", "21", "26", "28", "32", "40", "50", "60", "69", "70", "80", "81",
    "82", "83", "84", "85", "86", "91", "92", "94", "95", "96", "98",
]
RULES_TYPES = [
    "11490-0", "34874-8", "34112-3", "11502-2", "18748-4", "11488-4", "60591-5",
    "68599-0", "51969-4", "57833-6", "57832-8", "60593-1", "87273-9", "11369-6",
    "15507-7", "34749-2", "77436-4", "96163-1",
]
# fmt: on
PATIENT_TYPES = [f"DOCPAT0{n}" for n in range(1, 10)] + [f"EXPPAT_{n}" for n in range(1, 4)]

# --- Refusals ----------------------------------------------------------------------------------


def test_the_class_of_an_unknown_type_is_refused_with_a_stable_code() -> None:
    with pytest.raises(InvalidInput) as refused:
        class_for_type("00000-0")
    assert refused.value.code == "unknown-type-code"


def test_the_label_of_an_unknown_type_or_profession_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown-type-code"):
        type_label("DOCPAT10")
    with pytest.raises(InvalidInput, match="unknown-profession-code"):
        profession_label("99")


def test_an_unknown_type_is_not_known() -> None:
    assert not is_known_type("11490")
    assert not is_known_type("")


# --- Successes ---------------------------------------------------------------------------------


def test_every_profession_of_the_rules_has_french_and_english_labels() -> None:
    assert sorted(PROFESSIONS) == sorted(RULES_PROFESSIONS)
    assert profession_label("10") == "Médecin"
    assert profession_label("50", "en") == "Midwife"


def test_specialties_include_general_practice_and_psychiatry() -> None:
    assert SPECIALTIES["SM54"].fr == "Médecine générale"
    assert SPECIALTIES["SM42"].fr == "Psychiatrie"


def test_every_loinc_type_of_the_rules_is_known_with_a_class() -> None:
    for type_code in RULES_TYPES:
        assert is_known_type(type_code), type_code
        assert DOCUMENT_TYPES[type_code].system == LOINC_OID
        assert class_for_type(type_code) in DOCUMENT_CLASSES


def test_patient_document_types_belong_to_class_90() -> None:
    assert {type_code: class_for_type(type_code) for type_code in PATIENT_TYPES} == dict.fromkeys(
        PATIENT_TYPES, "90"
    )


@pytest.mark.parametrize(
    ("type_code", "class_code"),
    [("11490-0", "10"), ("60591-5", "11"), ("57833-6", "42"), ("60593-1", "43")],
)
def test_the_class_is_derived_from_the_type(type_code: str, class_code: str) -> None:
    assert class_for_type(type_code) == class_code


def test_every_class_of_the_rules_is_used_by_at_least_one_type_except_management() -> None:
    used = {document_type.class_code for document_type in DOCUMENT_TYPES.values()}
    assert set(DOCUMENT_CLASSES) - used == {"95"}


def test_type_labels_exist_in_both_languages() -> None:
    assert type_label("11490-0") == "Lettre de liaison à la sortie d'un établissement de soins"
    assert type_label("EXPPAT_3", "en") == "Advance directives"
    assert all(t.fr and t.en for t in DOCUMENT_TYPES.values())


def test_format_codes_include_the_level_1_pdf_and_text_bodies() -> None:
    assert {"urn:ihe:iti:xds-sd:pdf:2008", "urn:ihe:iti:xds-sd:text:2008"} == LEVEL_1_FORMAT_CODES
    assert set(FORMAT_CODES) >= LEVEL_1_FORMAT_CODES
    assert "urn:asip:ci-sis:ldl-ses:2017" in FORMAT_CODES


def test_practice_settings_and_facility_types_use_the_ans_systems() -> None:
    assert PRACTICE_SETTINGS["SAMU_SMUR"].system == "1.2.250.1.213.1.1.4.9"
    assert HEALTHCARE_FACILITY_TYPES["SA07"].fr == "Cabinet individuel"
    assert HEALTHCARE_FACILITY_TYPES["SA01"].system == "1.2.250.1.71.4.2.4"


def test_visibility_codes_carry_the_systems_of_the_rules() -> None:
    assert CONFIDENTIALITY_CODES["N"].system == "2.16.840.1.113883.5.25"
    for code in ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"):
        assert CONFIDENTIALITY_CODES[code].system == "1.2.250.1.213.1.1.4.13"


def test_fraud_closure_is_the_operators_alone_and_the_patient_may_close_for_themselves() -> None:
    assert CLOSURE_REASONS["FERMETURE_FRAUDE"].operator_only
    assert not CLOSURE_REASONS["FERMETURE_DEMANDE_PATIENT"].operator_only
    assert not CLOSURE_REASONS["DECES"].operator_only


def test_codes_are_frozen() -> None:
    with pytest.raises(AttributeError):
        PROFESSIONS["10"].fr = "Docteur"  # type: ignore[misc]
