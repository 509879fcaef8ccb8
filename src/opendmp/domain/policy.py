"""THE access rules: ``decide(actor, action, facts) -> Decision``.

Pure and total: every (actor, action, facts) gets a decision with a stable reason code.
Services call it before touching data and audit its answer, allowed or denied.

This first version covers the record lifecycle and the basic document rules the foundation
needs (DMP-RULES §2, §3.2, §3.3 and the order of §3.1 with the facts available today);
the authorisation, emergency, matrix and masking details of §3 are completed by the
access-rules work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

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
from opendmp.domain.records import RecordStatus


class Action(StrEnum):
    CHECK_EXISTENCE = "check-existence"
    CREATE_RECORD = "create-record"
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


class Reason(StrEnum):
    ALLOWED = "allowed"
    RECORD_CLOSED = "record-closed"
    RECORD_DESTROYED = "record-destroyed"
    NOT_OWN_RECORD = "not-own-record"
    ACTOR_NOT_PERMITTED = "actor-not-permitted"
    CPE_NEVER_READS = "cpe-never-reads"
    BLOCKED_BY_PATIENT = "blocked-by-patient"
    NOT_AUTHORIZED = "not-authorized"
    DOCUMENT_DELETED = "document-deleted"
    INVISIBLE_TO_PATIENT = "invisible-to-patient"
    INVISIBLE_TO_REPRESENTATIVES = "invisible-to-representatives"


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
    # The patient's emergency choices (DMP-RULES §3.4), permit by default.
    allow_regulation: bool = True  # ETREAT
    allow_break_glass: bool = True  # BTG
    allow_masked_in_emergency: bool = True  # MASKED
    include_superseded: bool = False  # the request asks for superseded versions
    matrix_allows: bool = True  # the access matrix lets this profession read this type
    document: DocumentFacts | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    access_mode: AccessMode = AccessMode.NORMAL
    notify_patient: tuple[str, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return self.allowed


def _allow(actor: Actor, *notify: str) -> Decision:
    return Decision(True, Reason.ALLOWED, actor.access_mode, tuple(notify))


def _deny(actor: Actor, reason: Reason) -> Decision:
    return Decision(False, reason, actor.access_mode)


_LIFECYCLE_BY_PATIENT = {Action.CLOSE, Action.REACTIVATE, Action.REQUEST_DESTRUCTION}
_OPERATOR_ACTIONS = {
    Action.CHECK_EXISTENCE,
    Action.CREATE_RECORD,
    Action.READ_RECORD_STATUS,
    Action.CLOSE,
    Action.REACTIVATE,
    Action.REQUEST_DESTRUCTION,
}
_NEEDS_ACTIVE_RECORD = {
    Action.CLOSE,
    Action.SEARCH_DOCUMENTS,
    Action.READ_DOCUMENT,
    Action.DEPOSIT,
    Action.EXPORT,
    Action.READ_HISTORY,
}


def decide(actor: Actor, action: Action, facts: Facts) -> Decision:
    """Decide whether ``actor`` may perform ``action`` given ``facts``."""
    status = facts.record_status
    if action is not Action.CHECK_EXISTENCE and action is not Action.CREATE_RECORD:
        if status is RecordStatus.DESTROYED:
            return _deny(actor, Reason.RECORD_DESTROYED)
        # DMP-RULES §2: a closed record can be neither read nor fed.
        if status is RecordStatus.CLOSED and action in _NEEDS_ACTIVE_RECORD:
            return _deny(actor, Reason.RECORD_CLOSED)
    match actor:
        case System():
            return (
                _allow(actor)
                if action is Action.DESTROY
                else _deny(actor, Reason.ACTOR_NOT_PERMITTED)
            )
        case Operator():
            if action in _OPERATOR_ACTIONS:
                return _allow(actor)
            return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
        case Patient() | LegalRepresentative():
            return _decide_for_patient(actor, action, facts)
        case Professional():
            return _decide_for_professional(actor, action, facts)


def _decide_for_patient(
    actor: Patient | LegalRepresentative, action: Action, facts: Facts
) -> Decision:
    if action is Action.CREATE_RECORD:
        return _allow(actor)  # online creation by the adult themself
    if not facts.is_subject:
        return _deny(actor, Reason.NOT_OWN_RECORD)
    if action is Action.READ_DOCUMENT:
        doc = facts.document or DocumentFacts()
        if doc.deleted:
            return _deny(actor, Reason.DOCUMENT_DELETED)
        # DMP-RULES §3.3: hidden from the patient, and from legal representatives.
        if doc.invisible_to_patient:
            return _deny(actor, Reason.INVISIBLE_TO_PATIENT)
        if isinstance(actor, LegalRepresentative) and doc.invisible_to_representatives:
            return _deny(actor, Reason.INVISIBLE_TO_REPRESENTATIVES)
        return _allow(actor)
    if action in _LIFECYCLE_BY_PATIENT or action in {
        Action.READ_RECORD_STATUS,
        Action.SEARCH_DOCUMENTS,
        Action.DEPOSIT,
        Action.EXPORT,
        Action.READ_HISTORY,
    }:
        return _allow(actor)
    return _deny(actor, Reason.ACTOR_NOT_PERMITTED)


def _decide_for_professional(actor: Professional, action: Action, facts: Facts) -> Decision:
    if action in {Action.CHECK_EXISTENCE, Action.CREATE_RECORD, Action.READ_RECORD_STATUS}:
        return _allow(actor)
    if action is Action.REACTIVATE:
        # Offered at the admission desk, with the patient present (DMP-RULES §2).
        return _allow(actor)
    if action is Action.DEPOSIT:
        # §3.2: depositing needs no authorisation while the record is active.
        return _allow(actor, "new-document")
    if action in {Action.SEARCH_DOCUMENTS, Action.READ_DOCUMENT}:
        if actor.card_kind is CardKind.CPE:
            return _deny(actor, Reason.CPE_NEVER_READS)
        # §3.1.2: a blocked professional never reads, emergency included.
        if facts.blocked:
            return _deny(actor, Reason.BLOCKED_BY_PATIENT)
        if not (facts.authorized or facts.care_team or facts.treating_doctor):
            return _deny(actor, Reason.NOT_AUTHORIZED)
        if facts.document is not None and facts.document.deleted:
            return _deny(actor, Reason.DOCUMENT_DELETED)
        return _allow(actor, "access")
    return _deny(actor, Reason.ACTOR_NOT_PERMITTED)
