"""Opt-out opening of records (CSP R1111-28; docs/rules.md §2, "Opt-out opening").

``announce``: an operator tells a beneficiary that a DMP will open unless they object (an
e-mail through the outbox, or a letter PDF when there is no e-mail). ``open_due_records``:
the worker opens the records whose objection period ended. ``oppose``: the beneficiary
objects with the notice's code and their birth date (online or at a desk); before the
opening nothing opens, after it the record is closed. Every step is audited: on the system
chain while no record exists (with a hash of the INS, never the INS), on the record's chain
once it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Patient, System
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind
from opendmp.domain.errors import AuthenticationFailed, Conflict, InvalidInput
from opendmp.domain.identifiers import TEST_INS_OIDS, Ins
from opendmp.domain.opt_out import (
    AnnouncementStatus,
    NoticeChannel,
    OppositionChannel,
    format_code,
    new_notice_code,
    normalise_code,
)
from opendmp.domain.policy import Action, Facts
from opendmp.domain.records import ClosureReason, RecordStatus
from opendmp.services.accounts.ratelimit import enforce_address_and_login
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit, require
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.core.records import ins_hash
from opendmp.services.records.lifecycle import NewRecord, close_record, insert_record
from opendmp.services.records.notice import current_notice
from opendmp.services.records.opt_out_import import Beneficiary
from opendmp.services.records.opt_out_letters import notice_letter
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record, ins_value_taken
from opendmp.storage.uow import UnitOfWork

log = logging.getLogger("opendmp.opt_out")
OPENER = System("opt-out", "OpenDMP")
OPPOSITION_PAGE = "/patient/opposition"
OPEN_BATCH = 50
OPPOSITION_TEXT = "opposition (opt-out)"

LetterSink = Callable[[str, bytes], None]


class Announced(StrEnum):
    """What ``announce`` did with one beneficiary."""

    EMAIL = "email"  # announced, notice queued by e-mail
    LETTER = "letter"  # announced, letter handed to the sink
    ALREADY_ANNOUNCED = "already-announced"  # a re-run: nothing sent again
    RECORD_EXISTS = "record-exists"  # the person already has a DMP


def require_enabled(ctx: ServiceContext) -> None:
    """Refuse (``opt-out-disabled``) unless ``OPENDMP_CREATION_MODE=opt-out``."""
    if not ctx.opt_out.enabled:
        raise InvalidInput(
            "opt-out opening is off: set OPENDMP_CREATION_MODE=opt-out",
            code="opt-out-disabled",
        )


def code_digest(code: str) -> str:
    """The digest under which a notice code is stored and looked up. Not keyed: a code lives
    for years (an objection after the opening uses it), beyond master-key rotations, and
    its 80 random bits cannot be searched back from the digest (domain/opt_out.py)."""
    return hashlib.sha256(b"opendmp opt-out notice code:" + code.encode()).hexdigest()


def portal_url(ctx: ServiceContext) -> str:
    return ctx.base_url.rstrip("/") + OPPOSITION_PAGE


# --- announcing -------------------------------------------------------------------------------


async def announce(
    ctx: ServiceContext, *, actor: Actor, person: Beneficiary, letters: LetterSink
) -> Announced:
    """Announce one beneficiary's record: idempotent (a re-run sends nothing again).

    The letter (no e-mail address) is handed to ``letters`` before the commit, so a letter
    that could not be written leaves nothing announced.
    """
    require_enabled(ctx)
    if person.ins.oid in TEST_INS_OIDS and not ctx.accept_test_ins:
        raise InvalidInput("test INS (OID .10/.11) are refused in production", code="test-ins")
    now = ctx.now()
    async with ctx.uow() as uow:
        session = uow.session
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.ANNOUNCE_RECORD,
            facts=Facts(record_status=None),
            audit_action=AuditAction.RECORD_ANNOUNCE,
            record_id=None,
        )
        if await _announcement_of(uow, person.ins) is not None:
            return Announced.ALREADY_ANNOUNCED
        if await find_record(session, person.ins) or await ins_value_taken(
            session, person.ins.value
        ):
            return Announced.RECORD_EXISTS
        code = new_notice_code()
        opens_at = ctx.opt_out.opens_at(now)
        channel = NoticeChannel.EMAIL if person.email else NoticeChannel.LETTER
        row = _announcement_row(person, code, channel, now, opens_at)
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:  # announced meanwhile by another run
            return Announced.ALREADY_ANNOUNCED
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.RECORD_ANNOUNCE,
            record_id=None,
            details={"ins_sha256": ins_hash(person.ins), "notice": channel.value},
        )
        if person.email:
            await enqueue_notification(
                session,
                record_id=None,
                kind="opt-out-notice",
                recipient=person.email,
                payload={
                    "code": format_code(code),
                    "at": opens_at.isoformat(),
                    "url": portal_url(ctx),
                },
                now=now,
            )
        else:
            letters(
                str(row.id),
                notice_letter(person, format_code(code), opens_at, portal_url(ctx), now),
            )
        await uow.commit()
    return Announced.EMAIL if person.email else Announced.LETTER


def _announcement_row(
    person: Beneficiary,
    code: str,
    channel: NoticeChannel,
    now: dt.datetime,
    opens_at: dt.datetime,
) -> m.OptOutAnnouncement:
    return m.OptOutAnnouncement(
        id=uuid.uuid4(),
        ins_value=person.ins.value,
        ins_oid=person.ins.oid,
        birth_name=person.birth_name.strip().upper(),
        given_names=" ".join(person.given_names),
        birth_date=person.birth_date,
        sex=person.sex,
        email=person.email,
        notice_channel=channel.value,
        code_digest=code_digest(code),
        status=AnnouncementStatus.ANNOUNCED.value,
        announced_at=now,
        opens_at=opens_at,
    )


async def _announcement_of(uow: UnitOfWork, ins: Ins) -> m.OptOutAnnouncement | None:
    return (
        await uow.session.execute(
            select(m.OptOutAnnouncement).where(m.OptOutAnnouncement.ins_value == ins.value)
        )
    ).scalar_one_or_none()


# --- opening (the worker) ---------------------------------------------------------------------


async def open_due_records(ctx: ServiceContext, *, batch: int = OPEN_BATCH) -> int:
    """Open the announced records whose objection period has ended; how many it opened."""
    now = ctx.now()
    async with ctx.uow(read_only=True) as uow:
        due = (
            (
                await uow.session.execute(
                    select(m.OptOutAnnouncement.id)
                    .where(
                        m.OptOutAnnouncement.status == AnnouncementStatus.ANNOUNCED.value,
                        m.OptOutAnnouncement.opens_at <= now,
                    )
                    .order_by(m.OptOutAnnouncement.opens_at)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
    opened = 0
    for announcement_id in due:
        opened += await _open_one(ctx, announcement_id)
    return opened


async def _open_one(ctx: ServiceContext, announcement_id: uuid.UUID) -> int:
    now = ctx.now()
    async with ctx.uow() as uow:
        row = (
            await uow.session.execute(
                select(m.OptOutAnnouncement)
                .where(
                    m.OptOutAnnouncement.id == announcement_id,
                    m.OptOutAnnouncement.status == AnnouncementStatus.ANNOUNCED.value,
                    m.OptOutAnnouncement.opens_at <= now,
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:  # objected, or opened by another worker, meanwhile
            return 0
        ins = Ins(row.ins_value, row.ins_oid)
        await require(
            ctx,
            uow,
            actor=OPENER,
            action=Action.CREATE_RECORD,
            facts=Facts(record_status=None),
            audit_action=AuditAction.RECORD_CREATE,
            record_id=None,
        )
        existing = await find_record(uow.session, ins)
        if existing is not None:
            # Opened meanwhile with express consent (desk, online): nothing more to open.
            record_id = existing[1].id
            await audit(
                ctx,
                uow,
                actor=OPENER,
                action=AuditAction.RECORD_OPT_OUT_SETTLED,
                record_id=record_id,
                details={"outcome": "already-open"},
            )
        else:
            record_id, _ = await insert_record(
                ctx, uow.session, actor=OPENER, request=_opening(row, ins, now), now=now
            )
        row.status = AnnouncementStatus.OPENED.value
        row.opened_at = now
        row.record_id = record_id
        await uow.commit()
    return 1 if existing is None else 0


def _opening(row: m.OptOutAnnouncement, ins: Ins, now: dt.datetime) -> NewRecord:
    """The record request of an announcement: its consent is the absence of objection,
    traced with the notice shown and the date it was sent (channel ``opt-out``)."""
    notice = current_notice()
    return NewRecord(
        ins=ins,
        birth_name=row.birth_name,
        given_names=tuple(row.given_names.split()),
        birth_date=row.birth_date,
        sex=row.sex,
        email=row.email,
        consent=Consent(
            kind=ConsentKind.CREATION,
            channel=ConsentChannel.OPT_OUT,
            captured_by_kind=OPENER.kind.value,
            captured_by_id=OPENER.actor_id,
            captured_by_name=None,
            place=row.notice_channel,
            notice_version=notice.version,
            notice_sha256=notice.sha256,
            captured_at=row.announced_at,
            patient_confirmed=False,
        ),
    )


async def run_openings(ctx: ServiceContext, *, interval: float, stop: asyncio.Event) -> None:
    """The worker's loop: open what is due every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        if ctx.opt_out.enabled:
            try:
                opened = await open_due_records(ctx)
                if opened:
                    log.info("opt-out opened=%d", opened)
            except Exception:
                log.exception("opt-out opening tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


# --- objecting --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opposition:
    """What a proof of opposition states."""

    name: str
    birth_date: dt.date
    code: str  # formatted, as on the notice
    announced_at: dt.datetime
    opposed_at: dt.datetime
    channel: OppositionChannel
    record_closed: bool  # the objection came after the opening: the record was closed


def _wrong_code() -> AuthenticationFailed:
    return AuthenticationFailed(
        "this notice code and birth date do not match a notice", code="invalid-notice-code"
    )


async def oppose(
    ctx: ServiceContext,
    *,
    code: str,
    birth_date: dt.date,
    channel: OppositionChannel = OppositionChannel.ONLINE,
    recorded_by: Actor | None = None,
    client_address: str | None = None,
) -> Opposition:
    """Record the objection of the person the notice's code and birth date designate.

    Rate-limited like a sign-in. Before the opening: nothing will open. After it: the record
    is closed (closure asked by the patient, text ``opposition (opt-out)``). Idempotent: a
    second objection changes nothing and returns the same proof.
    """
    normalised = await _checked_code(ctx, code, client_address)
    async with ctx.uow() as uow:
        row = await _announcement_for(ctx, uow, normalised, birth_date)
        if row.status != AnnouncementStatus.OPPOSED.value:
            await _record_opposition(ctx, uow, row, channel, recorded_by)
        return _opposition(row, normalised)


async def opposition_of(
    ctx: ServiceContext, *, code: str, birth_date: dt.date, client_address: str | None = None
) -> Opposition:
    """The proof of an objection already recorded (the download after the objection);
    ``no-opposition`` (409) when this notice was not objected to. Changes nothing."""
    normalised = await _checked_code(ctx, code, client_address)
    async with ctx.uow() as uow:
        row = await _announcement_for(ctx, uow, normalised, birth_date)
        if row.status != AnnouncementStatus.OPPOSED.value:
            raise Conflict("no objection was recorded for this notice", code="no-opposition")
        return _opposition(row, normalised)


async def _checked_code(ctx: ServiceContext, code: str, client_address: str | None) -> str:
    """The normalised code, after counting the attempt (per address, per code)."""
    normalised = normalise_code(code)
    await enforce_address_and_login(
        ctx,
        "opposition",
        client_address=client_address,
        login=code_digest(normalised)[:32] if normalised else "malformed",
        login_limit=ctx.auth.login_rate_per_account,
        login_window=dt.timedelta(minutes=1),
    )
    if normalised is None:
        raise _wrong_code()
    return normalised


async def _announcement_for(
    ctx: ServiceContext, uow: UnitOfWork, code: str, birth_date: dt.date
) -> m.OptOutAnnouncement:
    row = (
        await uow.session.execute(
            select(m.OptOutAnnouncement)
            .where(m.OptOutAnnouncement.code_digest == code_digest(code))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None or row.birth_date != birth_date:
        log.info("opt-out opposition refused: unknown code or birth date")
        raise _wrong_code()
    return row


async def _record_opposition(
    ctx: ServiceContext,
    uow: UnitOfWork,
    row: m.OptOutAnnouncement,
    channel: OppositionChannel,
    recorded_by: Actor | None,
) -> None:
    ins = Ins(row.ins_value, row.ins_oid)
    person = Patient(ins=str(ins), name=f"{row.birth_name} {row.given_names}")
    opened = row.status == AnnouncementStatus.OPENED.value
    row.status = AnnouncementStatus.OPPOSED.value
    row.opposed_at = ctx.now()
    row.opposition_channel = channel.value
    row.email = None  # no longer needed: nothing more will be sent
    found = await find_record(uow.session, ins) if opened else None
    await audit(
        ctx,
        uow,
        actor=recorded_by or person,
        action=AuditAction.RECORD_OPPOSE,
        record_id=found[1].id if found else None,
        details={
            "ins_sha256": ins_hash(ins),
            "channel": channel.value,
            "after_opening": "yes" if opened else "no",
        },
    )
    if found is not None and found[1].status == RecordStatus.ACTIVE.value:
        # Closed as the person's own request, in this transaction (it commits it).
        await close_record(
            ctx,
            actor=person,
            ins=ins,
            reason=ClosureReason.PATIENT_REQUEST,
            text=OPPOSITION_TEXT,
            uow=uow,
        )
    else:
        await uow.commit()


def _opposition(row: m.OptOutAnnouncement, code: str) -> Opposition:
    assert row.opposed_at is not None and row.opposition_channel is not None
    return Opposition(
        name=f"{row.given_names} {row.birth_name}",
        birth_date=row.birth_date,
        code=format_code(code),
        announced_at=row.announced_at,
        opposed_at=row.opposed_at,
        channel=OppositionChannel(row.opposition_channel),
        record_closed=row.record_id is not None,
    )
