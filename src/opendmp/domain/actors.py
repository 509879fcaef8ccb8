"""Who acts: patients, their legal representatives, professionals, operators, the system.

Actors are built by the authentication layer (or the CLI) and handed to the services; the
domain never looks anyone up. Identifiers are strings: an INS for a patient, an IdNat_PS for
a professional, an operator's login.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AccessMode(StrEnum):
    """How a professional reaches a record (recorded on every audit event)."""

    NORMAL = "normal"
    BREAK_GLASS = "break-glass"  # accès en mode bris de glace
    REGULATION = "regulation"  # centre de régulation du SAMU (centre 15)


class ActorKind(StrEnum):
    PATIENT = "patient"
    REPRESENTATIVE = "representative"
    CAREGIVER = "caregiver"
    PROFESSIONAL = "professional"
    OPERATOR = "operator"
    SYSTEM = "system"


class CardKind(StrEnum):
    CPS = "CPS"  # professional card
    CPE = "CPE"  # establishment employee: may create records and deposit, never reads
    CPA = "CPA"


@dataclass(frozen=True, slots=True)
class Patient:
    """The holder of the record, signed in to the portal (or an app with a patient token)."""

    ins: str  # "OID|VALUE"
    name: str | None = None
    kind: ActorKind = ActorKind.PATIENT
    access_mode: AccessMode = AccessMode.NORMAL

    @property
    def actor_id(self) -> str:
        return self.ins


@dataclass(frozen=True, slots=True)
class LegalRepresentative:
    """A parent or guardian managing a minor's record."""

    representative_id: str
    patient_ins: str
    relation: str
    name: str | None = None
    kind: ActorKind = ActorKind.REPRESENTATIVE
    access_mode: AccessMode = AccessMode.NORMAL

    @property
    def actor_id(self) -> str:
        return self.representative_id


@dataclass(frozen=True, slots=True)
class Caregiver:
    """A relative acting on a patient's record under a delegation the patient gave
    (docs/rules.md §3.7): signed in with their own account, audited as themselves.

    ``caregiver_ins`` is their own INS (who they are, as a patient is by theirs);
    ``patient_ins`` the record they act on; what they may do there is the delegation's,
    read from the database on every request (``Facts.delegation_rights``).
    """

    caregiver_ins: str
    patient_ins: str
    delegation_id: str
    account_id: str
    name: str | None = None
    kind: ActorKind = ActorKind.CAREGIVER
    access_mode: AccessMode = AccessMode.NORMAL

    @property
    def actor_id(self) -> str:
        return self.caregiver_ins


@dataclass(frozen=True, slots=True)
class Professional:
    """A health professional or establishment employee, authenticated by card or token."""

    idnat: str
    profession: str | None
    specialty: str | None = None
    organization: str | None = None  # Struct_IdNat of the structure they act for
    card_kind: CardKind = CardKind.CPS
    name: str | None = None
    access_mode: AccessMode = AccessMode.NORMAL
    justification: str | None = None  # required for break-glass
    kind: ActorKind = ActorKind.PROFESSIONAL

    @property
    def actor_id(self) -> str:
        return self.idnat


@dataclass(frozen=True, slots=True)
class Operator:
    """A person running the platform (CLI): creates, closes and destroys records by procedure."""

    login: str
    name: str | None = None
    kind: ActorKind = ActorKind.OPERATOR
    access_mode: AccessMode = AccessMode.NORMAL

    @property
    def actor_id(self) -> str:
        return self.login


@dataclass(frozen=True, slots=True)
class System:
    """OpenDMP itself: retention job, reaper, worker."""

    component: str
    name: str | None = None
    kind: ActorKind = ActorKind.SYSTEM
    access_mode: AccessMode = AccessMode.NORMAL

    @property
    def actor_id(self) -> str:
        return self.component


Actor = Patient | LegalRepresentative | Caregiver | Professional | Operator | System
