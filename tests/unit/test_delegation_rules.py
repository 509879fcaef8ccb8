"""Delegations as pure rules (docs/rules.md §3.7): the caregiver's decision over every action ×
rights × delegation state, the state read off the clock, the invitation's dates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.domain.actors import Caregiver
from opendmp.domain.delegations import (
    Right,
    State,
    Status,
    check_dates,
    live_rights,
    parse_rights,
    state_of,
)
from opendmp.domain.errors import InvalidInput
from opendmp.domain.policy import CAREGIVER_NEVER, Action, DocumentFacts, Facts, decide
from opendmp.domain.records import RecordStatus

CAREGIVER = Caregiver(
    caregiver_ins="1.2.250.1.213.1.4.10|180017512300167",
    patient_ins="1.2.250.1.213.1.4.10|280017512300142",
    delegation_id="00000000-0000-0000-0000-000000000001",
    account_id="00000000-0000-0000-0000-000000000002",
    name="Camille TESTAIDANT",
)
NEEDS_DOCUMENTS = {Action.SEARCH_DOCUMENTS, Action.READ_DOCUMENT, Action.READ_HISTORY}
NEEDS_CHOICES = {
    Action.READ_ACCESS_LIST,
    Action.DECLARE_AUTHORIZATION,
    Action.MANAGE_AUTHORIZATIONS,
    Action.BLOCK,
    Action.SET_TREATING_DOCTOR,
    Action.SET_EMERGENCY_CHOICES,
    Action.SET_NOTIFICATION_PREFERENCES,
    Action.NARROW_MATRIX,
}
TODAY = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

rights_sets = st.frozensets(st.sampled_from(list(Right)))
dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))


def expected(action: Action, rights: frozenset[Right]) -> str:
    if not rights:
        return "no-live-delegation"
    if action in NEEDS_DOCUMENTS:
        return "allowed" if Right.DOCUMENTS in rights else "right-not-delegated"
    if action in NEEDS_CHOICES:
        return "allowed" if Right.CHOICES in rights else "right-not-delegated"
    if action is Action.READ_RECORD_STATUS:
        return "allowed"
    return "actor-not-permitted"


@given(action=st.sampled_from(list(Action)), rights=rights_sets)
def test_a_caregiver_may_do_exactly_what_the_live_rights_cover(
    action: Action, rights: frozenset[Right]
) -> None:
    facts = Facts(record_status=RecordStatus.ACTIVE, delegation_rights=rights)
    decision = decide(CAREGIVER, action, facts)
    assert decision.reason == expected(action, rights)
    assert decision.allowed is (decision.reason == "allowed")


@pytest.mark.parametrize(
    "action",
    [
        Action.CLOSE,
        Action.DESTROY,
        Action.REQUEST_DESTRUCTION,
        Action.REACTIVATE,
        Action.EXPORT,
        Action.DEPOSIT,
        Action.DELETE_DOCUMENT,
        Action.MASK_DOCUMENT,
        Action.SET_VISIBILITY,
        Action.MANAGE_REPRESENTATIVES,
        Action.MANAGE_DELEGATIONS,
    ],
)
def test_close_destroy_and_the_patients_own_acts_are_never_a_caregivers(action: Action) -> None:
    assert action in CAREGIVER_NEVER
    facts = Facts(record_status=RecordStatus.ACTIVE, delegation_rights=frozenset(Right))
    assert decide(CAREGIVER, action, facts).reason == "actor-not-permitted"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (DocumentFacts(invisible_to_patient=True), "invisible-to-patient"),
        (DocumentFacts(invisible_to_representatives=True), "invisible-to-representatives"),
        (DocumentFacts(deleted=True), "document-deleted"),
        (DocumentFacts(masked=True), "allowed"),  # what the patient sees
    ],
)
def test_a_caregiver_reads_what_the_patient_sees_less_the_minors_secrets(
    document: DocumentFacts, reason: str
) -> None:
    facts = Facts(
        record_status=RecordStatus.ACTIVE,
        delegation_rights=frozenset({Right.DOCUMENTS}),
        document=document,
    )
    assert decide(CAREGIVER, Action.READ_DOCUMENT, facts).reason == reason


def test_a_closed_record_is_closed_to_a_caregiver_too() -> None:
    facts = Facts(record_status=RecordStatus.CLOSED, delegation_rights=frozenset(Right))
    assert decide(CAREGIVER, Action.SEARCH_DOCUMENTS, facts).reason == "record-closed"


@given(
    status=st.sampled_from(list(Status)),
    rights=rights_sets,
    starts_on=dates,
    length=st.integers(min_value=0, max_value=400),
    today=dates,
)
def test_rights_are_live_only_when_accepted_and_today_within_the_dates(
    status: Status, rights: frozenset[Right], starts_on: dt.date, length: int, today: dt.date
) -> None:
    ends_on = starts_on + dt.timedelta(days=length)
    live = live_rights(status, rights, starts_on=starts_on, ends_on=ends_on, today=today)
    within = starts_on <= today <= ends_on
    assert live == (rights if status is Status.ACCEPTED and within else frozenset())


@given(
    status=st.sampled_from(list(Status)),
    expires_in=st.integers(min_value=-30, max_value=30),
    ends_in=st.integers(min_value=-30, max_value=30),
)
def test_expired_is_read_off_the_clock(status: Status, expires_in: int, ends_in: int) -> None:
    state = state_of(
        status,
        invitation_expires_at=NOW + dt.timedelta(days=expires_in),
        ends_on=TODAY + dt.timedelta(days=ends_in),
        now=NOW,
        today=TODAY,
    )
    if status is Status.PENDING:
        assert state is (State.EXPIRED if expires_in <= 0 else State.PENDING)
    elif status is Status.ACCEPTED:
        assert state is (State.EXPIRED if ends_in < 0 else State.ACCEPTED)
    else:
        assert state.value == status.value  # refused and revoked stay what they are


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "code"),
    [
        (TODAY - dt.timedelta(days=1), TODAY, "delegation-start-past"),
        (TODAY, TODAY - dt.timedelta(days=1), "delegation-end-before-start"),
        (TODAY, TODAY + dt.timedelta(days=5 * 366 + 1), "delegation-too-long"),
    ],
)
def test_an_invitations_dates_are_checked(starts_on: dt.date, ends_on: dt.date, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_dates(starts_on, ends_on, TODAY)
    assert caught.value.code == code


def test_a_one_day_delegation_today_is_fine() -> None:
    check_dates(TODAY, TODAY, TODAY)


@pytest.mark.parametrize(
    ("values", "code"),
    [((), "delegation-rights-required"), (("documents", "close"), "invalid-delegation-rights")],
)
def test_rights_are_known_and_at_least_one(values: tuple[str, ...], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rights(values)
    assert caught.value.code == code
