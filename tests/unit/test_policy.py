"""The access rules of docs/rules.md §3, one case per rule and per exception to it.

Refusals first, then what is allowed, then invariants over random actors
and facts (hypothesis).
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.domain.actors import (
    AccessMode,
    Actor,
    CardKind,
    LegalRepresentative,
    Operator,
    Patient,
    Professional,
    System,
)
from opendmp.domain.codes import DOCUMENT_TYPES, PROFESSIONS
from opendmp.domain.policy import Action, Decision, DocumentFacts, Facts, Reason, decide
from opendmp.domain.records import RecordStatus

INS = "1.2.250.1.213.1.4.10|280017512300142"
ORG = "1750000001"
DOCTOR = Professional("810000000017", "10", "SM54", organization=ORG, name="TESTPRO Doc")
NURSE = Professional("810000000025", "60", organization=ORG)
CPE = Professional("810000000033", "10", organization=ORG, card_kind=CardKind.CPE)
BREAK_GLASS = replace(
    DOCTOR, access_mode=AccessMode.BREAK_GLASS, justification="unconscious, vital risk"
)
BREAK_GLASS_UNJUSTIFIED = replace(DOCTOR, access_mode=AccessMode.BREAK_GLASS)
BREAK_GLASS_BLANK = replace(DOCTOR, access_mode=AccessMode.BREAK_GLASS, justification="   ")
SAMU = replace(DOCTOR, access_mode=AccessMode.REGULATION)
CPE_BREAK_GLASS = replace(CPE, access_mode=AccessMode.BREAK_GLASS, justification="urgent")
PATIENT = Patient(ins=INS)
PARENT = LegalRepresentative("rep-1", INS, "MTH")
OPERATOR = Operator("op")
RETENTION = System("retention")


def f(status: RecordStatus | None = RecordStatus.ACTIVE, /, **kwargs: Any) -> Facts:
    return Facts(status, **kwargs)


def doc(**kwargs: Any) -> DocumentFacts:
    return DocumentFacts(**{"type_code": "11488-4", **kwargs})


OWN = {"is_subject": True}
MANAGED = {"is_representative": True}
AUTH = {"authorized": True}
NARROW_PSY = frozenset({"mental-health"})
R, S, D = Action.READ_DOCUMENT, Action.SEARCH_DOCUMENTS, Action.DEPOSIT


def refusal(actor: Actor, action: Action, facts: Facts, reason: Reason, id: str) -> Any:
    return pytest.param(actor, action, facts, reason, id=id)


REFUSED = [
    # --- §3.1.1 record state
    refusal(DOCTOR, S, f(RecordStatus.CLOSED, **AUTH), Reason.RECORD_CLOSED,
            "a closed record refuses a professional's search"),
    refusal(PATIENT, S, f(RecordStatus.DESTROYED, **OWN), Reason.RECORD_DESTROYED,
            "a destroyed record refuses its patient's search"),
    refusal(PATIENT, D, f(RecordStatus.CLOSED, **OWN), Reason.RECORD_CLOSED,
            "a closed record cannot be fed by its patient"),
    refusal(DOCTOR, R, f(None, **AUTH, document=doc()), Reason.RECORD_NOT_FOUND,
            "a professional cannot read a record that does not exist"),
    refusal(DOCTOR, Action.READ_RECORD_STATUS, f(RecordStatus.DESTROYED), Reason.RECORD_DESTROYED,
            "a destroyed record discloses no status, only its existence"),
    refusal(BREAK_GLASS, R, f(RecordStatus.CLOSED, document=doc()), Reason.RECORD_CLOSED,
            "a closed record refuses even a break-glass read"),
    # --- §3.1.2 blocked professionals
    refusal(DOCTOR, R, f(blocked=True, **AUTH, document=doc()), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot read even when authorised"),
    refusal(DOCTOR, R, f(blocked=True, treating_doctor=True, document=doc()),
            Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot read even as treating doctor"),
    refusal(DOCTOR, S, f(blocked=True, care_team=True), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot search even in the care team"),
    refusal(BREAK_GLASS, R, f(blocked=True, document=doc()), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot read even in break-glass"),
    refusal(SAMU, R, f(blocked=True, document=doc()), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot read even through the SAMU regulation"),
    refusal(BREAK_GLASS, Action.OPEN_EMERGENCY_ACCESS, f(blocked=True), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot open an emergency access"),
    refusal(DOCTOR, D, f(blocked=True, blocked_may_deposit=False), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot deposit when the setting forbids it"),
    refusal(DOCTOR, Action.DECLARE_AUTHORIZATION, f(blocked=True), Reason.BLOCKED_BY_PATIENT,
            "a blocked professional cannot declare an authorisation over the patient's block"),
    refusal(DOCTOR, Action.EXTEND_AUTHORIZATION, f(blocked=True, **AUTH),
            Reason.BLOCKED_BY_PATIENT, "a blocked professional cannot extend an authorisation"),
    refusal(DOCTOR, Action.SET_TREATING_DOCTOR, f(blocked=True, target_is_actor=True),
            Reason.BLOCKED_BY_PATIENT, "a blocked doctor cannot name themself treating doctor"),
    refusal(DOCTOR, Action.MASK_DOCUMENT, f(blocked=True, **AUTH, document=doc()),
            Reason.BLOCKED_BY_PATIENT, "a blocked professional cannot mask a document"),
    # --- §3.1.3 basis of access
    refusal(DOCTOR, R, f(document=doc()), Reason.NOT_AUTHORIZED,
            "a professional without authorisation cannot read"),
    refusal(DOCTOR, S, f(), Reason.NOT_AUTHORIZED,
            "a professional without authorisation cannot search"),
    refusal(DOCTOR, R, f(authorization_expired=True, document=doc()),
            Reason.AUTHORIZATION_EXPIRED, "a professional whose authorisation expired cannot read"),
    refusal(DOCTOR, R, f(emergency_open=True, document=doc()), Reason.NOT_AUTHORIZED,
            "an open emergency access does not serve a read in normal mode"),
    refusal(DOCTOR, R, f(document=doc(author_is_actor=True)), Reason.NOT_AUTHORIZED,
            "depositing a document does not authorise its author to read the record"),
    refusal(CPE, R, f(**AUTH, care_team=True, treating_doctor=True, document=doc()),
            Reason.CPE_NEVER_READS, "a CPE never reads even when authorised"),
    refusal(CPE, S, f(**AUTH), Reason.CPE_NEVER_READS, "a CPE never searches documents"),
    refusal(CPE_BREAK_GLASS, R, f(document=doc()), Reason.CPE_NEVER_READS,
            "a CPE never reads even in break-glass"),
    # --- §3.1.3 / §3.4 emergency access
    refusal(BREAK_GLASS_UNJUSTIFIED, R, f(document=doc()), Reason.JUSTIFICATION_REQUIRED,
            "break-glass without a justification is refused"),
    refusal(BREAK_GLASS_BLANK, S, f(), Reason.JUSTIFICATION_REQUIRED,
            "break-glass with a blank justification is refused"),
    refusal(BREAK_GLASS, R, f(allow_break_glass=False, document=doc()),
            Reason.EMERGENCY_OPPOSED_BY_PATIENT,
            "break-glass is refused when the patient opposed BTG"),
    refusal(BREAK_GLASS, R, f(allow_break_glass=False, **AUTH, document=doc()),
            Reason.EMERGENCY_OPPOSED_BY_PATIENT,
            "an authorised professional claiming break-glass is held to BTG too"),
    refusal(SAMU, R, f(allow_regulation=False, document=doc()),
            Reason.EMERGENCY_OPPOSED_BY_PATIENT,
            "the SAMU regulation is refused when the patient opposed ETREAT"),
    refusal(BREAK_GLASS, Action.OPEN_EMERGENCY_ACCESS, f(allow_break_glass=False),
            Reason.EMERGENCY_OPPOSED_BY_PATIENT,
            "an emergency access cannot be opened against the patient's BTG choice"),
    refusal(DOCTOR, Action.OPEN_EMERGENCY_ACCESS, f(), Reason.EMERGENCY_MODE_REQUIRED,
            "an emergency access cannot be opened in normal mode"),
    # --- §3.1.4 access matrix
    refusal(DOCTOR, R, f(**AUTH, matrix_allows=False, document=doc()),
            Reason.TYPE_NOT_ALLOWED_FOR_PROFESSION,
            "the matrix refuses a type to an authorised professional"),
    refusal(DOCTOR, R, f(treating_doctor=True, matrix_allows=False, document=doc()),
            Reason.TYPE_NOT_ALLOWED_FOR_PROFESSION, "the matrix binds a treating doctor too"),
    refusal(BREAK_GLASS, R, f(matrix_allows=False, document=doc()),
            Reason.TYPE_NOT_ALLOWED_FOR_PROFESSION, "the matrix binds a break-glass read too"),
    refusal(DOCTOR, R, f(**AUTH, matrix_allows=False, document=doc(author_is_actor=True)),
            Reason.TYPE_NOT_ALLOWED_FOR_PROFESSION, "the matrix binds the document's author too"),
    # --- §3.1.5 masking
    refusal(DOCTOR, R, f(**AUTH, document=doc(masked=True)), Reason.MASKED_BY_PATIENT,
            "a masked document is hidden from an authorised professional"),
    refusal(NURSE, R, f(care_team=True, document=doc(masked=True)), Reason.MASKED_BY_PATIENT,
            "a masked document is hidden from the care team"),
    refusal(BREAK_GLASS, R, f(allow_masked_in_emergency=False, document=doc(masked=True)),
            Reason.MASKED_BY_PATIENT,
            "a masked document is hidden in break-glass when the patient refused MASKED"),
    refusal(SAMU, R, f(allow_masked_in_emergency=False, document=doc(masked=True)),
            Reason.MASKED_BY_PATIENT,
            "a masked document is hidden from the SAMU when the patient refused MASKED"),
    # --- §3.1.6 deleted and superseded documents
    refusal(DOCTOR, R, f(**AUTH, document=doc(deleted=True, author_is_actor=True)),
            Reason.DOCUMENT_DELETED, "a deleted document is never read, even by its author"),
    refusal(PATIENT, R, f(**OWN, document=doc(deleted=True)), Reason.DOCUMENT_DELETED,
            "a deleted document is never read by the patient"),
    refusal(DOCTOR, R, f(**AUTH, document=doc(superseded=True)), Reason.DOCUMENT_SUPERSEDED,
            "a superseded version is not read unless asked for"),
    refusal(PATIENT, R, f(**OWN, document=doc(superseded=True)), Reason.DOCUMENT_SUPERSEDED,
            "a superseded version is hidden from the patient unless asked for"),
    # --- §3.3 the patient and legal representatives
    refusal(PATIENT, R, f(**OWN, document=doc(invisible_to_patient=True)),
            Reason.INVISIBLE_TO_PATIENT,
            "an INVISIBLE_PATIENT document is hidden from the patient"),
    refusal(PARENT, R, f(**MANAGED, document=doc(invisible_to_patient=True)),
            Reason.INVISIBLE_TO_PATIENT,
            "an INVISIBLE_PATIENT document is hidden from a representative"),
    refusal(PARENT, R, f(**MANAGED, document=doc(invisible_to_representatives=True)),
            Reason.INVISIBLE_TO_REPRESENTATIVES,
            "an INVISIBLE_REPRESENTANTS_LEGAUX document is hidden from a representative"),
    refusal(PARENT, S, f(), Reason.NOT_OWN_RECORD,
            "a representative cannot search a record they do not manage"),
    refusal(Patient(ins="other"), R, f(document=doc()), Reason.NOT_OWN_RECORD,
            "a patient cannot read another person's document"),
    refusal(Patient(ins="other"), Action.CREATE_RECORD, f(None), Reason.NOT_OWN_RECORD,
            "a patient cannot create a record for someone else"),
    refusal(PATIENT, Action.OPEN_EMERGENCY_ACCESS, f(**OWN), Reason.ACTOR_NOT_PERMITTED,
            "a patient never opens an emergency access"),
    # --- §3.2 writing
    refusal(DOCTOR, Action.REPLACE_DOCUMENT, f(**AUTH, document=doc()), Reason.NOT_AUTHOR,
            "a professional who is not the author cannot replace a document"),
    refusal(DOCTOR, Action.DELETE_DOCUMENT, f(treating_doctor=True, document=doc()),
            Reason.NOT_AUTHOR, "a treating doctor who is not the author cannot delete a document"),
    refusal(DOCTOR, Action.ARCHIVE_DOCUMENT, f(**AUTH, document=doc()), Reason.NOT_AUTHOR,
            "a professional who is not the author cannot archive a document"),
    refusal(DOCTOR, Action.SET_VISIBILITY, f(**AUTH, document=doc()), Reason.NOT_AUTHOR,
            "a professional who is not the author cannot change a document's visibility"),
    refusal(DOCTOR, Action.REPLACE_DOCUMENT, f(document=doc(author_is_actor=True, superseded=True)),
            Reason.DOCUMENT_SUPERSEDED, "the author cannot replace a superseded version"),
    refusal(DOCTOR, Action.DELETE_DOCUMENT, f(document=doc(author_is_actor=True, deleted=True)),
            Reason.DOCUMENT_DELETED, "the author cannot delete a deleted document again"),
    refusal(PATIENT, Action.DELETE_DOCUMENT, f(**OWN, document=doc()), Reason.NOT_OWN_DOCUMENT,
            "the patient cannot delete a professional's document"),
    refusal(PATIENT, Action.REPLACE_DOCUMENT, f(**OWN, document=doc()), Reason.NOT_AUTHOR,
            "the patient cannot replace a professional's document"),
    refusal(PATIENT, Action.MASK_DOCUMENT, f(**OWN, document=doc(invisible_to_patient=True)),
            Reason.INVISIBLE_TO_PATIENT, "the patient cannot mask a document hidden from them"),
    refusal(PARENT, Action.SET_VISIBILITY, f(**MANAGED, document=doc()),
            Reason.ACTOR_NOT_PERMITTED,
            "a representative cannot change a document's visibility (the minor's secret)"),
    refusal(DOCTOR, Action.MASK_DOCUMENT, f(document=doc()), Reason.NOT_AUTHORIZED,
            "a professional cannot mask a document on a record they may not access"),
    refusal(CPE, Action.MASK_DOCUMENT, f(**AUTH, document=doc()), Reason.CPE_NEVER_READS,
            "a CPE cannot mask a document"),
    # --- §3.3 the patient's own powers
    refusal(DOCTOR, Action.BLOCK, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a professional cannot block anyone"),
    refusal(DOCTOR, Action.MANAGE_AUTHORIZATIONS, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a professional cannot revoke authorisations"),
    refusal(DOCTOR, Action.SET_EMERGENCY_CHOICES, f(treating_doctor=True),
            Reason.ACTOR_NOT_PERMITTED, "a professional cannot set the emergency choices"),
    refusal(DOCTOR, Action.READ_HISTORY, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "an authorised professional who is not a treating doctor cannot read the history"),
    refusal(DOCTOR, Action.READ_HISTORY, f(treating_doctor=True, blocked=True),
            Reason.BLOCKED_BY_PATIENT, "a blocked treating doctor cannot read the history"),
    refusal(DOCTOR, Action.EXPORT, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a professional cannot export the record"),
    refusal(PARENT, Action.EXPORT, f(**MANAGED), Reason.ACTOR_NOT_PERMITTED,
            "a representative cannot export the record"),
    refusal(PARENT, Action.MANAGE_REPRESENTATIVES, f(**MANAGED), Reason.ACTOR_NOT_PERMITTED,
            "a representative cannot manage the representatives"),
    refusal(PARENT, Action.ADD_REPRESENTATIVE, f(**MANAGED), Reason.ACTOR_NOT_PERMITTED,
            "a representative cannot record another one (they invite them: §3.7)"),
    refusal(CPE, Action.ADD_REPRESENTATIVE, f(blocked=True), Reason.BLOCKED_BY_PATIENT,
            "a blocked desk cannot record a representative"),
    refusal(DOCTOR, Action.ADD_REPRESENTATIVE, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a care professional does not record representatives"),
    refusal(DOCTOR, Action.MANAGE_DELEGATIONS, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a professional cannot invite caregivers"),
    refusal(PATIENT, Action.ANSWER_INVITATION, f(**OWN, holds_invitation=True),
            Reason.OWN_RECORD_INVITATION, "nobody is their own caregiver"),
    refusal(Patient(ins="1.2.250.1.213.1.4.10|180017512300167"), Action.ANSWER_INVITATION,
            f(), Reason.NO_OPEN_INVITATION, "an answered or expired invitation is closed"),
    refusal(PARENT, Action.ANSWER_INVITATION, f(**MANAGED, holds_invitation=True),
            Reason.ACTOR_NOT_PERMITTED, "a representative's account does not answer"),
    refusal(DOCTOR, Action.SET_TREATING_DOCTOR, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a professional cannot name another doctor treating doctor"),
    refusal(NURSE, Action.SET_TREATING_DOCTOR, f(**AUTH, target_is_actor=True),
            Reason.NOT_A_DOCTOR, "a nurse cannot name herself treating doctor"),
    refusal(CPE, Action.SET_TREATING_DOCTOR, f(target_is_actor=True), Reason.ACTOR_NOT_PERMITTED,
            "a CPE cannot name themself treating doctor"),
    refusal(DOCTOR, Action.EXTEND_AUTHORIZATION, f(), Reason.NOT_AUTHORIZED,
            "a professional without authorisation cannot extend one"),
    refusal(DOCTOR, Action.EXTEND_AUTHORIZATION, f(authorization_expired=True),
            Reason.AUTHORIZATION_EXPIRED, "an expired authorisation cannot be extended"),
    refusal(DOCTOR, Action.EXTEND_AUTHORIZATION, f(**AUTH, target_blocked=True),
            Reason.TARGET_BLOCKED, "an authorisation cannot be extended to a blocked colleague"),
    refusal(CPE, Action.EXTEND_AUTHORIZATION, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a CPE cannot extend an authorisation"),
    refusal(PATIENT, Action.EXTEND_AUTHORIZATION, f(**OWN), Reason.ACTOR_NOT_PERMITTED,
            "the patient grants directly rather than extending"),
    refusal(DOCTOR, Action.SET_TREATING_DOCTOR, f(target_is_actor=True), Reason.NOT_AUTHORIZED,
            "a doctor cannot name themself treating doctor without the patient's consent"),
    refusal(PATIENT, Action.SET_TREATING_DOCTOR, f(**OWN, target_is_doctor=False),
            Reason.NOT_A_DOCTOR, "the patient cannot name a nurse treating doctor"),
    refusal(DOCTOR, Action.READ_ACCESS_LIST, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "an authorised professional does not see who else has access"),
    refusal(DOCTOR, Action.READ_ACCESS_LIST, f(treating_doctor=True, blocked=True),
            Reason.BLOCKED_BY_PATIENT, "a blocked treating doctor does not see the access list"),
    refusal(PATIENT, Action.READ_ACCESS_LIST, f(), Reason.NOT_OWN_RECORD,
            "a patient does not see another record's access list"),
    refusal(DOCTOR, Action.SET_NOTIFICATION_PREFERENCES, f(treating_doctor=True),
            Reason.ACTOR_NOT_PERMITTED, "a professional cannot set the notification preferences"),
    refusal(DOCTOR, Action.NARROW_MATRIX, f(treating_doctor=True), Reason.ACTOR_NOT_PERMITTED,
            "a professional cannot change the patient's own matrix"),
    refusal(DOCTOR, R, f(treating_doctor=True, narrowed_categories=NARROW_PSY,
            document=doc(type_code="68599-0")), Reason.NARROWED_BY_PATIENT,
            "the patient's narrowing binds treating doctors"),
    refusal(BREAK_GLASS, R, f(narrowed_categories=NARROW_PSY, document=doc(type_code="68599-0")),
            Reason.NARROWED_BY_PATIENT, "the patient's narrowing binds emergency accesses"),
    # --- operators and the system
    refusal(OPERATOR, R, f(document=doc()), Reason.ACTOR_NOT_PERMITTED,
            "an operator never reads a document"),
    refusal(OPERATOR, Action.BLOCK, f(), Reason.ACTOR_NOT_PERMITTED,
            "an operator never blocks a professional"),
    refusal(RETENTION, S, f(), Reason.ACTOR_NOT_PERMITTED, "the system never searches documents"),
    refusal(DOCTOR, Action.DESTROY, f(RecordStatus.CLOSED), Reason.ACTOR_NOT_PERMITTED,
            "a professional never destroys a record"),
    refusal(DOCTOR, Action.ANNOUNCE_RECORD, f(None), Reason.ACTOR_NOT_PERMITTED,
            "a professional never announces an opt-out opening"),
    refusal(PATIENT, Action.ANNOUNCE_RECORD, f(None, **OWN), Reason.ACTOR_NOT_PERMITTED,
            "nor does the patient: announcing is an operator's batch"),
    refusal(RETENTION, Action.ANNOUNCE_RECORD, f(None), Reason.ACTOR_NOT_PERMITTED,
            "the system opens announced records, it does not announce them"),
    # --- lifecycle (§2), as the foundation had it
    refusal(DOCTOR, Action.CLOSE, f(**AUTH), Reason.ACTOR_NOT_PERMITTED,
            "a professional never closes a record"),
    refusal(DOCTOR, Action.REQUEST_DESTRUCTION, f(RecordStatus.CLOSED, treating_doctor=True),
            Reason.ACTOR_NOT_PERMITTED, "a professional never asks for destruction"),
    refusal(PATIENT, Action.REACTIVATE, f(RecordStatus.DESTROYED, **OWN), Reason.RECORD_DESTROYED,
            "a destroyed record cannot be reactivated"),
]  # fmt: skip


@pytest.mark.parametrize(("actor", "action", "facts", "reason"), REFUSED)
def test_the_policy_refuses(actor: Actor, action: Action, facts: Facts, reason: Reason) -> None:
    decision = decide(actor, action, facts)
    assert not decision.allowed
    assert decision.reason == reason
    assert decision.notify_patient == ()
    assert not decision.notify_treating_doctors


NORMAL, BTG, REG = AccessMode.NORMAL, AccessMode.BREAK_GLASS, AccessMode.REGULATION
ACCESS, EMERGENCY, NEW = ("access",), ("emergency-access",), ("new-document",)


def allowed(
    actor: Actor,
    action: Action,
    facts: Facts,
    id: str,
    notify: tuple[str, ...] = (),
    mode: AccessMode = NORMAL,
) -> Any:
    return pytest.param(actor, action, facts, notify, mode, id=id)


ALLOWED = [
    # --- reading by professionals
    allowed(DOCTOR, R, f(**AUTH, document=doc()), "an authorised professional reads", ACCESS),
    allowed(NURSE, R, f(care_team=True, document=doc()), "a care-team member reads", ACCESS),
    allowed(DOCTOR, R, f(treating_doctor=True, document=doc()), "a treating doctor reads", ACCESS),
    allowed(DOCTOR, S, f(**AUTH), "an authorised professional searches the record", ACCESS),
    allowed(DOCTOR, R, f(care_team=True, authorization_expired=True, document=doc()),
            "the care team reads even when a personal authorisation expired", ACCESS),
    allowed(BREAK_GLASS, R, f(document=doc()),
            "break-glass with a justification reads and warns patient and treating doctors",
            EMERGENCY, BTG),
    allowed(BREAK_GLASS, S, f(), "break-glass with a justification searches", EMERGENCY, BTG),
    allowed(BREAK_GLASS_UNJUSTIFIED, R, f(emergency_open=True, document=doc()),
            "break-glass inside an opened emergency access needs no new justification",
            EMERGENCY, BTG),
    allowed(SAMU, R, f(document=doc()), "the SAMU regulation reads without a justification",
            EMERGENCY, REG),
    allowed(SAMU, R, f(allow_break_glass=False, document=doc()),
            "opposing break-glass does not oppose the SAMU regulation", EMERGENCY, REG),
    allowed(BREAK_GLASS, R, f(allow_regulation=False, document=doc()),
            "opposing the SAMU regulation does not oppose break-glass", EMERGENCY, BTG),
    allowed(BREAK_GLASS, Action.OPEN_EMERGENCY_ACCESS, f(),
            "opening a break-glass access warns patient and treating doctors", EMERGENCY, BTG),
    # --- masking and its exceptions
    allowed(DOCTOR, R, f(**AUTH, document=doc(masked=True, author_is_actor=True)),
            "a masked document stays visible to its author", ACCESS),
    allowed(NURSE, R,
            f(care_team=True, document=doc(masked=True, author_organization_is_actors=True)),
            "a masked document stays visible to the author's organisation", ACCESS),
    allowed(DOCTOR, R, f(treating_doctor=True, document=doc(masked=True)),
            "a masked document stays visible to a treating doctor", ACCESS),
    allowed(BREAK_GLASS, R, f(document=doc(masked=True)),
            "a masked document is visible in break-glass when MASKED permits", EMERGENCY, BTG),
    allowed(SAMU, R, f(document=doc(masked=True)),
            "a masked document is visible to the SAMU when MASKED permits", EMERGENCY, REG),
    allowed(DOCTOR, R, f(**AUTH, include_superseded=True, document=doc(superseded=True)),
            "a superseded version is read when asked for", ACCESS),
    allowed(DOCTOR, R, f(**AUTH, document=doc(archived=True)),
            "an archived document is still read", ACCESS),
    # --- reading by the patient and representatives
    allowed(PATIENT, R, f(**OWN, document=doc(masked=True)), "the patient reads a masked document"),
    allowed(PATIENT, R, f(**OWN, document=doc(invisible_to_representatives=True)),
            "the patient reads a document hidden from their representatives"),
    allowed(PATIENT, R, f(**OWN, include_superseded=True, document=doc(superseded=True)),
            "the patient reads a superseded version when asked for"),
    allowed(PARENT, R, f(**MANAGED, document=doc(masked=True)),
            "a representative reads a document of the record they manage"),
    allowed(PATIENT, R, f(**OWN, matrix_allows=False, document=doc()),
            "the matrix does not bind the patient"),
    allowed(PATIENT, S, f(**OWN), "the patient searches their record"),
    # --- depositing (§3.2)
    allowed(DOCTOR, D, f(), "depositing needs no authorisation", NEW),
    allowed(DOCTOR, D, f(blocked=True), "a blocked professional may still deposit by default", NEW),
    allowed(CPE, D, f(), "a CPE may deposit", NEW),
    allowed(PATIENT, D, f(**OWN), "the patient adds their own documents"),
    # --- always answerable (TD0.2) and the desk
    allowed(DOCTOR, Action.CHECK_EXISTENCE, f(None, blocked=True),
            "a blocked professional may still check that a record exists"),
    allowed(DOCTOR, Action.READ_RECORD_STATUS, f(blocked=True),
            "a blocked professional may still read the record's status"),
    allowed(CPE, Action.CHECK_EXISTENCE, f(RecordStatus.DESTROYED),
            "a CPE may check existence even of a destroyed record"),
    allowed(CPE, Action.CREATE_RECORD, f(None), "a CPE may create a record at the desk"),
    allowed(PATIENT, Action.CREATE_RECORD, f(None, **OWN), "a patient creates their own record"),
    # --- the author manages its documents (§3.2)
    allowed(DOCTOR, Action.REPLACE_DOCUMENT, f(document=doc(author_is_actor=True)),
            "the author replaces its document without any authorisation"),
    allowed(NURSE, Action.DELETE_DOCUMENT, f(document=doc(author_organization_is_actors=True)),
            "the author's organisation deletes the document"),
    allowed(DOCTOR, Action.ARCHIVE_DOCUMENT, f(blocked=True, document=doc(author_is_actor=True)),
            "a blocked author still archives its own document"),
    allowed(DOCTOR, Action.SET_VISIBILITY, f(document=doc(author_is_actor=True)),
            "the author changes the visibility of its document"),
    allowed(CPE, Action.REPLACE_DOCUMENT, f(document=doc(author_organization_is_actors=True)),
            "a CPE replaces a document of its establishment"),
    # --- the patient's powers (§3.3)
    allowed(PATIENT, Action.MASK_DOCUMENT, f(**OWN, document=doc()),
            "the patient masks a professional's document"),
    allowed(PATIENT, Action.MASK_DOCUMENT, f(**OWN, document=doc(masked=True, superseded=True)),
            "the patient unmasks an old version"),
    allowed(PATIENT, Action.DELETE_DOCUMENT, f(**OWN, document=doc(deposited_by_patient=True)),
            "the patient deletes a document they added"),
    allowed(PATIENT, Action.SET_VISIBILITY, f(**OWN, document=doc()),
            "the patient hides a document from their representatives"),
    allowed(PATIENT, Action.BLOCK, f(**OWN), "the patient blocks a professional"),
    allowed(PARENT, Action.BLOCK, f(**MANAGED), "a representative blocks a professional"),
    allowed(PATIENT, Action.SET_TREATING_DOCTOR, f(**OWN), "the patient names a treating doctor"),
    allowed(PATIENT, Action.SET_EMERGENCY_CHOICES, f(**OWN), "the patient sets emergency choices"),
    allowed(PATIENT, Action.MANAGE_AUTHORIZATIONS, f(**OWN), "the patient revokes authorisations"),
    allowed(PATIENT, Action.DECLARE_AUTHORIZATION, f(**OWN), "the patient grants an authorisation"),
    allowed(PATIENT, Action.READ_HISTORY, f(**OWN), "the patient reads the access history"),
    allowed(PARENT, Action.READ_HISTORY, f(**MANAGED), "a representative reads the history"),
    allowed(PATIENT, Action.EXPORT, f(**OWN), "the patient exports their record"),
    allowed(PATIENT, Action.MANAGE_REPRESENTATIVES, f(**OWN),
            "the patient manages representatives"),
    allowed(OPERATOR, Action.MANAGE_REPRESENTATIVES, f(), "an operator records representatives"),
    allowed(CPE, Action.ADD_REPRESENTATIVE, f(), "an admission desk records a representative"),
    allowed(PATIENT, Action.MANAGE_DELEGATIONS, f(**OWN), "the patient invites a caregiver"),
    allowed(PARENT, Action.MANAGE_DELEGATIONS, f(**MANAGED),
            "a representative invites the second representative"),
    allowed(Patient(ins="1.2.250.1.213.1.4.10|180017512300167"), Action.ANSWER_INVITATION,
            f(holds_invitation=True), "the invited person answers with their own account"),
    allowed(PATIENT, Action.REQUEST_DESTRUCTION, f(RecordStatus.CLOSED, **OWN),
            "the patient asks for the destruction of their closed record"),
    allowed(PARENT, Action.REACTIVATE, f(RecordStatus.CLOSED, **MANAGED),
            "a representative reactivates the record they manage"),
    allowed(RETENTION, Action.DESTROY, f(RecordStatus.CLOSED), "the retention job destroys"),
    allowed(OPERATOR, Action.ANNOUNCE_RECORD, f(None), "an operator announces an opening"),
    allowed(RETENTION, Action.CREATE_RECORD, f(None),
            "the system opens an announced record nobody objected to (opt-out)"),
    # --- authorisations declared and extended by professionals (§3.1)
    allowed(DOCTOR, Action.DECLARE_AUTHORIZATION, f(),
            "a professional declares the patient's consent"),
    allowed(CPE, Action.DECLARE_AUTHORIZATION, f(), "an admission desk records the consent"),
    allowed(DOCTOR, Action.EXTEND_AUTHORIZATION, f(**AUTH),
            "an authorised professional extends it"),
    allowed(NURSE, Action.EXTEND_AUTHORIZATION, f(care_team=True),
            "a care-team member extends an authorisation to a colleague"),
    allowed(DOCTOR, Action.SET_TREATING_DOCTOR, f(**AUTH, target_is_actor=True),
            "a doctor names themself treating doctor when declaring"),
    allowed(DOCTOR, Action.READ_ACCESS_LIST, f(treating_doctor=True),
            "a treating doctor sees who has access"),
    allowed(PATIENT, Action.READ_ACCESS_LIST, f(**OWN), "the patient sees who has access"),
    allowed(DOCTOR, Action.READ_HISTORY, f(treating_doctor=True),
            "a treating doctor reads the access history"),
    allowed(PARENT, Action.SET_NOTIFICATION_PREFERENCES, f(**MANAGED),
            "a representative sets the notification preferences"),
    allowed(PATIENT, Action.NARROW_MATRIX, f(**OWN), "the patient narrows her own matrix"),
    allowed(DOCTOR, R, f(**AUTH, narrowed_categories=NARROW_PSY,
            document=doc(type_code="68599-0", author_is_actor=True)),
            "the author reads his document whatever the patient narrowed", ACCESS),
    allowed(DOCTOR, R, f(**AUTH, narrowed_categories=NARROW_PSY,
            document=doc(type_code="11488-4")), "a narrowing takes away only its category", ACCESS),
    allowed(PATIENT, R, f(**OWN, narrowed_categories=NARROW_PSY,
            document=doc(type_code="68599-0")), "a narrowing never binds the patient"),
    allowed(DOCTOR, Action.MASK_DOCUMENT, f(**AUTH, document=doc()),
            "an authorised professional masks a document at the patient's request"),
]  # fmt: skip


@pytest.mark.parametrize(("actor", "action", "facts", "notify", "mode"), ALLOWED)
def test_the_policy_allows(
    actor: Actor, action: Action, facts: Facts, notify: tuple[str, ...], mode: AccessMode
) -> None:
    decision = decide(actor, action, facts)
    assert decision.allowed, decision.reason
    assert decision.reason == Reason.ALLOWED
    assert decision.notify_patient == notify
    assert decision.access_mode is mode
    assert decision.notify_treating_doctors is (notify == EMERGENCY)


def test_there_is_a_case_for_every_action_and_sixty_cases_at_least() -> None:
    cases = [*REFUSED, *ALLOWED]
    assert len(cases) >= 60
    assert {p.values[1] for p in cases} == set(Action)


# --- invariants -------------------------------------------------------------------------------

JUSTIFICATIONS = st.sampled_from([None, "", "  ", "unconscious, vital risk"])
professionals = st.builds(
    Professional,
    idnat=st.just(DOCTOR.idnat),
    profession=st.sampled_from([None, *PROFESSIONS]),
    specialty=st.sampled_from([None, "SM54", "SM42"]),
    organization=st.sampled_from([None, ORG]),
    card_kind=st.sampled_from(CardKind),
    access_mode=st.sampled_from(AccessMode),
    justification=JUSTIFICATIONS,
)
patients = st.builds(Patient, ins=st.sampled_from([INS, "other"]))
representatives = st.builds(
    LegalRepresentative,
    representative_id=st.just("rep"),
    patient_ins=st.just(INS),
    relation=st.just("FTH"),
)
actors = st.one_of(professionals, patients, representatives, st.just(OPERATOR), st.just(RETENTION))


def _booleans_for(cls: type) -> dict[str, st.SearchStrategy[bool]]:
    return {fl.name: st.booleans() for fl in dataclasses.fields(cls) if fl.type == "bool"}


documents = st.builds(
    DocumentFacts, type_code=st.sampled_from(["", *DOCUMENT_TYPES]), **_booleans_for(DocumentFacts)
)
facts_st = st.builds(
    Facts,
    record_status=st.sampled_from([None, *RecordStatus]),
    document=st.none() | documents,
    **_booleans_for(Facts),
)
READS = (Action.SEARCH_DOCUMENTS, Action.READ_DOCUMENT, Action.OPEN_EMERGENCY_ACCESS)


@given(actor=actors, action=st.sampled_from(Action), facts=facts_st)
def test_decide_is_total_and_its_reason_matches_its_verdict(
    actor: Actor, action: Action, facts: Facts
) -> None:
    decision = decide(actor, action, facts)
    assert isinstance(decision, Decision)
    assert decision.reason in set(Reason)
    assert decision.allowed is (decision.reason == Reason.ALLOWED)
    if not decision.allowed:
        assert decision.notify_patient == ()


@given(actor=professionals, action=st.sampled_from(READS), facts=facts_st)
def test_a_blocked_professional_never_reads(
    actor: Professional, action: Action, facts: Facts
) -> None:
    assert not decide(actor, action, replace(facts, blocked=True)).allowed


@given(actor=professionals, action=st.sampled_from(READS), facts=facts_st)
def test_a_cpe_never_reads(actor: Professional, action: Action, facts: Facts) -> None:
    cpe = replace(actor, card_kind=CardKind.CPE)
    assert not decide(cpe, action, facts).allowed


@given(actor=st.one_of(patients, representatives), facts=facts_st, document=documents)
def test_an_invisible_patient_document_never_reaches_the_patient_side(
    actor: Actor, facts: Facts, document: DocumentFacts
) -> None:
    hidden = replace(document, invisible_to_patient=True)
    assert not decide(actor, Action.READ_DOCUMENT, replace(facts, document=hidden)).allowed


@given(actor=representatives, facts=facts_st, document=documents)
def test_a_minors_secret_never_reaches_a_representative(
    actor: LegalRepresentative, facts: Facts, document: DocumentFacts
) -> None:
    hidden = replace(document, invisible_to_representatives=True)
    assert not decide(actor, Action.READ_DOCUMENT, replace(facts, document=hidden)).allowed


@given(actor=actors, action=st.sampled_from(READS), facts=facts_st)
def test_every_emergency_read_warns_the_patient_and_the_treating_doctors(
    actor: Actor, action: Action, facts: Facts
) -> None:
    decision = decide(actor, action, facts)
    if decision.allowed and isinstance(actor, Professional):
        emergency = actor.access_mode is not AccessMode.NORMAL
        assert decision.access_mode is actor.access_mode
        assert ("emergency-access" in decision.notify_patient) is emergency
        assert decision.notify_treating_doctors is emergency
        assert ("access" in decision.notify_patient) is not emergency


@given(actor=professionals, action=st.sampled_from(READS), facts=facts_st)
def test_a_professional_reads_only_with_a_basis_or_an_emergency(
    actor: Professional, action: Action, facts: Facts
) -> None:
    decision = decide(actor, action, facts)
    if decision.allowed:
        assert facts.record_status is RecordStatus.ACTIVE
        assert (
            facts.authorized
            or facts.care_team
            or facts.treating_doctor
            or actor.access_mode is not AccessMode.NORMAL
        )
