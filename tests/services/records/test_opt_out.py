"""Opt-out opening (docs/rules.md §2, "Opt-out opening") on a real database: announcing,
the worker's opening after the objection period (the clock moved, never slept), objecting
before and after the opening, bad codes and the rate limit. Refusals first."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io

import orjson
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from opendmp.audit.chain import SYSTEM_CHAIN
from opendmp.audit.sequencer import sequence_all
from opendmp.audit.verify import of_chain
from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.errors import AccessDenied, AuthenticationFailed, InvalidInput, RateLimited
from opendmp.domain.identifiers import Ins
from opendmp.domain.opt_out import CODE_LENGTH, OppositionChannel, OptOutRules
from opendmp.domain.records import ClosureReason, RecordStatus
from opendmp.services.core.context import ServiceContext
from opendmp.services.operations.maintenance import run_retention
from opendmp.services.records import lifecycle as records
from opendmp.services.records.onboarding import check_existence
from opendmp.services.records.opt_out import (
    Announced,
    announce,
    open_due_records,
    oppose,
    run_openings,
)
from opendmp.services.records.opt_out_import import Beneficiary
from opendmp.services.records.opt_out_letters import proof_of_opposition
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins, make_professional, new_record

BORN = dt.date(1980, 1, 15)
SIX_WEEKS = dt.timedelta(days=42)


@pytest.fixture
def opt_ctx(ctx: ServiceContext) -> ServiceContext:
    return dataclasses.replace(ctx, opt_out=OptOutRules(enabled=True))


def person(
    ins: Ins, *, email: str | None = "alex.fictif@example.org", line: int = 2
) -> Beneficiary:
    return Beneficiary(
        line=line,
        ins=ins,
        birth_name="Fictif",
        given_names=("Alex", "Sam"),
        birth_date=BORN,
        sex="F",
        email=email,
        postal_address=() if email else ("1 rue de l'Exemple", "75001 PARIS"),
    )


def pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


class Letters:
    def __init__(self) -> None:
        self.sent: dict[str, bytes] = {}

    def __call__(self, name: str, pdf: bytes) -> None:
        self.sent[name] = pdf


async def outbox(ctx: ServiceContext, kind: str) -> list[m.Outbox]:
    async with ctx.sessions() as session:
        rows = await session.execute(select(m.Outbox).where(m.Outbox.kind == kind))
        return list(rows.scalars())


async def announced_code(ctx: ServiceContext, ins: Ins) -> str:
    letters = Letters()
    assert await announce(ctx, actor=OPERATOR, person=person(ins), letters=letters) is (
        Announced.EMAIL
    )
    notices = [
        orjson.loads(row.payload)
        for row in await outbox(ctx, "opt-out-notice")
        if row.recipient == "alex.fictif@example.org"
    ]
    code: str = notices[-1]["code"]
    return code


async def status_of(ctx: ServiceContext, ins: Ins) -> RecordStatus | None:
    async with ctx.sessions() as session:
        found = await find_record(session, ins)
        return RecordStatus(found[1].status) if found else None


async def system_events(ctx: ServiceContext) -> list[m.AuditEvent]:
    await sequence_all(ctx.sessions)
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(m.AuditEvent).where(of_chain(SYSTEM_CHAIN)).order_by(m.AuditEvent.seq)
        )
        return list(rows.scalars())


async def record_events(ctx: ServiceContext, ins: Ins) -> list[str]:
    await sequence_all(ctx.sessions)
    async with ctx.sessions() as session:
        found = await find_record(session, ins)
        assert found is not None
        rows = await session.execute(
            select(m.AuditEvent.action).where(of_chain(str(found[1].id))).order_by(m.AuditEvent.seq)
        )
        return list(rows.scalars())


# --- refusals ---------------------------------------------------------------------------------


async def test_announcing_is_refused_in_consent_mode(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidInput) as refused:
        await announce(ctx, actor=OPERATOR, person=person(make_ins()), letters=Letters())
    assert refused.value.code == "opt-out-disabled"
    assert await outbox(ctx, "opt-out-notice") == []


async def test_a_professional_may_not_announce(opt_ctx: ServiceContext) -> None:
    with pytest.raises(AccessDenied):
        await announce(
            opt_ctx, actor=make_professional(), person=person(make_ins()), letters=Letters()
        )


async def test_bad_codes_and_birth_dates_are_refused_alike(opt_ctx: ServiceContext) -> None:
    ins = make_ins()
    code = await announced_code(opt_ctx, ins)
    wrong_code = ("0" if code[0] != "0" else "1") + code[1:]
    for typed, born in [
        (wrong_code, BORN),
        (code, BORN + dt.timedelta(days=1)),
        ("not a code", BORN),
        ("", BORN),
    ]:
        with pytest.raises(AuthenticationFailed) as refused:
            await oppose(
                opt_ctx, code=typed, birth_date=born, client_address=f"10.0.0.{len(typed)}"
            )
        assert refused.value.code == "invalid-notice-code"
    opt_ctx.clock.advance(days=43)  # type: ignore[attr-defined]
    assert await open_due_records(opt_ctx) == 1, "a refused objection stopped nothing"


async def test_guessing_a_code_is_rate_limited(opt_ctx: ServiceContext) -> None:
    code = await announced_code(opt_ctx, make_ins())
    limit = opt_ctx.auth.login_rate_per_account
    for _ in range(limit):
        with pytest.raises(AuthenticationFailed):
            await oppose(opt_ctx, code=code, birth_date=BORN + dt.timedelta(days=3))
    with pytest.raises(RateLimited):
        await oppose(opt_ctx, code=code, birth_date=BORN)  # even the right one, for now
    opt_ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
    assert (await oppose(opt_ctx, code=code, birth_date=BORN)).record_closed is False


async def test_one_address_is_rate_limited_across_codes(opt_ctx: ServiceContext) -> None:
    await announced_code(opt_ctx, make_ins())
    limit = opt_ctx.auth.login_rate_per_address
    for n in range(limit):
        with pytest.raises(AuthenticationFailed):
            await oppose(
                opt_ctx, code=f"AAAA-BBBB-CCCC-{n:04d}", birth_date=BORN, client_address="10.1.1.1"
            )
    with pytest.raises(RateLimited):
        await oppose(
            opt_ctx, code="AAAA-BBBB-CCCC-9999", birth_date=BORN, client_address="10.1.1.1"
        )


# --- announcing -------------------------------------------------------------------------------


async def test_announcing_by_e_mail_tells_the_code_and_the_date_and_nothing_else(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    code = await announced_code(opt_ctx, ins)
    [row] = await outbox(opt_ctx, "opt-out-notice")
    payload = orjson.loads(row.payload)
    assert set(payload) == {"code", "at", "url"}
    assert dt.datetime.fromisoformat(payload["at"]) == clock.now + SIX_WEEKS
    assert payload["url"].endswith("/patient/opposition")
    assert len(code.replace("-", "")) == CODE_LENGTH
    assert await status_of(opt_ctx, ins) is None, "no record while announced"
    assert await check_existence(opt_ctx, actor=OPERATOR, ins=ins) is None
    [event] = [e for e in await system_events(opt_ctx) if e.action == AuditAction.RECORD_ANNOUNCE]
    assert ins.value not in (event.details or "") and code not in (event.details or "")


async def test_announcing_without_e_mail_makes_a_letter(opt_ctx: ServiceContext) -> None:
    letters = Letters()
    outcome = await announce(
        opt_ctx, actor=OPERATOR, person=person(make_ins(), email=None), letters=letters
    )
    assert outcome is Announced.LETTER
    [pdf] = letters.sent.values()
    text = pdf_text(pdf)
    assert "1 rue de l'Exemple" in text and "75001 PARIS" in text
    assert "sera ouvert le 12/04/2026" in text  # 1 March + 42 days, Paris day
    assert "Votre code :" in text and "/patient/opposition" in text
    assert await outbox(opt_ctx, "opt-out-notice") == []


async def test_a_failed_letter_leaves_nothing_announced(opt_ctx: ServiceContext) -> None:
    ins = make_ins()

    def broken(name: str, pdf: bytes) -> None:
        raise InvalidInput("disk full", code="letter-not-written")

    with pytest.raises(InvalidInput):
        await announce(opt_ctx, actor=OPERATOR, person=person(ins, email=None), letters=broken)
    again = await announce(
        opt_ctx, actor=OPERATOR, person=person(ins, email=None), letters=Letters()
    )
    assert again is Announced.LETTER


async def test_announcing_again_sends_nothing_again(opt_ctx: ServiceContext) -> None:
    ins, with_record = make_ins(), make_ins()
    await records.create_record(
        opt_ctx, actor=OPERATOR, request=new_record(with_record, opt_ctx.now())
    )
    await announced_code(opt_ctx, ins)
    letters = Letters()
    assert await announce(opt_ctx, actor=OPERATOR, person=person(ins), letters=letters) is (
        Announced.ALREADY_ANNOUNCED
    )
    assert await announce(opt_ctx, actor=OPERATOR, person=person(with_record), letters=letters) is (
        Announced.RECORD_EXISTS
    )
    assert len(await outbox(opt_ctx, "opt-out-notice")) == 1


# --- opening ----------------------------------------------------------------------------------


async def test_the_record_opens_after_six_weeks_without_objection(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    await announced_code(opt_ctx, ins)
    clock.advance(days=41, hours=23)
    assert await open_due_records(opt_ctx) == 0
    assert await status_of(opt_ctx, ins) is None
    clock.advance(hours=1)
    assert await open_due_records(opt_ctx) == 1
    assert await open_due_records(opt_ctx) == 0, "opened once"
    assert await status_of(opt_ctx, ins) is RecordStatus.ACTIVE
    assert await record_events(opt_ctx, ins) == [
        AuditAction.RECORD_CREATE,
        AuditAction.ACCOUNT_CREATE,
    ]
    async with opt_ctx.sessions() as session:
        found = await find_record(session, ins)
        assert found is not None
        consent = (
            await session.execute(select(m.Consent).where(m.Consent.record_id == found[1].id))
        ).scalar_one()
    assert consent.channel == "opt-out"
    [told] = await outbox(opt_ctx, "record-created")
    assert orjson.loads(told.payload)["channel"] == "opt-out"


async def test_the_worker_loop_opens_what_is_due_and_stops_when_told(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    await announced_code(opt_ctx, ins)
    clock.advance(days=42)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_openings(opt_ctx, interval=0.01, stop=stop))
    try:
        for _ in range(500):  # the loop's first tick opens it
            if await status_of(opt_ctx, ins) is RecordStatus.ACTIVE:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)
    assert await status_of(opt_ctx, ins) is RecordStatus.ACTIVE


async def test_a_record_opened_with_consent_meanwhile_is_left_as_it_is(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    await announced_code(opt_ctx, ins)
    await records.create_record(opt_ctx, actor=OPERATOR, request=new_record(ins, clock.now))
    clock.advance(days=43)
    assert await open_due_records(opt_ctx) == 0
    events = await record_events(opt_ctx, ins)
    assert events.count(AuditAction.RECORD_CREATE) == 1
    assert events[-1] == AuditAction.RECORD_OPT_OUT_SETTLED


# --- objecting --------------------------------------------------------------------------------


async def test_an_objection_before_the_opening_stops_it(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    code = await announced_code(opt_ctx, ins)
    clock.advance(days=10)
    proof = await oppose(opt_ctx, code=code.lower().replace("-", " "), birth_date=BORN)
    assert (proof.record_closed, proof.channel, proof.opposed_at) == (
        False,
        OppositionChannel.ONLINE,
        clock.now,
    )
    proof_text = pdf_text(proof_of_opposition(proof))
    assert "Alex Sam FICTIF" in proof_text and proof.code in proof_text
    assert "Votre DMP ne sera pas ouvert." in proof_text
    clock.advance(days=40)
    assert await open_due_records(opt_ctx) == 0
    assert await status_of(opt_ctx, ins) is None
    again = await oppose(opt_ctx, code=code, birth_date=BORN)
    assert again == proof, "a second objection changes nothing"
    opposed = [e for e in await system_events(opt_ctx) if e.action == AuditAction.RECORD_OPPOSE]
    assert len(opposed) == 1
    assert orjson.loads(opposed[0].details or "{}")["after_opening"] == "no"


async def test_an_objection_after_the_opening_closes_the_record(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    code = await announced_code(opt_ctx, ins)
    clock.advance(days=50)
    assert await open_due_records(opt_ctx) == 1
    desk = make_professional(7)
    proof = await oppose(
        opt_ctx, code=code, birth_date=BORN, channel=OppositionChannel.DESK, recorded_by=desk
    )
    assert proof.record_closed and proof.channel is OppositionChannel.DESK
    assert await status_of(opt_ctx, ins) is RecordStatus.CLOSED
    view = await records.show_record(opt_ctx, actor=OPERATOR, ins=ins)
    assert view.closure_reason == ClosureReason.PATIENT_REQUEST.value
    assert (await record_events(opt_ctx, ins))[-3:-1] == [
        AuditAction.RECORD_OPPOSE,
        AuditAction.RECORD_CLOSE,
    ]


async def test_destroying_the_record_erases_its_announcement(
    opt_ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    code = await announced_code(opt_ctx, ins)
    clock.advance(days=42)
    assert await open_due_records(opt_ctx) == 1
    await oppose(opt_ctx, code=code, birth_date=BORN)
    clock.advance(days=365 * 10 + 3)
    assert (await run_retention(opt_ctx)).destroyed == 1
    async with opt_ctx.sessions() as session:
        left = await session.execute(
            select(m.OptOutAnnouncement).where(m.OptOutAnnouncement.ins_value == ins.value)
        )
        assert left.scalars().all() == []
    with pytest.raises(AuthenticationFailed):
        await oppose(opt_ctx, code=code, birth_date=BORN)
