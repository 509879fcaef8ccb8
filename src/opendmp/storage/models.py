"""SQLAlchemy models: every table of docs/architecture.md §4.

Every per-record table carries ``record_id`` so that the schema can be distributed by record
(Citus) and every per-record query names it. Constraint names follow one convention so that
migrations stay reviewable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    event,
    text,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import DDLCompiler

from opendmp.storage.scope import PARTITIONED_TABLES, PARTITIONS
from opendmp.storage.types import BigIntPK, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UUIDPK = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=uuid.uuid4)]
Timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime)]
OptTimestamp = Annotated[dt.datetime | None, mapped_column(UTCDateTime, nullable=True)]
Str32 = Annotated[str, mapped_column(String(32))]
Str64 = Annotated[str, mapped_column(String(64))]
Str128 = Annotated[str, mapped_column(String(128))]
Str255 = Annotated[str, mapped_column(String(255))]
OptStr64 = Annotated[str | None, mapped_column(String(64), nullable=True)]
OptStr255 = Annotated[str | None, mapped_column(String(255), nullable=True)]
RecordFK = Annotated[
    uuid.UUID, mapped_column(ForeignKey("record.id", ondelete="CASCADE"), index=True)
]
# The record id of a table partitioned by it (docs/database.md): part of the primary key,
# which on PostgreSQL must include the partition key.
RecordKey = Annotated[
    uuid.UUID,
    mapped_column(ForeignKey("record.id", ondelete="CASCADE"), primary_key=True, index=True),
]
# A folded search key compared by ranges (prefix search on a B-tree index): bytewise
# ("C") order on PostgreSQL, as SQLite's default BINARY collation (migration 0013).
SEARCH_KEY_128 = String(128).with_variant(String(128, collation="C"), "postgresql")
# Hash partitioning by record id on PostgreSQL (migration 0011); ignored by SQLite.
BY_RECORD = {"postgresql_partition_by": "HASH (record_id)"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Patient(Base):
    """The person, identified by the INS (matricule + OID) and the INS identity traits."""

    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("ins_value"),)

    id: Mapped[UUIDPK]
    ins_value: Mapped[str] = mapped_column(String(15))
    ins_oid: Mapped[Str64]
    birth_name: Mapped[Str128]
    given_names: Mapped[Str255]  # birth given names, space separated, in civil-status order
    first_given_name: Mapped[Str128]
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    birth_place_code: Mapped[str | None] = mapped_column(String(5), nullable=True)
    used_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    email: Mapped[OptStr255]
    mobile: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Record(Base):
    """The DMP itself: lifecycle state, patient choices and the wrapped data key."""

    __tablename__ = "record"
    __table_args__ = (UniqueConstraint("patient_id"),)

    id: Mapped[UUIDPK]
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[Timestamp]
    created_by: Mapped[Str128]
    creation_consent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    closed_at: Mapped[OptTimestamp]
    closure_reason: Mapped[OptStr64]
    closure_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    destroy_after: Mapped[OptTimestamp] = mapped_column(UTCDateTime, nullable=True, index=True)
    destruction_requested_at: Mapped[OptTimestamp]
    reactivated_at: Mapped[OptTimestamp]
    # Emergency-access choices (docs/rules.md §3.4): True = permit, the default.
    allow_regulation: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_break_glass: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_masked_in_emergency: Mapped[bool] = mapped_column(Boolean, default=True)
    # Notification preferences (docs/rules.md §5).
    notify_on_access: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_on_new_document: Mapped[bool] = mapped_column(Boolean, default=False)
    mask_new_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_language: Mapped[str] = mapped_column(String(8), default="fr")
    # Envelope encryption (docs/security.md): the record's data key wrapped by the
    # key-encryption key of epoch ``kek_epoch`` (None: by the master key directly, rows
    # written before epochs existed); ``master_key_id`` names the master key that wraps it.
    wrapped_data_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[OptStr64]
    kek_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Consent(Base):
    """A traced consent: who captured it, where, how, when, and the wording shown."""

    __tablename__ = "consent"
    __table_args__ = BY_RECORD

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordKey]
    kind: Mapped[Str32]  # creation, reactivation, authorization
    channel: Mapped[Str32]  # online, desk, pharmacy, professional, operator
    captured_by_kind: Mapped[Str32]
    captured_by_id: Mapped[Str128]
    captured_by_name: Mapped[OptStr255]
    place: Mapped[OptStr255]
    notice_version: Mapped[Str64]
    notice_sha256: Mapped[Str64]
    evidence_sha256: Mapped[Str64]
    captured_at: Mapped[Timestamp]


class Account(Base):
    """A patient's login to the portal."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("login"),)

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordFK]
    login: Mapped[Str64]
    password_hash: Mapped[Str255]
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The last TOTP time step accepted: a code is refused unless its step is later (no replay).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    password_expires_at: Mapped[OptTimestamp]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[OptTimestamp]
    created_at: Mapped[Timestamp]


class Representative(Base):
    """A legal representative of a minor (relation codes FTH, MTH, … RESPRSN)."""

    __tablename__ = "representative"
    __table_args__ = BY_RECORD

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordKey]
    relation: Mapped[str] = mapped_column(String(16))
    family_name: Mapped[Str128]
    given_name: Mapped[Str128]
    email: Mapped[OptStr255]
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[Timestamp]


class Delegation(Base):
    """A delegation the patient's side gave (docs/rules.md §3.7): a caregiver (aidant) with
    rights and dates, or a minor's second legal representative; invited by e-mail, then
    accepted by the person with their own account. ``expired`` is never stored (it is read
    off the clock, ``domain.delegations.state_of``)."""

    __tablename__ = "delegation"
    __table_args__ = (
        UniqueConstraint("code_hash", "record_id"),
        Index("ix_delegation_caregiver_account_id", "caregiver_account_id"),
        BY_RECORD,
    )

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordKey]
    kind: Mapped[str] = mapped_column(String(16))  # caregiver | representative
    relation: Mapped[str | None] = mapped_column(String(16), nullable=True)  # representatives
    rights: Mapped[str] = mapped_column(String(64), default="")  # "choices,documents"
    starts_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    ends_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    email: Mapped[Str255]  # where the invitation went
    status: Mapped[str] = mapped_column(String(16))  # pending | accepted | refused | revoked
    code_hash: Mapped[Str64]  # SHA-256 of the one-time code of the invitation link
    invited_by_kind: Mapped[Str32]
    invited_at: Mapped[Timestamp]
    invitation_expires_at: Mapped[Timestamp]
    answered_at: Mapped[OptTimestamp]
    # Who accepted: their own account (of their own record) and their name, shown to the
    # patient; NULL until accepted. Their account gone, the delegation gives nothing.
    caregiver_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("account.id", ondelete="SET NULL"), nullable=True
    )
    caregiver_name: Mapped[OptStr255]
    # A representative's acceptance adds a ``representative`` row of the record: this one.
    representative_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    revoked_at: Mapped[OptTimestamp]


class Professional(Base):
    """A health professional or establishment employee, by IdNat_PS."""

    __tablename__ = "professional"
    __table_args__ = (
        UniqueConstraint("idnat"),
        Index("ix_professional_family_key", "family_key"),
        Index("ix_professional_family_key_2", "family_key_2"),
        Index("ix_professional_family_key_3", "family_key_3"),
    )

    id: Mapped[UUIDPK]
    idnat: Mapped[Str32]
    profession: Mapped[str | None] = mapped_column(String(8), nullable=True)
    specialty: Mapped[OptStr64]
    card_kind: Mapped[str] = mapped_column(String(8), default="CPS")
    family_name: Mapped[Str128]
    given_name: Mapped[Str128]
    email: Mapped[OptStr255]
    created_at: Mapped[Timestamp]
    # What the RPPS extract says (services/directory/rpps.py, migration 0013): the import
    # that listed them last, whether the last full extract still did, where they practise,
    # and the folded search keys (services/directory/search.py).
    listing_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    listed_at: Mapped[OptTimestamp]
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    town: Mapped[str | None] = mapped_column(String(128), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    family_key: Mapped[str] = mapped_column(SEARCH_KEY_128, default="", server_default="")
    family_key_2: Mapped[str] = mapped_column(SEARCH_KEY_128, default="", server_default="")
    family_key_3: Mapped[str] = mapped_column(SEARCH_KEY_128, default="", server_default="")
    name_key: Mapped[str] = mapped_column(String(255), default="", server_default="")
    place_key: Mapped[str] = mapped_column(String(512), default="", server_default="")


class Organization(Base):
    """A structure (establishment, practice) by Struct_IdNat (1+FINESS, 3+SIRET, …)."""

    __tablename__ = "organization"
    __table_args__ = (UniqueConstraint("struct_idnat"),)

    id: Mapped[UUIDPK]
    struct_idnat: Mapped[Str32]
    name: Mapped[Str255]
    facility_type: Mapped[OptStr64]
    created_at: Mapped[Timestamp]


class Membership(Base):
    """A professional works for an organization, possibly in its care team."""

    __tablename__ = "membership"

    professional_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("professional.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    care_team: Mapped[bool] = mapped_column(Boolean, default=True)


class Authorization(Base):
    """Record × (professional | organization): authorized or blocked, by whom, when."""

    __tablename__ = "authorization"
    __table_args__ = (
        UniqueConstraint("record_id", "professional_id", "organization_id"),
        BY_RECORD,
    )

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordKey]
    professional_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("professional.id"), nullable=True
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(16))  # authorized | blocked | revoked
    granted_by_kind: Mapped[Str32]
    granted_by_id: Mapped[Str128]
    granted_at: Mapped[Timestamp]
    expires_at: Mapped[OptTimestamp]
    updated_at: Mapped[Timestamp]


class TreatingDoctor(Base):
    """A treating doctor of the record (médecin traitant DMP); several are allowed."""

    __tablename__ = "treating_doctor"
    __table_args__ = BY_RECORD

    record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record.id", ondelete="CASCADE"), primary_key=True
    )
    professional_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("professional.id"), primary_key=True
    )
    since: Mapped[Timestamp]
    named_by_kind: Mapped[Str32]


class EmergencyAccess(Base):
    """A time-boxed break-glass or regulation-centre access, with its justification."""

    __tablename__ = "emergency_access"
    __table_args__ = BY_RECORD

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordKey]
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professional.id"))
    mode: Mapped[Str32]  # break-glass | regulation
    justification: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]


class MatrixNarrowing(Base):
    """The patient's own matrix (docs/rules.md §3.6): a document category she took away
    from a profession [+ specialty; ``""`` for the whole profession]. Per record; the key
    starts with ``record_id``."""

    __tablename__ = "matrix_narrowing"
    __table_args__ = BY_RECORD

    record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record.id", ondelete="CASCADE"), primary_key=True
    )
    profession: Mapped[str] = mapped_column(String(8), primary_key=True)
    specialty: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    narrowed_by_kind: Mapped[Str32]
    narrowed_at: Mapped[Timestamp]


class SubmissionSet(Base):
    """One deposit: the XDS SubmissionSet / MHD SubmissionSet List."""

    __tablename__ = "submission_set"
    __table_args__ = (UniqueConstraint("record_id", "unique_id"), BY_RECORD)

    id: Mapped[UUIDPK]
    record_id: Mapped[RecordKey]
    unique_id: Mapped[Str128]
    source_id: Mapped[Str128]
    title: Mapped[OptStr255]
    content_type_code: Mapped[OptStr64]
    author_idnat: Mapped[OptStr64]
    author_name: Mapped[OptStr255]
    author_organization: Mapped[OptStr64]
    submitted_at: Mapped[Timestamp]
    entry_uuid: Mapped[OptStr64]
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)  # contained source, note…


class Document(Base):
    """A document entry: metadata, visibility flags, version links and its encrypted blob."""

    __tablename__ = "document"
    __table_args__ = (
        UniqueConstraint("record_id", "unique_id"),
        UniqueConstraint("entry_uuid", "record_id"),
        Index("ix_document_record_listing", "record_id", "status", "service_start"),
        # Keyset paging of searches (migration 0005).
        Index("ix_document_record_deposited", "record_id", "deposited_at", "id"),
        Index("ix_document_record_creation", "record_id", "creation_time", "id"),
        # A replacement and its submission set are in the document's record (migration 0011).
        ForeignKeyConstraint(["replaces_id", "record_id"], ["document.id", "document.record_id"]),
        ForeignKeyConstraint(
            ["submission_set_id", "record_id"], ["submission_set.id", "submission_set.record_id"]
        ),
        BY_RECORD,
    )

    id: Mapped[UUIDPK]  # logicalId: stable across metadata changes
    entry_uuid: Mapped[Str64]  # changes on every metadata change
    record_id: Mapped[RecordKey]
    unique_id: Mapped[Str128]  # the producer's business id
    status: Mapped[str] = mapped_column(String(16))  # current | superseded | deleted
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    masked_by_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    invisible_to_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    invisible_to_representatives: Mapped[bool] = mapped_column(Boolean, default=False)
    class_code: Mapped[Str32]
    type_code: Mapped[Str32]
    type_system: Mapped[Str64]
    format_code: Mapped[Str128]
    mime_type: Mapped[Str128]
    title: Mapped[Str255]
    language: Mapped[str] = mapped_column(String(16), default="fr-FR")
    author_professional_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("professional.id"), nullable=True
    )
    author_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id"), nullable=True
    )
    author_idnat: Mapped[OptStr64]
    author_name: Mapped[OptStr255]
    author_role: Mapped[OptStr64]
    author_specialty: Mapped[OptStr64]
    author_organization_idnat: Mapped[OptStr64]
    practice_setting: Mapped[OptStr64]
    facility_type: Mapped[OptStr64]
    event_codes: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    service_start: Mapped[OptTimestamp]
    service_stop: Mapped[OptTimestamp]
    creation_time: Mapped[Timestamp]
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[Str64]
    sha1: Mapped[str] = mapped_column(String(40))
    blob_key: Mapped[Str255]
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    submission_set_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # metadata version (meta.versionId)
    # FHIR/XDS metadata kept as given (contained author, authenticator, custodian, full
    # codings with displays, sourcePatientInfo, description…): canonical JSON, no search on it.
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)
    deposited_at: Mapped[Timestamp]
    deposited_by_kind: Mapped[Str32]  # professional | patient | system
    deposited_by_id: Mapped[Str128]
    updated_at: Mapped[Timestamp]
    deleted_at: Mapped[OptTimestamp]


class AuditChain(Base):
    """The head of one hash chain: a record's (its id) or the system's (``system``)."""

    __tablename__ = "audit_chain"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[Str64]


class AuditEvent(Base):
    """Append-only trace. Each event hashes its predecessor in the same chain.

    A request inserts its event unchained (``seq``, ``prev_hash``, ``hash`` NULL); the
    sequencer (audit/sequencer.py) chains it shortly after (docs/security.md, "The audit
    trail").
    """

    __tablename__ = "audit_event"
    # Partitioned by record id on PostgreSQL, system events (no record) included: there the
    # primary key (id) is the unique (id, record_id) NULLS NOT DISTINCT (migration 0011).
    __table_args__ = (
        # NULLs distinct: unchained events (seq NULL) are many per chain. The system chain's
        # (record_id NULL) seq numbers rest on the sequencer's head lock and on verify.
        UniqueConstraint("chain", "seq", "record_id"),
        UniqueConstraint("id", "record_id", postgresql_nulls_not_distinct=True),
        Index("ix_audit_event_record_time", "record_id", "time"),
        # The sequencer's work list: the events not chained yet (migration 0009).
        Index(
            "ix_audit_event_unchained",
            "chain",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
        {**BY_RECORD, "info": {"postgresql_primary_key": False}},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: not chained yet
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    time: Mapped[Timestamp]
    action: Mapped[Str64]  # area:subject:action
    outcome: Mapped[str] = mapped_column(String(16))  # success | denied | error
    reason: Mapped[OptStr64]
    actor_kind: Mapped[Str32]
    actor_id: Mapped[Str128]
    actor_name: Mapped[OptStr255]
    actor_profession: Mapped[OptStr64]
    actor_organization: Mapped[OptStr64]
    access_mode: Mapped[str] = mapped_column(String(16), default="normal")
    target_document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    client_address: Mapped[OptStr64]
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # canonical JSON
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The node's wall clock when the request inserted it (not hashed): how long it has waited
    # for the sequencer (``opendmp audit verify`` flags an old unchained event).
    inserted_at: Mapped[OptTimestamp]


class Outbox(Base):
    """A notification to deliver at least once, idempotently by its id."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # "Already told of this access today?" (migration 0005).
        Index("ix_outbox_record_kind_created", "record_id", "kind", "created_at"),
    )

    id: Mapped[UUIDPK]
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    kind: Mapped[Str64]
    channel: Mapped[str] = mapped_column(String(8), default="email")
    recipient: Mapped[Str255]
    language: Mapped[str] = mapped_column(String(8), default="fr")
    payload: Mapped[str] = mapped_column(Text)  # JSON; no health data
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Timestamp]
    created_at: Mapped[Timestamp]
    sent_at: Mapped[OptTimestamp]
    last_error: Mapped[OptStr255]


class KeyState(Base):
    """One row (id 1): the current key-encryption-key epoch (docs/security.md).

    The KEKs themselves are never stored here, only in the keyring files. Record creation
    reads this row with a shared lock and a rotation updates it under an exclusive one, so
    no record can be wrapped under an epoch that a rotation is retiring.
    ``shredded_upto`` is how many tombstones existed when the current epoch began: more
    tombstones than that means a destroyed record's key is still unwrappable by a live KEK.
    """

    __tablename__ = "key_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    current_epoch: Mapped[int] = mapped_column(Integer, default=0)
    shredded_upto: Mapped[int] = mapped_column(Integer, default=0)
    rotated_at: Mapped[OptTimestamp]


class RecordTombstone(Base):
    """What is left of a destroyed record: a hash of the INS, dates and the reason."""

    __tablename__ = "record_tombstone"

    id: Mapped[UUIDPK]
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    ins_hash: Mapped[Str64]
    created_at: Mapped[Timestamp]
    closed_at: Mapped[OptTimestamp]
    destroyed_at: Mapped[Timestamp]
    reason: Mapped[OptStr64]


class WebSession(Base):
    """A server-side session (portals). Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_session"

    id: Mapped[UUIDPK]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_kind: Mapped[Str32]  # patient | representative | professional
    subject_id: Mapped[Str128]  # account id, or IdNat_PS
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), nullable=True, index=True
    )
    attributes: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON (actor)
    csrf_secret: Mapped[Str64]
    stage: Mapped[str] = mapped_column(String(16), default="full")  # password-change, totp, full
    created_at: Mapped[Timestamp]
    last_seen_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]
    revoked_at: Mapped[OptTimestamp]
    client_address: Mapped[OptStr64]


class RateLimit(Base):
    """Fixed-window counters shared by every app node (login, token endpoints)."""

    __tablename__ = "rate_limit"

    key: Mapped[str] = mapped_column(String(191), primary_key=True)  # e.g. login:addr:1.2.3.4
    window_start: Mapped[Timestamp]
    count: Mapped[int] = mapped_column(Integer, default=0)


class SeenAssertion(Base):
    """Identifiers (jti) of accepted establishment assertions, to refuse replays."""

    __tablename__ = "seen_assertion"

    jti: Mapped[str] = mapped_column(String(191), primary_key=True)
    issuer: Mapped[Str128]
    expires_at: Mapped[Timestamp] = mapped_column(UTCDateTime, index=True)


class SeenVihf(Base):
    """IDs of accepted VIHF assertions (XDS.b), to refuse replays: shared by every node,
    kept until the assertion's NotOnOrAfter (docs/security.md, "VIHF")."""

    __tablename__ = "seen_vihf"

    # SHA-256 of structure and assertion ID: IDs are unique per issuer, their length is
    # the sender's choice.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    structure: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[Timestamp] = mapped_column(UTCDateTime, index=True)


class EstablishmentKey(Base):
    """A public key registered for an establishment to sign its staff assertions (VIHF)."""

    __tablename__ = "establishment_key"
    __table_args__ = (UniqueConstraint("struct_idnat", "kid"),)

    id: Mapped[UUIDPK]
    struct_idnat: Mapped[Str32]
    kid: Mapped[Str128]
    public_jwk: Mapped[str] = mapped_column(Text)  # JSON
    certificate_sha256: Mapped[OptStr64]  # the establishment's certificate, when bound to one
    registered_at: Mapped[Timestamp]
    revoked_at: Mapped[OptTimestamp]


class OneTimeCode(Base):
    """A one-time code (password reset, e-mail proof); only its hash is stored."""

    __tablename__ = "one_time_code"

    id: Mapped[UUIDPK]
    purpose: Mapped[Str32]  # password-reset | email-proof
    subject: Mapped[Str255]  # account id or e-mail address
    code_hash: Mapped[Str128]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]
    used_at: Mapped[OptTimestamp]


class IdentityRegistryEntry(Base):
    """The reference identities the desk and online creation check against.

    In production this is the national INSi teleservice; here a local table (filled by the
    demo) stands in for it. Not per-record: a person is in it whether they have a DMP or not.
    """

    __tablename__ = "identity_registry"
    __table_args__ = (UniqueConstraint("ins_value"),)

    id: Mapped[UUIDPK]
    ins_value: Mapped[str] = mapped_column(String(15))
    ins_oid: Mapped[Str64]
    birth_name: Mapped[Str128]
    given_names: Mapped[Str255]  # birth given names, space separated, civil-status order
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    birth_place_code: Mapped[str | None] = mapped_column(String(5), nullable=True)
    vitale_serial: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[Timestamp]


class OptOutAnnouncement(Base):
    """A beneficiary told that a DMP will open unless they object (docs/rules.md §2, opt-out).

    Not per-record: nobody has a record yet while it is announced (``record_id`` is set when
    it opens). Only a keyed digest of the notice's code is stored; the postal address is
    used for the letter and never stored.
    """

    __tablename__ = "opt_out_announcement"
    __table_args__ = (UniqueConstraint("ins_value"), UniqueConstraint("code_digest"))

    id: Mapped[UUIDPK]
    ins_value: Mapped[str] = mapped_column(String(15))
    ins_oid: Mapped[Str64]
    birth_name: Mapped[Str128]
    given_names: Mapped[Str255]  # birth given names, space separated, civil-status order
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    email: Mapped[OptStr255]
    notice_channel: Mapped[str] = mapped_column(String(16))  # email | letter
    code_digest: Mapped[Str64]
    status: Mapped[str] = mapped_column(String(16), index=True)  # announced | opened | opposed
    announced_at: Mapped[Timestamp]
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    opened_at: Mapped[OptTimestamp]
    opposed_at: Mapped[OptTimestamp]
    opposition_channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


@compiles(PrimaryKeyConstraint, "postgresql")
def _primary_key(
    constraint: PrimaryKeyConstraint, compiler: DDLCompiler, **kw: object
) -> str | None:
    """No primary key on PostgreSQL for a table that says so (audit_event: see above)."""
    if constraint.table.info.get("postgresql_primary_key", True):
        return compiler.visit_primary_key_constraint(constraint, **kw)
    return None


def _create_partitions(table: Table) -> None:
    for remainder in range(PARTITIONS):
        event.listen(
            table,
            "after_create",
            DDL(  # type: ignore[no-untyped-call]
                f'CREATE TABLE "{table.name}_p{remainder:02d}" PARTITION OF "{table.name}" '
                f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
            ).execute_if(dialect="postgresql"),
        )


for _name in PARTITIONED_TABLES:
    _create_partitions(Base.metadata.tables[_name])
