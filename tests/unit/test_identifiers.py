"""Identifiers: INS, IdNat_PS (RPPS, ADELI, internal), FINESS and Struct_IdNat.

Real values come from the ANS CI-SIS example CDA documents (public test data).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.domain.errors import InvalidIdentifier
from opendmp.domain.identifiers import (
    INS_NIA_OID,
    INS_NIR_DEMO_OID,
    INS_NIR_OID,
    INS_NIR_TEST_OID,
    Ins,
    compute_ins_key,
    luhn_check_digit,
    luhn_is_valid,
    parse_finess,
    parse_idnat_ps,
    parse_ins,
    parse_ins_reference,
    parse_struct_idnat,
    with_ins_key,
)

# The INS of the CI-SIS examples' test patient (76 occurrences, test OID .10).
CISIS_INS = "279035121518989"
CISIS_OTHER_INS = "277076322082910"


def _refused(code: str) -> AbstractContextManager[pytest.ExceptionInfo[InvalidIdentifier]]:
    return pytest.raises(InvalidIdentifier, match=rf"\[{code}\]$")


# --- Hypothesis strategies ---------------------------------------------------------------

_months = st.one_of(st.integers(1, 12), st.integers(20, 42), st.integers(50, 99)).map(
    lambda month: f"{month:02d}"
)
_departments = st.one_of(
    st.integers(0, 99).map(lambda department: f"{department:02d}"), st.sampled_from(["2A", "2B"])
)
_nir13 = st.builds(
    lambda sex, year, month, department, commune, order: (
        f"{sex}{year:02d}{month}{department}{commune:03d}{order:03d}"
    ),
    st.sampled_from("12378"),
    st.integers(0, 99),
    _months,
    _departments,
    st.integers(0, 999),
    st.integers(0, 999),
)
_valid_ins = _nir13.map(with_ins_key)


def _allowed_characters(position: int) -> str:
    # Position 6 is the second character of the department: 2A/2B make letters legal there.
    return "0123456789AB" if position == 6 else "0123456789"


# --- INS: refusals -----------------------------------------------------------------------


def test_an_ins_whose_key_does_not_match_is_refused_with_both_keys_in_the_message() -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        parse_ins("279035121518942", INS_NIR_TEST_OID)
    assert refused.value.code == "invalid-ins"
    assert refused.value.message == "INS key 42 does not match the computed key 89"


def test_an_ins_of_the_wrong_length_is_refused_with_the_length_in_the_message() -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        parse_ins("279035121518", INS_NIR_TEST_OID)
    assert refused.value.message == "INS must have 15 characters (13 + 2-digit key), got 12"


def test_an_ins_with_month_13_is_refused_naming_the_month() -> None:
    value = with_ins_key("2791351215189")
    with pytest.raises(InvalidIdentifier) as refused:
        parse_ins(value, INS_NIR_TEST_OID)
    assert refused.value.message == "INS month 13 is not valid"


@pytest.mark.parametrize("month", ["00", "13", "19", "43", "49"])
def test_an_ins_month_outside_the_allowed_ranges_is_refused(month: str) -> None:
    with _refused("invalid-ins"):
        parse_ins(with_ins_key(f"279{month}51215189"), INS_NIR_TEST_OID)


@pytest.mark.parametrize("sex", ["0", "4", "5", "6", "9"])
def test_an_ins_whose_sex_digit_is_not_1_2_3_7_or_8_is_refused(sex: str) -> None:
    with pytest.raises(InvalidIdentifier, match="sex digit"):
        parse_ins(with_ins_key(f"{sex}790351215189"), INS_NIR_TEST_OID)


@pytest.mark.parametrize("department", ["2C", "3A", "A2", "1B"])
def test_an_ins_department_other_than_digits_2a_or_2b_is_refused(department: str) -> None:
    with pytest.raises(InvalidIdentifier, match="department"):
        parse_ins(f"27903{department}21518900", INS_NIR_TEST_OID)


def test_an_ins_with_letters_in_the_commune_is_refused_naming_the_commune() -> None:
    with pytest.raises(InvalidIdentifier, match="commune 'X15' is not 3 digits"):
        parse_ins("2790351X1518989", INS_NIR_TEST_OID)


def test_an_ins_with_non_ascii_digits_is_refused() -> None:
    with _refused("invalid-ins"):
        parse_ins("27903512151898٩", INS_NIR_TEST_OID)


def test_an_ins_from_an_unknown_assigning_authority_is_refused_with_its_own_code() -> None:
    with _refused("invalid-ins-oid"):
        parse_ins(CISIS_INS, "1.2.250.1.213.1.4.2")


def test_building_an_ins_directly_also_checks_it() -> None:
    with _refused("invalid-ins"):
        Ins("279035121518988", INS_NIR_TEST_OID)


def test_two_cisis_example_ins_values_have_keys_that_do_not_check_and_are_refused() -> None:
    # CSE-CS8/CS9/CS24 and SDM-MR carry these with the test OID: their keys are wrong
    # (computed 83 and 12), so the examples are not a source of valid INS for those files.
    with pytest.raises(InvalidIdentifier, match="key 04 does not match the computed key 83"):
        parse_ins("221042545611404", INS_NIR_TEST_OID)
    with pytest.raises(InvalidIdentifier, match="key 55 does not match the computed key 12"):
        parse_ins("224027511583555", INS_NIR_TEST_OID)


def test_an_ins_error_message_never_contains_the_whole_ins() -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        parse_ins("279035121518942", INS_NIR_TEST_OID)
    assert "279035121518942" not in str(refused.value)


@given(_valid_ins, st.data())
def test_every_single_character_corruption_of_a_valid_ins_is_refused(
    value: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(
        st.sampled_from([c for c in _allowed_characters(position) if c != value[position]])
    )
    corrupted = value[:position] + replacement + value[position + 1 :]
    with _refused("invalid-ins"):
        parse_ins(corrupted, INS_NIR_TEST_OID)


def test_an_ins_reference_with_an_empty_oid_is_refused() -> None:
    with _refused("invalid-ins-oid"):
        parse_ins_reference(f"|{CISIS_INS}", INS_NIR_OID)


# --- INS: successes ----------------------------------------------------------------------


def test_the_key_is_97_minus_the_number_modulo_97() -> None:
    assert compute_ins_key("2790351215189") == 89
    assert compute_ins_key("1891275125012") == 82


def test_corsica_departments_are_read_as_19_and_18_for_the_key() -> None:
    assert compute_ins_key("180052A123456") == 97 - 1800519123456 % 97
    assert compute_ins_key("180052B123456") == 97 - 1800518123456 % 97
    assert parse_ins(with_ins_key("180052a123456"), INS_NIR_TEST_OID).value.startswith("180052A")
    assert parse_ins(with_ins_key("280052B123456"), INS_NIR_TEST_OID).value[5:7] == "2B"


def test_the_cisis_example_ins_values_of_the_test_authority_are_valid() -> None:
    for value in (CISIS_INS, CISIS_OTHER_INS):
        ins = parse_ins(value, INS_NIR_TEST_OID)
        assert ins.is_test
        assert ins.kind == "NIR"


def test_spaces_and_dots_between_the_groups_are_ignored() -> None:
    assert parse_ins("2 79 03 51 215 189 89", INS_NIR_TEST_OID).value == CISIS_INS
    assert parse_ins("2.79.03.51.215.189.89", INS_NIR_TEST_OID).value == CISIS_INS


@pytest.mark.parametrize("month", ["01", "12", "20", "42", "50", "99"])
def test_months_of_incomplete_civil_records_are_accepted(month: str) -> None:
    parse_ins(with_ins_key(f"179{month}75123456"), INS_NIR_TEST_OID)


@pytest.mark.parametrize("sex", ["3", "7", "8"])
def test_provisional_numbers_are_accepted(sex: str) -> None:
    assert parse_ins(with_ins_key(f"{sex}790375123456"), INS_NIA_OID).kind == "NIA"


@given(_valid_ins)
def test_every_generated_valid_nir_with_its_computed_key_parses(value: str) -> None:
    assert parse_ins(value, INS_NIR_DEMO_OID).value == value


def test_an_ins_shows_its_system_its_reference_form_and_a_masked_form_for_logs() -> None:
    ins = parse_ins(CISIS_INS, INS_NIR_OID)
    assert ins.system == "urn:oid:1.2.250.1.213.1.4.8"
    assert str(ins) == "1.2.250.1.213.1.4.8|279035121518989"
    assert ins.masked() == "2790351******89"
    assert not ins.is_test


@pytest.mark.parametrize(
    ("text", "oid"),
    [
        (f"{INS_NIR_TEST_OID}|{CISIS_INS}", INS_NIR_TEST_OID),
        (f"urn:oid:{INS_NIR_DEMO_OID}|{CISIS_INS}", INS_NIR_DEMO_OID),
        (f"  {CISIS_INS} ", INS_NIR_OID),
    ],
)
def test_an_ins_reference_may_name_its_oid_as_oid_or_urn_or_fall_back_on_the_default(
    text: str, oid: str
) -> None:
    assert parse_ins_reference(text, INS_NIR_OID) == Ins(CISIS_INS, oid)


# --- Luhn ----------------------------------------------------------------------------------


def test_luhn_rejects_empty_or_non_digit_input() -> None:
    assert not luhn_is_valid("")
    assert not luhn_is_valid("7508O3447")
    with _refused("invalid-identifier"):
        luhn_check_digit("12a")


def test_luhn_check_digit_completes_a_number_that_then_validates() -> None:
    assert luhn_check_digit("7992739871") == 3
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")


# --- IdNat_PS: refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("idnat", ["801234567893", "801234534765", "801234567898"])
def test_cisis_author_rpps_whose_key_does_not_check_are_refused_when_strict(idnat: str) -> None:
    with _refused("invalid-rpps"):
        parse_idnat_ps(idnat)


def test_the_rpps_key_error_names_the_given_and_the_computed_key() -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        parse_idnat_ps("801234567893")
    assert refused.value.message == "RPPS key 3 does not match the computed key 7"


@pytest.mark.parametrize("idnat", ["80123456789", "8012345678977", "8012345678A7"])
def test_an_rpps_that_is_not_11_digits_is_refused_even_when_not_strict(idnat: str) -> None:
    with _refused("invalid-rpps"):
        parse_idnat_ps(idnat, strict_key=False)


@pytest.mark.parametrize(
    "idnat", ["", "5012345678", "00B105729", "0123456789A", "31234", "3750100125 /1453"]
)
def test_an_idnat_ps_with_an_unknown_prefix_or_a_malformed_number_is_refused(idnat: str) -> None:
    with _refused("invalid-idnat-ps"):
        parse_idnat_ps(idnat)


# --- IdNat_PS: successes -----------------------------------------------------------------


@pytest.mark.parametrize("idnat", ["801234567897", "810002422979", "807655473259"])
def test_cisis_author_rpps_whose_key_checks_are_accepted(idnat: str) -> None:
    professional = parse_idnat_ps(idnat)
    assert professional.kind == "RPPS"
    assert professional.number == idnat[1:]
    assert professional.key_valid
    assert professional.warnings == ()


def test_a_bad_rpps_key_is_a_warning_when_not_strict() -> None:
    professional = parse_idnat_ps("801234567893", strict_key=False)
    assert professional.kind == "RPPS"
    assert not professional.key_valid
    assert professional.warnings == ("RPPS key 3 does not match the computed key 7",)


def test_a_test_card_rpps_starts_with_997() -> None:
    number = "997000012" + "3"
    idnat = "8" + number + str(luhn_check_digit(number))
    assert parse_idnat_ps(idnat).is_test_card
    assert not parse_idnat_ps("801234567897").is_test_card


def test_adeli_and_internal_ids_are_accepted_by_format() -> None:
    adeli = parse_idnat_ps("00B1057294")
    assert (adeli.kind, adeli.number) == ("ADELI", "0B1057294")
    internal = parse_idnat_ps("3750100125/1453")
    assert (internal.kind, internal.number) == ("STRUCTURE_INTERNAL", "750100125/1453")


# --- FINESS and Struct_IdNat: refusals ---------------------------------------------------------


@pytest.mark.parametrize("finess", ["120456789", "120459876", "750803448"])
def test_a_finess_whose_luhn_key_does_not_check_is_refused(finess: str) -> None:
    # 120456789 and 120459876 are placeholder numbers of the CI-SIS examples.
    with _refused("invalid-finess"):
        parse_finess(finess)


@pytest.mark.parametrize("finess", ["75080344", "7508034470", "2C0000000", "A20000000"])
def test_a_finess_that_is_not_9_characters_with_an_optional_2a_2b_is_refused(finess: str) -> None:
    with _refused("invalid-finess"):
        parse_finess(finess)


@pytest.mark.parametrize(
    "idnat", ["", "5750803447", "1120456789", "2801234567", "3180035024000", "4123"]
)
def test_a_struct_idnat_with_an_unknown_prefix_or_a_bad_number_is_refused(idnat: str) -> None:
    with _refused("invalid-struct-idnat"):
        parse_struct_idnat(idnat)


# --- FINESS and Struct_IdNat: successes --------------------------------------------------------


@pytest.mark.parametrize(
    "finess", ["750803447", "490000049", "920008059", "060021920", "750058190", "750017212"]
)
def test_the_finess_numbers_of_the_cisis_examples_pass_luhn(finess: str) -> None:
    assert parse_finess(finess) == finess


def test_a_corsican_finess_is_checked_with_2a_read_as_19_and_2b_as_18() -> None:
    key_a = luhn_check_digit("19000001")  # "2A000001" read as "19000001"
    assert parse_finess(f"2a000001{key_a}") == f"2A000001{key_a}"
    key_b = luhn_check_digit("18000001")
    assert parse_finess(f"2B000001{key_b}") == f"2B000001{key_b}"


@pytest.mark.parametrize(
    ("idnat", "kind"),
    [
        ("1750803447", "FINESS"),
        ("318003502400041", "SIRET"),
        ("378435954900010", "SIRET"),
        ("2732829320", "SIREN"),
        ("401234567890009", "RPPS_RANK"),
    ],
)
def test_a_struct_idnat_is_parsed_by_its_prefix(idnat: str, kind: str) -> None:
    structure = parse_struct_idnat(idnat)
    assert structure.kind == kind
    assert structure.number == idnat[1:]
    assert structure.system == "urn:oid:1.2.250.1.71.4.2.2"
