"""The record lifecycle, the creation consent and the lifecycle rules of the policy.

Pure domain: no database, no clock, no fixtures. Refusals come before successes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from opendmp.domain.actors import (
    CardKind,
    LegalRepresentative,
    Operator,
    Patient,
    Professional,
    System,
)
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind, require_express_consent
from opendmp.domain.errors import IllegalTransition, InvalidInput
from opendmp.domain.policy import Action, DocumentFacts, Facts, decide
from opendmp.domain.records import (
    ClosureReason,
    Lifecycle,
    RecordStatus,
    RetentionRules,
    add_years,
    close,
    destroy,
    is_due_for_destruction,
    new_lifecycle,
    reactivate,
    request_destruction,
)

RULES = RetentionRules()
CREATED = dt.datetime(2020, 1, 10, 8, 0, tzinfo=dt.UTC)
CLOSED_AT = dt.datetime(2021, 6, 1, 12, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2022, 1, 1, 0, 0, tzinfo=dt.UTC)
INS = "1.2.250.1.213.1.4.10|280017512300142"


# --- states ---------------------------------------------------------------------------


def active() -> Lifecycle:
    return new_lifecycle(CREATED)


def closed(reason: ClosureReason = ClosureReason.PATIENT_REQUEST) -> Lifecycle:
    return close(active(), reason=reason, text=None, now=CLOSED_AT, rules=RULES)


def closed_on_death() -> Lifecycle:
    return closed(ClosureReason.DEATH)


def destruction_requested() -> Lifecycle:
    return request_destruction(closed(), now=LATER, rules=RULES)


def destroyed() -> Lifecycle:
    lc = closed()
    assert lc.destroy_after is not None
    return destroy(lc, now=lc.destroy_after)


# --- illegal transitions ----------------------------------------------------------------


def _close(lc: Lifecycle) -> Lifecycle:
    return close(lc, reason=ClosureReason.OPERATOR, text=None, now=LATER, rules=RULES)


def _reactivate(lc: Lifecycle) -> Lifecycle:
    return reactivate(lc, now=LATER)


def _request_destruction(lc: Lifecycle) -> Lifecycle:
    return request_destruction(lc, now=LATER, rules=RULES)


def _destroy_now(lc: Lifecycle) -> Lifecycle:
    return destroy(lc, now=LATER)


def _destroy_far_later(lc: Lifecycle) -> Lifecycle:
    return destroy(lc, now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


ILLEGAL = [
    pytest.param(closed, _close, "record-already-closed", id="closing a closed record"),
    pytest.param(
        closed_on_death, _close, "record-already-closed", id="closing a record closed on death"
    ),
    pytest.param(destroyed, _close, "record-destroyed", id="closing a destroyed record"),
    pytest.param(active, _reactivate, "record-not-closed", id="reactivating an active record"),
    pytest.param(destroyed, _reactivate, "record-destroyed", id="reactivating a destroyed record"),
    pytest.param(
        closed_on_death,
        _reactivate,
        "record-closed-on-death",
        id="reactivating a record closed on the patient's death",
    ),
    pytest.param(
        active, _request_destruction, "record-not-closed", id="requesting destruction of active"
    ),
    pytest.param(
        destruction_requested,
        _request_destruction,
        "destruction-already-requested",
        id="requesting destruction twice",
    ),
    pytest.param(
        destroyed,
        _request_destruction,
        "record-destroyed",
        id="requesting destruction of a destroyed record",
    ),
    pytest.param(active, _destroy_far_later, "record-not-closed", id="destroying an active record"),
    pytest.param(
        closed, _destroy_now, "destruction-not-due", id="destroying before the retention ends"
    ),
    pytest.param(
        destruction_requested,
        _destroy_now,
        "destruction-not-due",
        id="destroying before the early destruction date",
    ),
    pytest.param(
        destroyed, _destroy_far_later, "record-destroyed", id="destroying a destroyed record"
    ),
]


@pytest.mark.parametrize(("state", "transition", "code"), ILLEGAL)
def test_an_illegal_transition_is_refused_with_its_stable_code(
    state: Callable[[], Lifecycle],
    transition: Callable[[Lifecycle], Lifecycle],
    code: str,
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(state())
    assert refused.value.code == code
    assert refused.value.http_status == 409


def test_a_closure_text_longer_than_2000_characters_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        close(active(), reason=ClosureReason.OPERATOR, text="x" * 2001, now=LATER, rules=RULES)
    assert refused.value.code == "text-too-long"


# --- legal transitions --------------------------------------------------------------------


def test_a_new_record_is_active() -> None:
    lc = new_lifecycle(CREATED)
    assert lc.status is RecordStatus.ACTIVE
    assert lc.created_at == CREATED
    assert lc.closed_at is None and lc.destroy_after is None


def test_closing_an_active_record_keeps_it_ten_years() -> None:
    lc = close(active(), reason=ClosureReason.FRAUD, text="note", now=CLOSED_AT, rules=RULES)
    assert lc.status is RecordStatus.CLOSED
    assert lc.closed_at == CLOSED_AT
    assert lc.closure_reason is ClosureReason.FRAUD
    assert lc.closure_text == "note"
    assert lc.destroy_after == dt.datetime(2031, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert lc.destruction_requested_at is None


def test_closing_does_not_mutate_the_previous_state() -> None:
    before = active()
    close(before, reason=ClosureReason.OPERATOR, text=None, now=CLOSED_AT, rules=RULES)
    assert before.status is RecordStatus.ACTIVE


def test_a_closure_text_of_exactly_2000_characters_is_accepted() -> None:
    lc = close(active(), reason=ClosureReason.OPERATOR, text="x" * 2000, now=LATER, rules=RULES)
    assert lc.closure_text is not None and len(lc.closure_text) == 2000


def test_closing_on_the_29th_of_february_destroys_on_the_28th_ten_years_later() -> None:
    leap = dt.datetime(2024, 2, 29, 10, 30, tzinfo=dt.UTC)
    lc = close(active(), reason=ClosureReason.OPERATOR, text=None, now=leap, rules=RULES)
    assert lc.destroy_after == dt.datetime(2034, 2, 28, 10, 30, tzinfo=dt.UTC)


def test_the_29th_of_february_is_kept_when_the_target_year_is_a_leap_year() -> None:
    leap = dt.datetime(2024, 2, 29, tzinfo=dt.UTC)
    assert add_years(leap, 4) == dt.datetime(2028, 2, 29, tzinfo=dt.UTC)


def test_the_retention_period_follows_the_configured_rules() -> None:
    lc = close(
        active(),
        reason=ClosureReason.OPERATOR,
        text=None,
        now=CLOSED_AT,
        rules=RetentionRules(years_after_closure=20),
    )
    assert lc.destroy_after == dt.datetime(2041, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "reason",
    [r for r in ClosureReason if r is not ClosureReason.DEATH],
    ids=lambda r: f"a record closed for {r.value} can be reactivated",
)
def test_reactivating_a_closed_record_makes_it_active_again(reason: ClosureReason) -> None:
    lc = reactivate(closed(reason), now=LATER)
    assert lc.status is RecordStatus.ACTIVE
    assert lc.reactivated_at == LATER
    assert lc.closed_at is None
    assert lc.closure_reason is None
    assert lc.closure_text is None
    assert lc.destroy_after is None
    assert lc.destruction_requested_at is None


def test_reactivating_a_record_whose_destruction_was_requested_cancels_the_request() -> None:
    lc = reactivate(destruction_requested(), now=LATER + dt.timedelta(days=1))
    assert lc.status is RecordStatus.ACTIVE
    assert lc.destruction_requested_at is None
    assert lc.destroy_after is None


def test_early_destruction_is_due_within_90_days_of_the_request() -> None:
    lc = request_destruction(closed(), now=LATER, rules=RULES)
    assert lc.status is RecordStatus.CLOSED
    assert lc.destruction_requested_at == LATER
    assert lc.destroy_after == LATER + dt.timedelta(days=90)


def test_early_destruction_never_postpones_the_normal_destruction_date() -> None:
    lc = closed()
    assert lc.destroy_after is not None
    near_the_end = lc.destroy_after - dt.timedelta(days=10)
    requested = request_destruction(lc, now=near_the_end, rules=RULES)
    assert requested.destroy_after == lc.destroy_after


def test_early_destruction_follows_the_configured_delay() -> None:
    lc = request_destruction(closed(), now=LATER, rules=RetentionRules(early_destruction_days=30))
    assert lc.destroy_after == LATER + dt.timedelta(days=30)


def test_a_closed_record_is_not_due_one_microsecond_before_its_date() -> None:
    lc = closed()
    assert lc.destroy_after is not None
    assert not is_due_for_destruction(lc, now=lc.destroy_after - dt.timedelta(microseconds=1))
    assert is_due_for_destruction(lc, now=lc.destroy_after)


def test_an_active_record_is_never_due_for_destruction() -> None:
    assert not is_due_for_destruction(active(), now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


def test_a_closed_record_is_destroyed_once_due() -> None:
    lc = closed()
    assert lc.destroy_after is not None
    gone = destroy(lc, now=lc.destroy_after + dt.timedelta(days=1))
    assert gone.status is RecordStatus.DESTROYED
    assert not is_due_for_destruction(gone, now=lc.destroy_after + dt.timedelta(days=2))


def test_a_record_whose_destruction_was_requested_is_destroyed_after_90_days() -> None:
    lc = destruction_requested()
    with pytest.raises(IllegalTransition):
        destroy(lc, now=LATER + dt.timedelta(days=89))
    assert destroy(lc, now=LATER + dt.timedelta(days=90)).status is RecordStatus.DESTROYED


# --- consent ------------------------------------------------------------------------------


def make_consent(**overrides: object) -> Consent:
    fields: dict[str, object] = {
        "kind": ConsentKind.CREATION,
        "channel": ConsentChannel.DESK,
        "captured_by_kind": "operator",
        "captured_by_id": "desk-1",
        "captured_by_name": None,
        "place": "Accueil",
        "notice_version": "2026-01",
        "notice_sha256": "a" * 64,
        "captured_at": dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC),
        "patient_confirmed": True,
    }
    fields.update(overrides)
    return Consent(**fields)  # type: ignore[arg-type]


def test_a_consent_the_person_did_not_confirm_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        require_express_consent(make_consent(patient_confirmed=False))
    assert refused.value.code == "consent-not-given"


def test_a_consent_with_a_naive_time_is_refused() -> None:
    naive = dt.datetime(2026, 1, 5, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(InvalidInput) as refused:
        require_express_consent(make_consent(captured_at=naive))
    assert refused.value.code == "invalid-consent"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"captured_by_id": ""}, id="a consent without its capturer is refused"),
        pytest.param({"notice_version": ""}, id="a consent without the notice version is refused"),
        pytest.param({"notice_sha256": "abc"}, id="a consent with a short notice hash is refused"),
    ],
)
def test_an_untraceable_consent_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as refused:
        require_express_consent(make_consent(**overrides))
    assert refused.value.code == "invalid-consent"


def test_a_confirmed_and_traced_consent_is_accepted() -> None:
    require_express_consent(make_consent())


def test_the_evidence_hash_is_stable_for_the_same_consent_and_subject() -> None:
    assert make_consent().evidence_sha256("subject") == make_consent().evidence_sha256("subject")
    assert len(make_consent().evidence_sha256("subject")) == 64


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(field, value, id=f"changing {field} changes the evidence hash")
        for field, value in [
            ("kind", ConsentKind.REACTIVATION),
            ("channel", ConsentChannel.ONLINE),
            ("captured_by_kind", "professional"),
            ("captured_by_id", "desk-2"),
            ("place", "Pharmacie"),
            ("notice_version", "2026-02"),
            ("notice_sha256", "b" * 64),
            ("captured_at", dt.datetime(2026, 1, 5, 9, 0, 1, tzinfo=dt.UTC)),
            ("patient_confirmed", False),
        ]
    ],
)
def test_the_evidence_hash_changes_with_any_consent_field(field: str, value: object) -> None:
    base = make_consent()
    changed = make_consent(**{field: value})
    assert changed.evidence_sha256("subject") != base.evidence_sha256("subject")


def test_the_evidence_hash_changes_with_the_capturer_name() -> None:
    base = make_consent(captured_by_name="DESK Camille")
    changed = dataclasses.replace(base, captured_by_name="SOMEONE Else")
    assert changed.evidence_sha256("subject") != base.evidence_sha256("subject")


def test_the_evidence_hash_is_the_same_for_the_same_instant_in_another_offset() -> None:
    utc = make_consent()
    paris = dataclasses.replace(
        utc, captured_at=utc.captured_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    )
    assert paris.captured_at == utc.captured_at
    assert paris.evidence_sha256("subject") == utc.evidence_sha256("subject")


def test_the_evidence_hash_is_bound_to_the_subject() -> None:
    consent = make_consent()
    assert consent.evidence_sha256("subject-a") != consent.evidence_sha256("subject-b")


# --- policy on the lifecycle ----------------------------------------------------------------

OPERATOR = Operator("op")
OWNER = Patient(ins=INS)
RETENTION = System("retention")
DOCTOR = Professional(idnat="810001234567", profession="10")
CPE = Professional(idnat="810001234568", profession="10", card_kind=CardKind.CPE)
PARENT = LegalRepresentative("rep-1", INS, "parent")
ACTIVE_OWN = Facts(RecordStatus.ACTIVE, is_subject=True)
CLOSED_OWN = Facts(RecordStatus.CLOSED, is_subject=True)

REFUSED = [
    pytest.param(
        Patient(ins="other"),
        Action.CLOSE,
        Facts(RecordStatus.ACTIVE, is_subject=False),
        "not-own-record",
        id="a patient may not close another person's record",
    ),
    pytest.param(
        Patient(ins="other"),
        Action.REACTIVATE,
        Facts(RecordStatus.CLOSED, is_subject=False),
        "not-own-record",
        id="a patient may not reactivate another person's record",
    ),
    pytest.param(
        Patient(ins="other"),
        Action.READ_RECORD_STATUS,
        Facts(RecordStatus.ACTIVE, is_subject=False),
        "not-own-record",
        id="a patient may not read another person's record status",
    ),
    pytest.param(
        OWNER, Action.DESTROY, CLOSED_OWN, "actor-not-permitted", id="a patient never destroys"
    ),
    pytest.param(
        OPERATOR,
        Action.DESTROY,
        Facts(RecordStatus.CLOSED),
        "actor-not-permitted",
        id="an operator never destroys directly",
    ),
    pytest.param(
        OPERATOR,
        Action.SEARCH_DOCUMENTS,
        Facts(RecordStatus.ACTIVE),
        "actor-not-permitted",
        id="an operator never searches documents",
    ),
    pytest.param(
        RETENTION,
        Action.CLOSE,
        Facts(RecordStatus.ACTIVE),
        "actor-not-permitted",
        id="the system may not close a record",
    ),
    pytest.param(
        RETENTION,
        Action.READ_DOCUMENT,
        Facts(RecordStatus.ACTIVE),
        "actor-not-permitted",
        id="the system may not read a document",
    ),
    pytest.param(
        RETENTION,
        Action.DESTROY,
        Facts(RecordStatus.DESTROYED),
        "record-destroyed",
        id="the system may not destroy a destroyed record",
    ),
    pytest.param(
        DOCTOR,
        Action.DEPOSIT,
        Facts(RecordStatus.CLOSED, authorized=True),
        "record-closed",
        id="a closed record refuses a deposit",
    ),
    pytest.param(
        DOCTOR,
        Action.READ_DOCUMENT,
        Facts(RecordStatus.CLOSED, authorized=True, document=DocumentFacts()),
        "record-closed",
        id="a closed record refuses a professional's read",
    ),
    pytest.param(
        OWNER,
        Action.READ_DOCUMENT,
        Facts(RecordStatus.CLOSED, is_subject=True, document=DocumentFacts()),
        "record-closed",
        id="a closed record refuses its own patient's read",
    ),
    pytest.param(
        OWNER, Action.CLOSE, CLOSED_OWN, "record-closed", id="a closed record cannot be closed"
    ),
    pytest.param(
        DOCTOR,
        Action.READ_RECORD_STATUS,
        Facts(RecordStatus.DESTROYED),
        "record-destroyed",
        id="a destroyed record refuses everything",
    ),
    pytest.param(
        CPE,
        Action.READ_DOCUMENT,
        Facts(RecordStatus.ACTIVE, authorized=True, care_team=True, treating_doctor=True),
        "cpe-never-reads",
        id="a CPE never reads even when authorised",
    ),
    pytest.param(
        CPE,
        Action.SEARCH_DOCUMENTS,
        Facts(RecordStatus.ACTIVE, authorized=True),
        "cpe-never-reads",
        id="a CPE never searches documents",
    ),
    pytest.param(
        DOCTOR,
        Action.CLOSE,
        Facts(RecordStatus.ACTIVE),
        "actor-not-permitted",
        id="a professional may not close a record",
    ),
    pytest.param(
        DOCTOR,
        Action.DESTROY,
        Facts(RecordStatus.CLOSED),
        "actor-not-permitted",
        id="a professional may not destroy a record",
    ),
    pytest.param(
        PARENT,
        Action.CLOSE,
        Facts(RecordStatus.ACTIVE, is_subject=False),
        "not-own-record",
        id="a representative may not close a record they do not manage",
    ),
]


@pytest.mark.parametrize(("actor", "action", "facts", "reason"), REFUSED)
def test_the_policy_refuses_with_its_reason(
    actor: object, action: Action, facts: Facts, reason: str
) -> None:
    decision = decide(actor, action, facts)  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.reason == reason


ALLOWED = [
    pytest.param(OPERATOR, Action.CLOSE, Facts(RecordStatus.ACTIVE), id="an operator may close"),
    pytest.param(
        OPERATOR, Action.REACTIVATE, Facts(RecordStatus.CLOSED), id="an operator may reactivate"
    ),
    pytest.param(
        OPERATOR,
        Action.REQUEST_DESTRUCTION,
        Facts(RecordStatus.CLOSED),
        id="an operator may request destruction",
    ),
    pytest.param(OPERATOR, Action.CREATE_RECORD, Facts(None), id="an operator may create a record"),
    pytest.param(OWNER, Action.CLOSE, ACTIVE_OWN, id="a patient may close their own record"),
    pytest.param(
        OWNER, Action.REACTIVATE, CLOSED_OWN, id="a patient may reactivate their own record"
    ),
    pytest.param(
        OWNER,
        Action.REQUEST_DESTRUCTION,
        CLOSED_OWN,
        id="a patient may request destruction of their own record",
    ),
    pytest.param(
        PARENT, Action.CLOSE, ACTIVE_OWN, id="a representative may close the record they manage"
    ),
    pytest.param(RETENTION, Action.DESTROY, Facts(RecordStatus.CLOSED), id="the system destroys"),
    pytest.param(
        DOCTOR,
        Action.REACTIVATE,
        Facts(RecordStatus.CLOSED),
        id="a professional may reactivate at the desk",
    ),
    pytest.param(
        DOCTOR, Action.DEPOSIT, Facts(RecordStatus.ACTIVE), id="an active record accepts deposits"
    ),
    pytest.param(
        CPE, Action.DEPOSIT, Facts(RecordStatus.ACTIVE), id="a CPE may deposit on an active record"
    ),
    pytest.param(
        DOCTOR,
        Action.READ_RECORD_STATUS,
        Facts(RecordStatus.CLOSED),
        id="a closed record's status can still be read",
    ),
]


@pytest.mark.parametrize(("actor", "action", "facts"), ALLOWED)
def test_the_policy_allows(actor: object, action: Action, facts: Facts) -> None:
    decision = decide(actor, action, facts)  # type: ignore[arg-type]
    assert decision.allowed
    assert decision.reason == "allowed"
