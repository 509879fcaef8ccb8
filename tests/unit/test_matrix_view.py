"""Grouping and filtering the professions of "Mes choix" (docs/portals.md, "The patient's
own matrix: kinds and filter")."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from opendmp.domain.codes import PROFESSIONS
from opendmp.services.access.matrix_choices import MatrixChoices, ProfessionChoice
from opendmp.services.core.matrix_loader import load_matrix
from opendmp.web.patient.matrix_view import (
    OTHER_KIND,
    PROFESSION_KINDS,
    matches,
    matrix_context,
    searchable,
)


def choices(*codes: str) -> MatrixChoices:
    return MatrixChoices(
        tuple(ProfessionChoice(code, ("reports",), frozenset()) for code in codes), ()
    )


def shown(context: dict[str, object]) -> list[tuple[str, list[str]]]:
    groups = context["matrix_groups"]
    assert isinstance(groups, list)
    return [(g["kind"], [p["code"] for p in g["professions"]]) for g in groups]


def test_every_profession_of_the_official_matrix_has_one_named_kind() -> None:
    listed = [code for _, codes in PROFESSION_KINDS for code in codes]
    assert len(listed) == len(set(listed))
    assert set(listed) == load_matrix().professions() <= set(PROFESSIONS)
    context = matrix_context(choices(*sorted(load_matrix().professions())), "fr")
    assert [kind for kind, _ in shown(context)] == [kind for kind, _ in PROFESSION_KINDS]


def test_a_profession_the_table_lacks_goes_under_other_and_empty_kinds_are_not_shown() -> None:
    context = matrix_context(choices("10", "99"), "en")
    assert shown(context) == [("doctors", ["10"]), (OTHER_KIND, ["99"])]
    # A profession the matrix lets read nothing the patient could take away is not shown.
    empty = MatrixChoices((ProfessionChoice("21", (), frozenset()),), ())
    assert shown(matrix_context(empty, "fr")) == []


def test_the_filter_ignores_case_and_accents_and_needs_every_word() -> None:
    everyone = choices(*sorted(load_matrix().professions()))
    assert shown(matrix_context(everyone, "fr", "  ORTHO  ")) == [
        ("rehabilitation", ["91", "92"]),
        ("appliances", ["83", "81"]),
    ]
    assert shown(matrix_context(everyone, "fr", "réédu kiné")) == [("rehabilitation", ["70"])]
    assert shown(matrix_context(everyone, "en", "nurse psych")) == [("nursing", ["69"])]
    assert shown(matrix_context(everyone, "fr", "nurse")) == []
    assert matrix_context(everyone, "fr", "x" * 500)["matrix_filter"] == "x" * 100


@given(st.sampled_from(sorted(PROFESSIONS)), st.sampled_from(["fr", "en"]), st.data())
def test_any_part_of_a_profession_name_finds_it(code: str, lang: str, data: st.DataObject) -> None:
    name = searchable(PROFESSIONS[code].label(lang))  # type: ignore[arg-type]
    start = data.draw(st.integers(0, len(name) - 1))
    part = name[start : data.draw(st.integers(start + 1, len(name)))]
    found = [c for _, codes in shown(matrix_context(choices(code), lang, part)) for c in codes]
    assert found == [code] or not part.strip()
    assert matches(name, searchable(part.upper()))
