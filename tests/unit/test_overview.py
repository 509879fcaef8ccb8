"""The professional view's pure rules (domain/overview.py, domain/relevance.py): folding,
care episodes, relevance as data, new since the last visit — named cases, then hypothesis
invariants on generated records."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.domain.errors import InvalidInput
from opendmp.domain.overview import EPISODE_GAP, Entry, build_overview, fold
from opendmp.domain.relevance import Relevance

T0 = dt.datetime(2020, 1, 1, 9, tzinfo=dt.UTC)
RELEVANCE = Relevance.from_json_text(
    resources.files("opendmp.data").joinpath("relevance.json").read_text("utf-8")
)
TYPES = ("60591-5", "11490-0", "34112-3", "57833-6", "60593-1", "11502-2", "11488-4", "18748-4")


def entry(type_code: str = "11488-4", *, day: int = 0, **more: object) -> Entry:
    act = T0 + dt.timedelta(days=day)
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "type_code": type_code,
        "status": "current",
        "act": act,
        "act_end": act,
        "deposited_at": act + dt.timedelta(hours=6),
        "sha256": uuid.uuid4().hex,
        "establishment": "1990000000105",
        "author": "89970000105",
    }
    fields.update(more)
    return Entry(**fields)  # type: ignore[arg-type]


# --- the ranking as data ---------------------------------------------------------------------


def test_a_pharmacist_ranks_treatments_then_lab_results_and_a_doctor_pins_the_vsm() -> None:
    assert RELEVANCE.rank("21", "57833-6") == RELEVANCE.rank("21", "60593-1") == 0
    assert RELEVANCE.rank("21", "11502-2") == 1
    assert RELEVANCE.rank("21", "11490-0") == 2  # after every tier
    assert RELEVANCE.pinned("10", "60591-5") and not RELEVANCE.pinned("21", "60591-5")
    assert RELEVANCE.rank("10", "11490-0") == 0
    assert RELEVANCE.rule("70") == RELEVANCE.rule(None) == RELEVANCE.rule("*")


@pytest.mark.parametrize(
    "broken",
    [
        "not json",
        json.dumps({"rules": "no"}),
        json.dumps({"rules": [{"profession": "10", "first": []}]}),  # no '*' rule
        json.dumps({"rules": [{"profession": "99", "first": []}, {"profession": "*"}]}),
        json.dumps({"rules": [{"profession": "*", "first": [["@nowhere"]]}]}),
        json.dumps({"rules": [{"profession": "*", "first": [["A"], ["A"]]}]}),
        json.dumps({"rules": [{"profession": "*"}, {"profession": "*"}]}),
        json.dumps({"rules": [{"profession": "*", "colour": "blue"}]}),
        json.dumps({"per_tier": -1, "rules": [{"profession": "*"}]}),
    ],
)
def test_a_broken_ranking_is_refused_with_its_reason(broken: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Relevance.from_json_text(broken)
    assert refused.value.code == "invalid-relevance"


# --- folding ---------------------------------------------------------------------------------


def test_a_superseded_version_folds_under_the_current_one_through_a_chain() -> None:
    first = entry("60591-5", status="superseded")
    second = entry("60591-5", day=365, status="superseded", replaces_id=first.id)
    third = entry("60591-5", day=730, replaces_id=second.id)
    heads = fold([first, second, third])
    assert list(heads) == [third]
    assert [(f.entry, f.reason) for f in heads[third]] == [(second, "version"), (first, "version")]


def test_a_version_whose_successor_the_reader_cannot_see_stays_a_line_of_its_own() -> None:
    old = entry("60591-5", status="superseded")
    assert list(fold([old])) == [old]  # the successor is not among what the reader sees


def test_duplicates_fold_under_the_newest_deposit_and_near_twins_do_not() -> None:
    lab = entry("11502-2", sha256="same")
    again = entry("11502-2", sha256="same", deposited_at=lab.deposited_at + dt.timedelta(hours=2))
    other_day = entry("11502-2", day=1, sha256="same")
    other_author = entry("11502-2", sha256="same", author="89970000999")
    heads = fold([lab, again, other_day, other_author])
    assert set(heads) == {again, other_day, other_author}
    assert [(f.entry, f.reason) for f in heads[again]] == [(lab, "duplicate")]


# --- episodes, relevant first, new ----------------------------------------------------------


def test_a_stay_is_one_episode_with_its_discharge_letter_as_key_for_a_doctor() -> None:
    admitted = entry("15507-7")
    lab = entry("11502-2", day=1)
    letter = entry("11490-0", day=0, act_end=T0 + dt.timedelta(days=5))
    later = entry("11488-4", day=5)
    elsewhere = entry("11488-4", day=2, establishment="3990000000101")
    view = build_overview(
        [admitted, lab, letter, later, elsewhere],
        relevance=RELEVANCE,
        profession="10",
        last_visit=None,
    )
    stay = next(e for e in view.episodes if e.establishment == "1990000000105")
    assert stay.key.entry == letter and len(stay.lines) == 4
    assert [e.end for e in view.episodes] == sorted((e.end for e in view.episodes), reverse=True)
    # Beyond the gap, a new episode.
    gone = entry("11488-4", day=5 + EPISODE_GAP.days + 1)
    again = build_overview([letter, gone], relevance=RELEVANCE, profession="10", last_visit=None)
    assert len(again.episodes) == 2


def test_new_since_the_last_visit_and_nothing_new_on_a_first_visit() -> None:
    old, fresh = entry(day=0), entry(day=10)
    never = build_overview([old, fresh], relevance=RELEVANCE, profession="10", last_visit=None)
    assert not any(e.new for e in never.episodes)
    visited = build_overview(
        [old, fresh], relevance=RELEVANCE, profession="10", last_visit=T0 + dt.timedelta(days=5)
    )
    assert [line.entry for e in visited.episodes for line in e.lines if line.new] == [fresh]


entries = st.lists(
    st.builds(
        lambda t, day, hours, org, same, superseded: entry(
            t,
            day=day,
            act_end=T0 + dt.timedelta(days=day, hours=hours),
            establishment=org,
            sha256="same" if same else uuid.uuid4().hex,
            status="superseded" if superseded else "current",
        ),
        st.sampled_from(TYPES),
        st.integers(0, 60),
        st.integers(0, 100),
        st.sampled_from([None, "1990000000105", "3990000000101"]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=40,
).map(lambda items: _chain(items))


def _chain(items: list[Entry]) -> list[Entry]:
    """Link each superseded entry to a later entry of the list (a replacement), sometimes."""
    linked = list(items)
    for n, item in enumerate(items):
        if item.status == "superseded" and n + 1 < len(items) and n % 2 == 0:
            nxt = linked[n + 1]
            linked[n + 1] = Entry(
                **{**{s: getattr(nxt, s) for s in Entry.__slots__}, "replaces_id": item.id}
            )
    return linked


@settings(max_examples=200, deadline=None)
@given(entries, st.sampled_from(["10", "21", "60", "70", None]))
def test_every_document_is_shown_exactly_once_and_episodes_are_newest_first(
    items: list[Entry], profession: str | None
) -> None:
    view = build_overview(items, relevance=RELEVANCE, profession=profession, last_visit=T0)
    lines = [line for e in view.episodes for line in e.lines]
    shown = [line.entry for line in lines] + [f.entry for line in lines for f in line.folded]
    assert sorted(str(e.id) for e in shown) == sorted(str(e.id) for e in items)
    assert [e.end for e in view.episodes] == sorted((e.end for e in view.episodes), reverse=True)
    for episode in view.episodes:
        assert episode.key.rank == min(line.rank for line in episode.lines)
        assert len({line.entry.establishment for line in episode.lines}) == 1 or (
            episode.establishment is None
        )
    rule = RELEVANCE.rule(profession)
    assert [line.rank for line in view.first] == sorted(line.rank for line in view.first)
    for line in view.first + view.pinned:
        assert line.entry.status == "current" and line in lines
    assert all(line.entry.type_code in rule.pinned for line in view.pinned)
