"""The pure parts of the opt-out opening (docs/rules.md §2): the notice code's format and
the operator's CSV (bad rows by line number, the rest kept)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import INS_NIR_TEST_OID
from opendmp.domain.opt_out import (
    CODE_ALPHABET,
    CODE_LENGTH,
    OptOutRules,
    format_code,
    new_notice_code,
    normalise_code,
)
from opendmp.services.records.opt_out_import import read_beneficiaries
from tests.factories import make_ins

TODAY = dt.date(2026, 3, 1)
codes = st.text(alphabet=CODE_ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH)


@given(codes)
def test_a_code_typed_back_in_any_usual_way_is_the_code(code: str) -> None:
    printed = format_code(code)
    assert printed.count("-") == 3 and len(printed) == CODE_LENGTH + 3
    for typed in (printed, printed.lower(), printed.replace("-", " "), f"  {code}  "):
        assert normalise_code(typed) == code


@given(codes)
def test_letters_read_for_digits_are_read_as_digits(code: str) -> None:
    confusable = code.replace("0", "O").replace("1", "I")
    assert normalise_code(confusable) == code


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCD-EFGH-JKMN-PQR",
        "ABCD-EFGH-JKMN-PQRST",
        "ABCD-EFGH-JKMN-PQR!",
        "UUUU-UUUU-UUUU-UUUU",
    ],
)
def test_what_cannot_be_a_code_is_none(typed: str) -> None:
    assert normalise_code(typed) is None


def test_new_codes_are_codes_and_differ() -> None:
    made = {new_notice_code() for _ in range(200)}
    assert len(made) == 200 and all(normalise_code(c) == c for c in made)


def test_the_record_opens_after_the_objection_period() -> None:
    at = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    assert OptOutRules().opens_at(at) == at + dt.timedelta(weeks=6)


def test_bad_rows_are_told_by_line_and_good_ones_kept() -> None:
    good, other = make_ins(901), make_ins(902)
    text = (
        "\ufeffINS,Birth_Name,given_names,birth_date,sex,email,postal_address\n"
        f"{good.value},Fictif,Alex Sam,1980-01-15,f,alex@example.org,\n"
        "\n"
        f'{other.value},Fictif,Alex,1980-01-15,F,,"1 rue A\n75001 PARIS"\n'
        f"{other.value},Fictif,Alex,2030-01-01,X,not-an-address,\n"
        "123,Fictif,Alex,1980-01-15,F,a@example.org,\n"
    )
    people, problems = read_beneficiaries(text, default_oid=INS_NIR_TEST_OID, today=TODAY)
    assert [(p.line, p.sex, p.given_names) for p in people] == [
        (2, "F", ("Alex", "Sam")),
        (4, "F", ("Alex",)),
    ]
    assert people[1].postal_address == ("1 rue A", "75001 PARIS")
    assert [p.line for p in problems] == [6, 7]
    assert "future" in problems[0].message and "sex must be F or M" in problems[0].message
    assert "email is not a valid address" in problems[0].message


def test_a_file_without_its_columns_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        read_beneficiaries("ins;nom\n", default_oid=INS_NIR_TEST_OID, today=TODAY)
    assert refused.value.code == "invalid-announce-file"
