"""Record lifecycle use cases: create, show, close, reactivate, request destruction.

One function per intention; each asks the policy through the gate and writes its audit
event in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import start_chain
from opendmp.domain.actors import Actor, ActorKind
from opendmp.domain.consent import Consent, require_express_consent
from opendmp.domain.errors import Conflict, InvalidInput
from opendmp.domain.identifiers import TEST_INS_OIDS, Ins
from opendmp.domain.local_time import paris_date
from opendmp.domain.policy import Action, Facts
from opendmp.domain.records import (
    ClosureReason,
    Lifecycle,
    RecordStatus,
    close,
    new_lifecycle,
    reactivate,
    request_destruction,
)
from opendmp.services.accounts.patient_accounts import Credentials, create_account
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit, require
from opendmp.services.core.guarded import guarded
from opendmp.services.core.keys import seal_new_data_key
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.core.records import get_record, ins_hash, is_subject, lifecycle_of
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record, ins_value_taken
from opendmp.storage.uow import UnitOfWork

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE = re.compile(r"^\+?[0-9 .]{8,20}$")


@dataclass(frozen=True, slots=True)
class EmergencyChoices:
    """docs/rules.md §3.4; each permit by default."""

    allow_regulation: bool = True  # ETREAT
    allow_break_glass: bool = True  # BTG
    allow_masked_in_emergency: bool = True  # MASKED


@dataclass(frozen=True, slots=True)
class NewRecord:
    ins: Ins
    birth_name: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    sex: str
    consent: Consent
    birth_place_code: str | None = None
    used_name: str | None = None
    email: str | None = None
    mobile: str | None = None
    emergency: EmergencyChoices = EmergencyChoices()


@dataclass(frozen=True, slots=True)
class RecordView:
    record_id: uuid.UUID
    ins: str
    status: RecordStatus
    birth_name: str
    given_names: str
    birth_date: dt.date
    sex: str
    created_at: dt.datetime
    closed_at: dt.datetime | None
    closure_reason: str | None
    destroy_after: dt.datetime | None
    destruction_requested_at: dt.datetime | None
    emergency: EmergencyChoices
    # Login and one-time password, only on creation: printed once, never shown again.
    credentials: tuple[str, str] | None = None


def _apply(record: m.Record, lc: Lifecycle) -> None:
    record.status = lc.status.value
    record.closed_at = lc.closed_at
    record.closure_reason = lc.closure_reason.value if lc.closure_reason else None
    record.closure_text = lc.closure_text
    record.destroy_after = lc.destroy_after
    record.destruction_requested_at = lc.destruction_requested_at
    record.reactivated_at = lc.reactivated_at


def record_view(patient: m.Patient, record: m.Record) -> RecordView:
    return RecordView(
        record_id=record.id,
        ins=f"{patient.ins_oid}|{patient.ins_value}",
        status=RecordStatus(record.status),
        birth_name=patient.birth_name,
        given_names=patient.given_names,
        birth_date=patient.birth_date,
        sex=patient.sex,
        created_at=record.created_at,
        closed_at=record.closed_at,
        closure_reason=record.closure_reason,
        destroy_after=record.destroy_after,
        destruction_requested_at=record.destruction_requested_at,
        emergency=EmergencyChoices(
            record.allow_regulation, record.allow_break_glass, record.allow_masked_in_emergency
        ),
    )


def _validate(ctx: ServiceContext, req: NewRecord, now: dt.datetime) -> None:
    problems: list[str] = []
    if req.ins.oid in TEST_INS_OIDS and not ctx.accept_test_ins:
        problems.append("test INS (OID .10/.11) are refused in production")
    if not req.birth_name.strip():
        problems.append("the birth name is required")
    if not req.given_names or not all(g.strip() for g in req.given_names):
        problems.append("at least one given name is required")
    if req.sex not in {"F", "M"}:
        problems.append(f"sex must be F or M, got {req.sex!r}")
    if req.birth_date > paris_date(now):
        problems.append("the birth date is in the future")
    if req.birth_date.year < 1890:
        problems.append("the birth date is before 1890")
    if not req.email and not req.mobile:
        problems.append("a contact channel is required: an e-mail address or a mobile number")
    if req.email and not _EMAIL.match(req.email):
        problems.append("the e-mail address is not valid")
    if req.mobile and not _MOBILE.match(req.mobile):
        problems.append("the mobile number is not valid")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-record-request")


async def create_record(ctx: ServiceContext, *, actor: Actor, request: NewRecord) -> RecordView:
    """Create a DMP with the person's express consent (docs/rules.md §2)."""
    now = ctx.now()
    _validate(ctx, request, now)
    require_express_consent(request.consent)
    async with ctx.uow() as uow:
        session = uow.session
        existing = await find_record(session, request.ins)
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.CREATE_RECORD,
            facts=Facts(record_status=None, is_subject=is_subject(actor, request.ins)),
            audit_action=AuditAction.RECORD_CREATE,
            record_id=existing[1].id if existing else None,
        )
        if existing is not None:
            if existing[1].status == RecordStatus.CLOSED:
                raise Conflict(
                    "a closed record exists for this INS: reactivate it instead",
                    code="record-exists-closed",
                )
            raise Conflict("a record already exists for this INS", code="record-exists")
        if await ins_value_taken(session, request.ins.value):
            raise Conflict(
                "a record already exists for this INS value under another OID",
                code="record-exists",
            )
        _, credentials = await insert_record(ctx, session, actor=actor, request=request, now=now)
        await uow.commit()
        patient, record = await get_record(session, request.ins)
        return replace(
            record_view(patient, record),
            credentials=(credentials.login, credentials.one_time_password),
        )


async def insert_record(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    actor: Actor,
    request: NewRecord,
    now: dt.datetime,
) -> tuple[uuid.UUID, Credentials]:
    """The rows of a new record (patient, record, consent, audit chain and event, account,
    the "created" notification), in the caller's transaction: the caller has checked the
    request, asked the policy and made sure no record exists for the INS."""
    patient_id, record_id, consent_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lc = new_lifecycle(now)
    await session.execute(
        insert(m.Patient).values(
            id=patient_id,
            ins_value=request.ins.value,
            ins_oid=request.ins.oid,
            birth_name=request.birth_name.strip().upper(),
            given_names=" ".join(g.strip() for g in request.given_names),
            first_given_name=request.given_names[0].strip(),
            birth_date=request.birth_date,
            sex=request.sex,
            birth_place_code=request.birth_place_code,
            used_name=request.used_name,
            email=request.email,
            mobile=request.mobile,
        )
    )
    await session.execute(
        insert(m.Record).values(
            id=record_id,
            patient_id=patient_id,
            status=lc.status.value,
            created_at=now,
            created_by=f"{actor.kind.value}:{actor.actor_id}",
            creation_consent_id=consent_id,
            allow_regulation=request.emergency.allow_regulation,
            allow_break_glass=request.emergency.allow_break_glass,
            allow_masked_in_emergency=request.emergency.allow_masked_in_emergency,
            notify_on_access=True,
            notify_on_new_document=False,
            mask_new_documents=False,
            preferred_language="fr",
            **await seal_new_data_key(ctx, session),
        )
    )
    await _insert_consent(session, record_id, consent_id, request.consent, request.ins)
    await start_chain(session, record_id)
    await audit(
        ctx,
        session,
        actor=actor,
        action=AuditAction.RECORD_CREATE,
        record_id=record_id,
        details={"channel": request.consent.channel.value},
    )
    if actor.kind is not ActorKind.PATIENT and request.email:
        # docs/rules.md §2: creation by someone else is notified to the patient.
        await enqueue_notification(
            session,
            record_id=record_id,
            kind="record-created",
            recipient=request.email,
            payload={"channel": request.consent.channel.value, "at": now.isoformat()},
            now=now,
        )
    credentials = await create_account(ctx, session, record_id=record_id, now=now)
    return record_id, credentials


async def _insert_consent(
    session: AsyncSession, record_id: uuid.UUID, consent_id: uuid.UUID, consent: Consent, ins: Ins
) -> None:
    await session.execute(
        insert(m.Consent).values(
            id=consent_id,
            record_id=record_id,
            kind=consent.kind.value,
            channel=consent.channel.value,
            captured_by_kind=consent.captured_by_kind,
            captured_by_id=consent.captured_by_id,
            captured_by_name=consent.captured_by_name,
            place=consent.place,
            notice_version=consent.notice_version,
            notice_sha256=consent.notice_sha256,
            evidence_sha256=consent.evidence_sha256(ins_hash(ins)),
            captured_at=consent.captured_at,
        )
    )


async def show_record(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> RecordView:
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.READ_RECORD_STATUS,
        audit_action=AuditAction.RECORD_READ_STATUS,
    ) as g:
        await g.audit(AuditAction.RECORD_READ_STATUS)
        await g.uow.commit()
        return record_view(g.patient, g.record)


async def _transition(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    what: tuple[Action, AuditAction],
    step: Callable[[m.Record, dt.datetime], Mapping[str, str] | None],
    uow: UnitOfWork | None = None,
) -> RecordView:
    """One step of the record's lifecycle (docs/rules.md §2) as a use case: on the locked
    record, through the policy, ``step`` changes the record and says the audit details.

    Closing a closed record is a lifecycle error (the state machine's), not an access
    refusal: the policy is asked for CLOSE only of an active record.
    """
    action, audit_action = what
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=action,
        audit_action=audit_action,
        for_update=True,
        ask_when=lambda r: action is not Action.CLOSE or r.status == RecordStatus.ACTIVE,
        uow=uow,
    ) as g:
        details = step(g.record, g.now)
        await g.audit(audit_action, details)
        await g.uow.commit()
        return record_view(g.patient, g.record)


async def close_record(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    reason: ClosureReason,
    text: str | None = None,
    uow: UnitOfWork | None = None,
) -> RecordView:
    """Close the record; with ``uow``, in the caller's unit of work (committed here)."""

    def step(record: m.Record, now: dt.datetime) -> Mapping[str, str]:
        _apply(
            record,
            close(lifecycle_of(record), reason=reason, text=text, now=now, rules=ctx.retention),
        )
        return {"reason": reason.value}

    return await _transition(
        ctx,
        actor=actor,
        ins=ins,
        what=(Action.CLOSE, AuditAction.RECORD_CLOSE),
        step=step,
        uow=uow,
    )


async def reactivate_record(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    emergency: EmergencyChoices | None = None,
) -> RecordView:
    """Reopen a closed record; the emergency choices are asked again (docs/rules.md §2)."""
    choices = emergency or EmergencyChoices()

    def step(record: m.Record, now: dt.datetime) -> None:
        _apply(record, reactivate(lifecycle_of(record), now=now))
        record.allow_regulation = choices.allow_regulation
        record.allow_break_glass = choices.allow_break_glass
        record.allow_masked_in_emergency = choices.allow_masked_in_emergency

    return await _transition(
        ctx,
        actor=actor,
        ins=ins,
        what=(Action.REACTIVATE, AuditAction.RECORD_REACTIVATE),
        step=step,
    )


async def request_record_destruction(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> RecordView:
    def step(record: m.Record, now: dt.datetime) -> Mapping[str, str]:
        lc = request_destruction(lifecycle_of(record), now=now, rules=ctx.retention)
        _apply(record, lc)
        return {"destroy_after": lc.destroy_after.isoformat() if lc.destroy_after else ""}

    return await _transition(
        ctx,
        actor=actor,
        ins=ins,
        what=(Action.REQUEST_DESTRUCTION, AuditAction.RECORD_REQUEST_DESTRUCTION),
        step=step,
    )
