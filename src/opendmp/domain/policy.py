"""THE access rules: ``decide(actor, action, facts) -> Decision``.

Pure and total: every (actor, action, facts) gets a decision with a stable reason code, and
no input makes it raise. Services gather the facts, call it before touching data and audit
its answer, allowed or denied. Rules are checked in the order of docs/rules.md §3.1: record
state, actor kind, block, basis of access (authorisation, care team, treating doctor,
emergency), then the document rules (matrix, masking, visibility, deletion, versions),
which live as data in ``read_rules`` so that the SQL filter compiles the same list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from opendmp.domain.actors import (
    AccessMode,
    Actor,
    CardKind,
    Caregiver,
    LegalRepresentative,
    Operator,
    Patient,
    Professional,
    System,
)
from opendmp.domain.delegations import Right
from opendmp.domain.policy_rules import (
    DocProperty,
    DocumentRule,
    Reason,
    document_has,
    first_refusal,
    has_normal_basis,
    is_emergency,
    no_basis,
    professional_access_refusal,
    read_rules,
)
from opendmp.domain.records import RecordStatus

__all__ = [
    "CAREGIVER_NEVER",
    "Action",
    "Decision",
    "DocumentFacts",
    "Facts",
    "Reason",
    "caregiver_may",
    "decide",
    "may_know_of_document",
    "read_rules",
]

DOCTOR = "10"  # TRE_G15: médecin


class Action(StrEnum):
    CHECK_EXISTENCE = "check-existence"
    CREATE_RECORD = "create-record"
    ANNOUNCE_RECORD = "announce-record"  # opt-out opening: tell a beneficiary (operator only)
    READ_RECORD_STATUS = "read-record-status"
    CLOSE = "close"
    REACTIVATE = "reactivate"
    REQUEST_DESTRUCTION = "request-destruction"
    DESTROY = "destroy"
    EXPORT = "export"
    SEARCH_DOCUMENTS = "search-documents"
    READ_DOCUMENT = "read-document"
    DEPOSIT = "deposit"
    READ_HISTORY = "read-history"
    REPLACE_DOCUMENT = "replace-document"
    DELETE_DOCUMENT = "delete-document"
    ARCHIVE_DOCUMENT = "archive-document"
    SET_VISIBILITY = "set-visibility"  # INVISIBLE_PATIENT / INVISIBLE_REPRESENTANTS_LEGAUX
    MASK_DOCUMENT = "mask-document"  # MASQUE_PS, both ways (mask and unmask)
    DECLARE_AUTHORIZATION = "declare-authorization"
    EXTEND_AUTHORIZATION = "extend-authorization"
    MANAGE_AUTHORIZATIONS = "manage-authorizations"  # list, revoke
    BLOCK = "block"  # block / unblock a professional or a structure
    SET_TREATING_DOCTOR = "set-treating-doctor"
    SET_EMERGENCY_CHOICES = "set-emergency-choices"
    OPEN_EMERGENCY_ACCESS = "open-emergency-access"
    MANAGE_REPRESENTATIVES = "manage-representatives"
    # Record a legal representative and issue their first credentials: the patient's side,
    # an operator, or an admission desk on documentary evidence (docs/rules.md §3.7).
    ADD_REPRESENTATIVE = "add-representative"
    # Added by the access-management services:
    READ_ACCESS_LIST = "read-access-list"  # who has access and why (patient, treating doctors)
    SET_NOTIFICATION_PREFERENCES = "set-notification-preferences"
    NARROW_MATRIX = "narrow-matrix"  # the patient's own matrix (§3.6): read and change it
    # Delegations (§3.7): invite, list and revoke caregivers and a second representative.
    MANAGE_DELEGATIONS = "manage-delegations"
    # The invited person reads, accepts or refuses an invitation to another's record.
    ANSWER_INVITATION = "answer-invitation"


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the rules need to know of one document."""

    type_code: str = ""
    deleted: bool = False
    superseded: bool = False
    archived: bool = False
    masked: bool = False  # MASQUE_PS
    invisible_to_patient: bool = False  # INVISIBLE_PATIENT
    invisible_to_representatives: bool = False  # INVISIBLE_REPRESENTANTS_LEGAUX
    author_is_actor: bool = False  # the actor (same IdNat_PS) deposited/authored it
    author_organization_is_actors: bool = False  # the author's structure is the actor's
    deposited_by_patient: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules need to know, gathered by the service before asking.

    Record-level facts are about the acting professional (or patient) on this record; the
    document facts are present for document actions.
    """

    record_status: RecordStatus | None  # None: no record for this person
    is_subject: bool = False  # the actor is the record's patient
    is_representative: bool = False  # the actor is a legal representative of the patient
    blocked: bool = False  # the professional, or their organisation, is blocked
    authorized: bool = False  # a valid (unexpired) authorisation for this professional
    authorization_expired: bool = False
    care_team: bool = False  # their organisation is authorised and they are in its care team
    treating_doctor: bool = False  # médecin traitant DMP of this record
    emergency_open: bool = False  # a time-boxed emergency access is open for them
    # The patient's emergency choices (docs/rules.md §3.4), permit by default.
    allow_regulation: bool = True  # ETREAT
    allow_break_glass: bool = True  # BTG
    allow_masked_in_emergency: bool = True  # MASKED
    include_superseded: bool = False  # the request asks for superseded versions
    matrix_allows: bool = True  # the access matrix lets this profession read this type
    # The categories the patient took away from this professional (docs/rules.md §3.6).
    narrowed_categories: frozenset[str] = frozenset()
    document: DocumentFacts | None = None
    # Added by the access-rules work:
    blocked_may_deposit: bool = True  # §3.2 setting: a blocked professional may still deposit
    target_is_actor: bool = False  # the professional an action names is the actor themself
    target_blocked: bool = False  # the professional an action names is blocked by the patient
    target_is_doctor: bool = True  # the professional an action names is a doctor (TRE_G15 10)
    # A caregiver's live delegation on this record (§3.7): accepted, today within its
    # dates, not revoked; its rights. Empty for anyone else, or when there is none.
    delegation_rights: frozenset[Right] = frozenset()
    # The actor holds the one-time code of an invitation to this record that is open to
    # what they ask: reading it in any state, answering it while pending and unexpired.
    holds_invitation: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    access_mode: AccessMode = AccessMode.NORMAL  # to audit
    notify_patient: tuple[str, ...] = field(default_factory=tuple)  # notification kinds
    notify_treating_doctors: bool = False  # docs/rules.md §3.4: after any emergency access

    def __bool__(self) -> bool:
        return self.allowed


NOTIFY_ACCESS = "access"  # a professional read (the service checks the preferences)
NOTIFY_EMERGENCY = "emergency-access"  # always sent, also to the treating doctors
NOTIFY_NEW_DOCUMENT = "new-document"


def _mode(actor: Actor) -> AccessMode:
    # Only professionals reach a record in an emergency mode; others are audited as normal.
    return actor.access_mode if isinstance(actor, Professional) else AccessMode.NORMAL


def _allow(actor: Actor, *notify: str, treating_doctors: bool = False) -> Decision:
    return Decision(True, Reason.ALLOWED, _mode(actor), tuple(notify), treating_doctors)


def _deny(actor: Actor, reason: Reason) -> Decision:
    return Decision(False, reason, _mode(actor))


# --- Record state (docs/rules.md §2, §3.1.1) ------------------------------------------------------

_NO_RECORD_NEEDED = frozenset(
    {Action.CHECK_EXISTENCE, Action.CREATE_RECORD, Action.ANNOUNCE_RECORD}
)
# Lifecycle actions that make sense on a closed record; the state machine has the last word.
# EXPORT too: the patient keeps the right to take their data until the record is destroyed
# (issue 15; docs/rules.md §2); the actor rules still keep it to the patient.
_CLOSED_RECORD_OK = frozenset(
    {
        Action.READ_RECORD_STATUS,
        Action.REACTIVATE,
        Action.REQUEST_DESTRUCTION,
        Action.DESTROY,
        Action.EXPORT,
    }
)


def _record_state_refusal(
    actor: Actor, action: Action, status: RecordStatus | None
) -> Reason | None:
    if action in _NO_RECORD_NEEDED:
        return None
    if status is None:
        return Reason.RECORD_NOT_FOUND
    if status is RecordStatus.DESTROYED:
        # Nothing of a destroyed record is disclosed but its existence (CHECK_EXISTENCE).
        return Reason.RECORD_DESTROYED
    # docs/rules.md §2: a closed record can be neither read nor fed.
    if status is RecordStatus.CLOSED and action not in _CLOSED_RECORD_OK:
        return Reason.RECORD_CLOSED
    return None


def decide(actor: Actor, action: Action, facts: Facts) -> Decision:
    """Decide whether ``actor`` may perform ``action`` given ``facts``."""
    refusal = _record_state_refusal(actor, action, facts.record_status)
    if refusal is not None:
        return _deny(actor, refusal)
    match actor:
        case System():
            # The retention job destroys; the worker opens announced records (opt-out).
            if action in (Action.DESTROY, Action.CREATE_RECORD):
                return _allow(actor)
            return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
        case Operator():
            if action in _OPERATOR_ACTIONS:
                return _allow(actor)
            return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
        case Patient() if action is Action.ANSWER_INVITATION:
            return _answer_invitation(actor, facts)
        case Patient() | LegalRepresentative():
            return _decide_for_patient(actor, action, facts)
        case Caregiver():
            return _decide_for_caregiver(actor, action, facts)
        case Professional():
            return _decide_for_professional(actor, action, facts)


_OPERATOR_ACTIONS = frozenset(
    {
        Action.CHECK_EXISTENCE,
        Action.CREATE_RECORD,
        Action.ANNOUNCE_RECORD,  # opt-out opening (docs/rules.md §2), by batch
        Action.READ_RECORD_STATUS,
        Action.CLOSE,
        Action.REACTIVATE,
        Action.REQUEST_DESTRUCTION,
        Action.MANAGE_REPRESENTATIVES,  # by procedure, on documentary evidence
        Action.ADD_REPRESENTATIVE,
    }
)


# --- Document rules (docs/rules.md §3.1.4–6, §3.3): data in policy_rules ------------------


def _document_refusal(facts: Facts, rules: tuple[DocumentRule, ...]) -> Reason | None:
    doc = facts.document or DocumentFacts()
    rule = first_refusal(rules, lambda prop: document_has(facts, doc, prop))
    return None if rule is None else Reason(rule.reason)


# --- Patients and legal representatives (docs/rules.md §3.3) --------------------------------------

_REPRESENTATIVE_FORBIDDEN = frozenset(
    {
        # Export and visibility stay with the patient: a representative could otherwise read
        # or undo the minor's secret (INVISIBLE_REPRESENTANTS_LEGAUX).
        Action.EXPORT,
        Action.MANAGE_REPRESENTATIVES,
        Action.ADD_REPRESENTATIVE,
        Action.SET_VISIBILITY,
    }
)
# What the patient's side does to the record that needs no document: the patient, and a
# representative but for ``_REPRESENTATIVE_FORBIDDEN`` (MANAGE_DELEGATIONS included: a
# parent invites the minor's second representative, docs/rules.md §3.7).
_PATIENT_SIMPLE = frozenset(
    {
        Action.CHECK_EXISTENCE,
        Action.CREATE_RECORD,
        Action.READ_RECORD_STATUS,
        Action.SEARCH_DOCUMENTS,
        Action.DEPOSIT,
        Action.DECLARE_AUTHORIZATION,
        Action.MANAGE_AUTHORIZATIONS,
        Action.BLOCK,
        Action.SET_TREATING_DOCTOR,
        Action.SET_EMERGENCY_CHOICES,
        Action.READ_HISTORY,
        Action.EXPORT,
        Action.CLOSE,
        Action.REACTIVATE,
        Action.REQUEST_DESTRUCTION,
        Action.MANAGE_REPRESENTATIVES,
        Action.ADD_REPRESENTATIVE,
        Action.READ_ACCESS_LIST,
        Action.SET_NOTIFICATION_PREFERENCES,
        Action.NARROW_MATRIX,
        Action.MANAGE_DELEGATIONS,
    }
)
_PATIENT_ON_A_DOCUMENT = frozenset(
    {
        Action.READ_DOCUMENT,
        Action.MASK_DOCUMENT,
        Action.SET_VISIBILITY,
        Action.DELETE_DOCUMENT,
        Action.REPLACE_DOCUMENT,
        Action.ARCHIVE_DOCUMENT,
    }
)


def _decide_for_patient(
    actor: Patient | LegalRepresentative, action: Action, facts: Facts
) -> Decision:
    representative = isinstance(actor, LegalRepresentative)
    # A representative manages the record when ``is_representative`` (``is_subject`` is also
    # accepted for them: the lifecycle callers and tests set it for the managed record).
    manages = facts.is_representative or facts.is_subject if representative else facts.is_subject
    if not manages:
        return _deny(actor, Reason.NOT_OWN_RECORD)
    if representative and action in _REPRESENTATIVE_FORBIDDEN:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if action is Action.SET_TREATING_DOCTOR and not facts.target_is_doctor:
        return _deny(actor, Reason.NOT_A_DOCTOR)  # médecin traitant: a doctor, by definition
    if action in _PATIENT_SIMPLE:
        return _allow(actor)
    if action not in _PATIENT_ON_A_DOCUMENT:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    rules = read_rules(actor, facts)
    if action is not Action.READ_DOCUMENT:
        # One cannot act on what one cannot see; acting on an old version is allowed.
        rules = tuple(r for r in rules if r.forbidden is not DocProperty.SUPERSEDED)
    refusal = _document_refusal(facts, rules)
    if refusal is not None:
        return _deny(actor, refusal)
    doc = facts.document or DocumentFacts()
    if action is Action.DELETE_DOCUMENT and not doc.deposited_by_patient:
        return _deny(actor, Reason.NOT_OWN_DOCUMENT)  # §3.2: only their own uploads
    if action in {Action.REPLACE_DOCUMENT, Action.ARCHIVE_DOCUMENT}:
        if not doc.deposited_by_patient:
            return _deny(actor, Reason.NOT_AUTHOR)  # the patient is the author of uploads only
        if action is Action.REPLACE_DOCUMENT and doc.superseded:
            return _deny(actor, Reason.DOCUMENT_SUPERSEDED)
    return _allow(actor)


def _answer_invitation(actor: Patient, facts: Facts) -> Decision:
    # §3.7: a person answers with their own patient account, holding the invitation's code;
    # nobody is their own caregiver or representative. Accounts of representatives,
    # caregivers acting for someone and professionals are refused (``decide``'s match).
    if facts.is_subject:
        return _deny(actor, Reason.OWN_RECORD_INVITATION)
    if not facts.holds_invitation:
        return _deny(actor, Reason.NO_OPEN_INVITATION)
    return _allow(actor)


# --- Caregivers (docs/rules.md §3.7) --------------------------------------------------------------

# The right each action needs; an action not here is never a caregiver's, whatever the
# patient ticked: closing, reactivating, destruction, export, deposit, document management
# (masking, visibility, deletion), representatives and delegations stay with the patient.
_CAREGIVER_NEEDS: dict[Action, frozenset[Right]] = {
    Action.READ_RECORD_STATUS: frozenset(Right),  # either right opens the record's home
    Action.SEARCH_DOCUMENTS: frozenset({Right.DOCUMENTS}),
    Action.READ_DOCUMENT: frozenset({Right.DOCUMENTS}),
    Action.READ_HISTORY: frozenset({Right.DOCUMENTS}),  # it names the documents read
    **dict.fromkeys(
        (
            Action.READ_ACCESS_LIST,
            Action.DECLARE_AUTHORIZATION,
            Action.MANAGE_AUTHORIZATIONS,
            Action.BLOCK,
            Action.SET_TREATING_DOCTOR,
            Action.SET_EMERGENCY_CHOICES,
            Action.SET_NOTIFICATION_PREFERENCES,
            Action.NARROW_MATRIX,
        ),
        frozenset({Right.CHOICES}),
    ),
}
CAREGIVER_NEVER = frozenset(Action) - frozenset(_CAREGIVER_NEEDS)


def caregiver_may(action: Action, rights: frozenset[Right]) -> bool:
    """Whether ``rights`` cover ``action`` (the record-level part of the caregiver's rule):
    the portal shows what a caregiver may do from this, the policy decides with it."""
    needed = _CAREGIVER_NEEDS.get(action)
    return needed is not None and bool(needed & rights)


def _decide_for_caregiver(actor: Caregiver, action: Action, facts: Facts) -> Decision:
    if not facts.delegation_rights:
        # Pending, refused, revoked, expired, outside its dates, or of another record.
        return _deny(actor, Reason.NO_LIVE_DELEGATION)
    if action in CAREGIVER_NEVER:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if not caregiver_may(action, facts.delegation_rights):
        return _deny(actor, Reason.RIGHT_NOT_DELEGATED)
    if action is Action.SET_TREATING_DOCTOR and not facts.target_is_doctor:
        return _deny(actor, Reason.NOT_A_DOCTOR)
    if action is Action.READ_DOCUMENT:
        refusal = _document_refusal(facts, read_rules(actor, facts))
        if refusal is not None:
            return _deny(actor, refusal)
    return _allow(actor)


# --- Professionals (docs/rules.md §3.1, §3.2) -----------------------------------------------------

_PROFESSIONAL_ALWAYS = frozenset(
    {
        Action.CHECK_EXISTENCE,
        Action.READ_RECORD_STATUS,
        Action.CREATE_RECORD,
        Action.REACTIVATE,  # offered at the admission desk, the patient present (§2)
    }
)
_AUTHOR_ACTIONS = frozenset(
    {
        Action.REPLACE_DOCUMENT,
        Action.DELETE_DOCUMENT,
        Action.ARCHIVE_DOCUMENT,
        Action.SET_VISIBILITY,
    }
)


def _read_allowed(actor: Professional) -> Decision:
    if is_emergency(actor):
        # §3.4: after any emergency access the patient and the treating doctors are told.
        return _allow(actor, NOTIFY_EMERGENCY, treating_doctors=True)
    return _allow(actor, NOTIFY_ACCESS)


def _deposit(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.2: depositing needs no authorisation; a block stops it only if the setting says so.
    if facts.blocked and not facts.blocked_may_deposit:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    return _allow(actor, NOTIFY_NEW_DOCUMENT)


def _read(actor: Professional, action: Action, facts: Facts) -> Decision:
    cpe = actor.card_kind is CardKind.CPE
    if action is Action.OPEN_EMERGENCY_ACCESS and not is_emergency(actor) and not cpe:
        return _deny(actor, Reason.EMERGENCY_MODE_REQUIRED)
    refusal = professional_access_refusal(actor, facts)
    if refusal is None and action is Action.READ_DOCUMENT:
        refusal = _document_refusal(facts, read_rules(actor, facts))
    return _deny(actor, refusal) if refusal is not None else _read_allowed(actor)


def _manage_own_document(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.2: only the author, or the author's structure, manages a document it deposited.
    doc = facts.document or DocumentFacts()
    if not (doc.author_is_actor or doc.author_organization_is_actors):
        return _deny(actor, Reason.NOT_AUTHOR)
    if doc.deleted:
        return _deny(actor, Reason.DOCUMENT_DELETED)
    if action is Action.REPLACE_DOCUMENT and doc.superseded:
        return _deny(actor, Reason.DOCUMENT_SUPERSEDED)
    return _allow(actor)


def _mask(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.5: a professional sets MASQUE_PS at the patient's request, on a record they may
    # access (or on their own document).
    doc = facts.document or DocumentFacts()
    if actor.card_kind is CardKind.CPE:
        return _deny(actor, Reason.CPE_NEVER_READS)
    if facts.blocked:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    own = doc.author_is_actor or doc.author_organization_is_actors
    if not (own or has_normal_basis(facts)):
        return _deny(actor, no_basis(facts))
    if doc.deleted:
        return _deny(actor, Reason.DOCUMENT_DELETED)
    return _allow(actor)


def _declare_authorization(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.1: the professional records the patient's consent; a block is the patient's
    # will and no declaration overrides it.
    if facts.blocked:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    return _allow(actor)


def _extend_authorization(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.1: an authorised professional extends it to a colleague to whom care is entrusted.
    if actor.card_kind is CardKind.CPE:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if facts.blocked:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    if not has_normal_basis(facts):
        return _deny(actor, no_basis(facts))
    if facts.target_blocked:
        return _deny(actor, Reason.TARGET_BLOCKED)
    return _allow(actor)


def _set_treating_doctor(actor: Professional, action: Action, facts: Facts) -> Decision:
    # The patient names treating doctors; a doctor may name only themself, when declaring.
    if not facts.target_is_actor:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if actor.card_kind is CardKind.CPE:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if actor.profession != DOCTOR:
        return _deny(actor, Reason.NOT_A_DOCTOR)
    if facts.blocked:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    # Naming oneself rests on the patient's consent: the service asks with the facts of
    # the declaration it records in the same transaction.
    if not has_normal_basis(facts):
        return _deny(actor, no_basis(facts))
    return _allow(actor)


def _read_access_records(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.3: the patient sees who has access and the access history; the treating
    # doctors, who coordinate care, see them too (the FHIR AuditEvent search of the
    # API issue). Nobody else: the list itself tells who treats the patient.
    if actor.card_kind is CardKind.CPE or not facts.treating_doctor:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if facts.blocked:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    return _allow(actor)


def _always(actor: Professional, action: Action, facts: Facts) -> Decision:
    return _allow(actor)


def _add_representative(actor: Professional, action: Action, facts: Facts) -> Decision:
    # §3.7: the admission desk's staff (CPE: the establishment's employees), the person
    # present with their papers, as the desk opens records. A care professional (CPS) acts
    # for their patients' care, not for their family status; a blocked structure may not.
    if actor.card_kind is not CardKind.CPE:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    if facts.blocked:
        return _deny(actor, Reason.BLOCKED_BY_PATIENT)
    return _allow(actor)


_ProfessionalRule = Callable[[Professional, Action, Facts], Decision]

# One rule per action a professional may ask for; any other action is the patient's (§3.3)
# or the system's, and refused.
_PROFESSIONAL_RULES: dict[Action, _ProfessionalRule] = {
    **dict.fromkeys(_PROFESSIONAL_ALWAYS, _always),
    Action.DEPOSIT: _deposit,
    Action.SEARCH_DOCUMENTS: _read,
    Action.READ_DOCUMENT: _read,
    Action.OPEN_EMERGENCY_ACCESS: _read,
    **dict.fromkeys(_AUTHOR_ACTIONS, _manage_own_document),
    Action.MASK_DOCUMENT: _mask,
    Action.DECLARE_AUTHORIZATION: _declare_authorization,
    Action.EXTEND_AUTHORIZATION: _extend_authorization,
    Action.SET_TREATING_DOCTOR: _set_treating_doctor,
    Action.READ_ACCESS_LIST: _read_access_records,
    Action.READ_HISTORY: _read_access_records,
    Action.ADD_REPRESENTATIVE: _add_representative,
}


def _decide_for_professional(actor: Professional, action: Action, facts: Facts) -> Decision:
    rule = _PROFESSIONAL_RULES.get(action)
    if rule is None:
        return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
    return rule(actor, action, facts)


# --- Existence (docs/security.md, "Existence") ------------------------------------------------


def may_know_of_document(actor: Actor, facts: Facts) -> bool:
    """Whether ``actor`` may learn that the document of ``facts`` exists.

    Those who may read it (any version), or could but for its deletion (the last read
    rule), and its author or the author's structure (they deposited it). Everyone else is
    answered as if it did not exist, whatever the refusal of what they asked.
    """
    doc = facts.document or DocumentFacts()
    if doc.author_is_actor or doc.author_organization_is_actors:
        return True
    decision = decide(actor, Action.READ_DOCUMENT, replace(facts, include_superseded=True))
    return decision.allowed or decision.reason == Reason.DOCUMENT_DELETED
