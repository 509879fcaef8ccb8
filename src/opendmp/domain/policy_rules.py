"""Helpers of ``policy``: reason codes, the document rules as data, a professional's basis.

docs/rules.md §3.1 steps 4–6 and §3.3 say which documents a reader who reached the record may
see. Each step is one ``DocumentRule``: "the document must not have property X, unless it
has one of properties Y…". ``read_rules`` picks the rules for one reader (record-level facts
such as "is a treating doctor" decide which rules apply at all); ``policy.decide`` evaluates
them on one document's facts and ``storage.document_filter`` compiles the very same list
into a SQL condition. Keeping the rules as data is what makes the two agree by construction
(and the property-based test in tests/storage/test_document_filter.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from opendmp.domain.actors import (
    AccessMode,
    Actor,
    CardKind,
    Caregiver,
    LegalRepresentative,
    Professional,
)
from opendmp.domain.patient_matrix import category_of

if TYPE_CHECKING:  # the facts are policy's contract; this module only reads their fields
    from opendmp.domain.policy import DocumentFacts, Facts


class Reason(StrEnum):
    ALLOWED = "allowed"
    RECORD_NOT_FOUND = "record-not-found"
    RECORD_CLOSED = "record-closed"
    RECORD_DESTROYED = "record-destroyed"
    NOT_OWN_RECORD = "not-own-record"
    ACTOR_NOT_PERMITTED = "actor-not-permitted"
    CPE_NEVER_READS = "cpe-never-reads"
    BLOCKED_BY_PATIENT = "blocked-by-patient"
    NOT_AUTHORIZED = "not-authorized"
    AUTHORIZATION_EXPIRED = "authorization-expired"
    JUSTIFICATION_REQUIRED = "justification-required"
    EMERGENCY_OPPOSED_BY_PATIENT = "emergency-opposed-by-patient"
    EMERGENCY_MODE_REQUIRED = "emergency-mode-required"
    TYPE_NOT_ALLOWED_FOR_PROFESSION = "type-not-allowed-for-profession"
    NARROWED_BY_PATIENT = "narrowed-by-patient"
    MASKED_BY_PATIENT = "masked-by-patient"
    INVISIBLE_TO_PATIENT = "invisible-to-patient"
    INVISIBLE_TO_REPRESENTATIVES = "invisible-to-representatives"
    DOCUMENT_DELETED = "document-deleted"
    DOCUMENT_SUPERSEDED = "document-superseded"
    NOT_AUTHOR = "not-author"
    NOT_OWN_DOCUMENT = "not-own-document"
    NOT_A_DOCTOR = "not-a-doctor"
    TARGET_BLOCKED = "target-blocked-by-patient"
    NO_LIVE_DELEGATION = "no-live-delegation"  # §3.7: revoked, expired, not yet, not accepted
    RIGHT_NOT_DELEGATED = "right-not-delegated"  # §3.7: the patient did not give this right
    NO_OPEN_INVITATION = "no-open-invitation"  # §3.7: unknown, answered or expired code
    OWN_RECORD_INVITATION = "own-record-invitation"  # §3.7: one's own invitation


class DocProperty(StrEnum):
    """A property of a document, as seen by one reader."""

    TYPE_NOT_READABLE = "type-not-readable"  # the access matrix refuses the type to the reader
    NARROWED = "narrowed"  # the patient took the type's category away from the reader (§3.6)
    MASKED = "masked"  # MASQUE_PS
    INVISIBLE_TO_PATIENT = "invisible-to-patient"  # INVISIBLE_PATIENT
    INVISIBLE_TO_REPRESENTATIVES = "invisible-to-representatives"  # ..._REPRESENTANTS_LEGAUX
    DELETED = "deleted"
    SUPERSEDED = "superseded"
    AUTHORED_BY_ACTOR = "authored-by-actor"
    AUTHORED_BY_ACTORS_ORGANIZATION = "authored-by-actors-organization"


@dataclass(frozen=True, slots=True)
class DocumentRule:
    """The document must not have ``forbidden`` unless it has one of ``unless``."""

    forbidden: DocProperty
    reason: str  # a policy ``Reason`` (a StrEnum, hence a str)
    unless: tuple[DocProperty, ...] = ()

    def refuses(self, has: Callable[[DocProperty], bool]) -> bool:
        return has(self.forbidden) and not any(has(p) for p in self.unless)


def first_refusal(
    rules: Iterable[DocumentRule], has: Callable[[DocProperty], bool]
) -> DocumentRule | None:
    """The first rule (in the order of docs/rules.md §3.1) that refuses the document, if any."""
    for rule in rules:
        if rule.refuses(has):
            return rule
    return None


# --- The rules ---------------------------------------------------------------------------------


def is_emergency(actor: Actor) -> bool:
    return isinstance(actor, Professional) and actor.access_mode is not AccessMode.NORMAL


def read_rules(actor: Actor, facts: Facts) -> tuple[DocumentRule, ...]:
    """The document rules for ``actor`` reading this record, in the order of docs/rules.md §3.1.

    Only meaningful once the record-level verdict (``SEARCH_DOCUMENTS``) allows the reader;
    the SQL filter compiles exactly this list.
    """
    rules: list[DocumentRule] = []
    if isinstance(actor, Professional):
        rules.append(
            DocumentRule(DocProperty.TYPE_NOT_READABLE, Reason.TYPE_NOT_ALLOWED_FOR_PROFESSION)
        )
        # §3.6: the patient's own narrowing of the matrix binds every professional, emergency
        # and treating doctors included, except the document's author and author's structure.
        if facts.narrowed_categories:
            rules.append(
                DocumentRule(
                    DocProperty.NARROWED,
                    Reason.NARROWED_BY_PATIENT,
                    (DocProperty.AUTHORED_BY_ACTOR, DocProperty.AUTHORED_BY_ACTORS_ORGANIZATION),
                )
            )
        # §3.1.5: masked documents stay visible to their author and the author's structure,
        # to the treating doctors, and to an emergency access if the patient allowed MASKED.
        masked_visible = facts.treating_doctor or (
            is_emergency(actor) and facts.allow_masked_in_emergency
        )
        if not masked_visible:
            rules.append(
                DocumentRule(
                    DocProperty.MASKED,
                    Reason.MASKED_BY_PATIENT,
                    (DocProperty.AUTHORED_BY_ACTOR, DocProperty.AUTHORED_BY_ACTORS_ORGANIZATION),
                )
            )
    else:
        # §3.3: the patient does not see INVISIBLE_PATIENT; a representative acts for the
        # patient, so sees neither that nor INVISIBLE_REPRESENTANTS_LEGAUX; nor does a
        # caregiver (§3.7), who acts for the patient with less than a representative's say.
        rules.append(DocumentRule(DocProperty.INVISIBLE_TO_PATIENT, Reason.INVISIBLE_TO_PATIENT))
        if isinstance(actor, LegalRepresentative | Caregiver):
            rules.append(
                DocumentRule(
                    DocProperty.INVISIBLE_TO_REPRESENTATIVES, Reason.INVISIBLE_TO_REPRESENTATIVES
                )
            )
    rules.append(DocumentRule(DocProperty.DELETED, Reason.DOCUMENT_DELETED))
    if not facts.include_superseded:
        rules.append(DocumentRule(DocProperty.SUPERSEDED, Reason.DOCUMENT_SUPERSEDED))
    return tuple(rules)


def document_has(facts: Facts, doc: DocumentFacts, prop: DocProperty) -> bool:
    match prop:
        case DocProperty.TYPE_NOT_READABLE:
            return not facts.matrix_allows
        case DocProperty.NARROWED:
            return category_of(doc.type_code) in facts.narrowed_categories
        case DocProperty.MASKED:
            return doc.masked
        case DocProperty.INVISIBLE_TO_PATIENT:
            return doc.invisible_to_patient
        case DocProperty.INVISIBLE_TO_REPRESENTATIVES:
            return doc.invisible_to_representatives
        case DocProperty.DELETED:
            return doc.deleted
        case DocProperty.SUPERSEDED:
            return doc.superseded
        case DocProperty.AUTHORED_BY_ACTOR:
            return doc.author_is_actor
        case DocProperty.AUTHORED_BY_ACTORS_ORGANIZATION:
            return doc.author_organization_is_actors


# --- Record-level basis of a professional's access (docs/rules.md §3.1.2–3) --------------


def has_normal_basis(facts: Facts) -> bool:
    """§3.1.3 outside emergencies: authorisation, care team, or treating doctor."""
    return facts.authorized or facts.care_team or facts.treating_doctor


def no_basis(facts: Facts) -> Reason:
    return Reason.AUTHORIZATION_EXPIRED if facts.authorization_expired else Reason.NOT_AUTHORIZED


def professional_access_refusal(actor: Professional, facts: Facts) -> Reason | None:
    """Record-level steps 2–3 of §3.1 for reading (searching, reading, opening emergency).

    The access mode the actor claims is judged on its own terms: a normal access needs a
    normal basis; a break-glass or regulation access needs the patient not to oppose it
    (BTG / ETREAT) and, for break-glass, a justification (given now or when the emergency
    access was opened).
    """
    if actor.card_kind is CardKind.CPE:
        return Reason.CPE_NEVER_READS
    # §3.1.2: a blocked professional never reads, emergency included.
    if facts.blocked:
        return Reason.BLOCKED_BY_PATIENT
    match actor.access_mode:
        case AccessMode.NORMAL:
            return None if has_normal_basis(facts) else no_basis(facts)
        case AccessMode.BREAK_GLASS:
            if not facts.allow_break_glass:
                return Reason.EMERGENCY_OPPOSED_BY_PATIENT
            justified = bool(actor.justification and actor.justification.strip())
            if not (justified or facts.emergency_open):
                return Reason.JUSTIFICATION_REQUIRED
            return None
        case AccessMode.REGULATION:
            return None if facts.allow_regulation else Reason.EMERGENCY_OPPOSED_BY_PATIENT
