"""Delegations on a real database (docs/rules.md §3.7): a patient invites a relative as
caregiver, the relative accepts with their own account and acts within the rights and the
dates, audited as themself on the patient's behalf; the patient revokes, at once, open
sessions included. A minor's second legal representative joins the same way.

Refusals first, each changing nothing but its trace; then the life of a delegation over
time (the clock moved), then the sessions that switch to the record.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from opendmp.domain.actors import Caregiver, LegalRepresentative, Patient
from opendmp.domain.delegations import State
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import ClosureReason
from opendmp.notify.messages import render
from opendmp.services.access import delegations as dg
from opendmp.services.access import preferences
from opendmp.services.accounts.sessions import resolve_session
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery, search_documents
from opendmp.services.records import lifecycle
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import patient_actor
from tests.services.access_support import events_after, last_event_id, outbox, snapshot
from tests.services.patient_accounts import account_row, enrolled, full_login, with_credentials

TODAY = dt.date(2026, 3, 1)  # the tests' clock: 2026-03-01 09:00 UTC
RELATIVE_EMAIL = "camille.testaidant@example.org"
PATIENT_EMAIL = "dominique.testpatiente@example.org"
ANSWER_KINDS = {dg.ACCEPTED_KIND, dg.REFUSED_KIND}
Call = Callable[[], Awaitable[Any]]


def invitation(
    rights: tuple[str, ...] = ("documents",), *, start: int = 0, days: int = 30
) -> dg.CaregiverInvitation:
    starts_on = TODAY + dt.timedelta(days=start)
    return dg.CaregiverInvitation(
        RELATIVE_EMAIL, rights, starts_on, starts_on + dt.timedelta(days=days)
    )


async def invite(
    ctx: ServiceContext, ins: Ins, invited: dg.CaregiverInvitation | None = None
) -> tuple[dg.DelegationView, str]:
    """An invitation, and the code its e-mail carries (read from the outbox, as the
    demo mailbox would show it)."""
    view = await dg.invite_caregiver(
        ctx, actor=patient_actor(ins), ins=ins, invitation=invited or invitation()
    )
    return view, await last_code(ctx)


async def last_code(ctx: ServiceContext) -> str:
    mails = [row for row in await outbox(ctx) if row.kind == dg.INVITATION_KIND]
    link = json.loads(sorted(mails, key=lambda r: r.created_at)[-1].payload)["link"]
    return str(link.rsplit("/", 1)[1])


async def account_id(ctx: ServiceContext, login: str) -> uuid.UUID:
    return (await account_row(ctx, login)).id


def caregiver(
    relative: Ins, patient: Ins, view: dg.DelegationView, account: uuid.UUID
) -> Caregiver:
    return Caregiver(
        caregiver_ins=str(relative),
        patient_ins=str(patient),
        delegation_id=str(view.id),
        account_id=str(account),
        name="Alex FICTIF",
    )


async def accepted(
    ctx: ServiceContext, invited: dg.CaregiverInvitation | None = None
) -> tuple[Ins, Ins, Caregiver]:
    """A patient, a relative with an account, and the relative as accepted caregiver."""
    relative = await enrolled(ctx)
    patient = (await enrolled(ctx)).ins
    view, code = await invite(ctx, patient, invited)
    account = await account_id(ctx, relative.login)
    await dg.answer_invitation(
        ctx, actor=patient_actor(relative.ins), account_id=account, code=code, accept=True
    )
    return patient, relative.ins, caregiver(relative.ins, patient, view, account)


async def assert_refused(ctx: ServiceContext, call: Call, code: str, action: str) -> None:
    """``call`` fails with ``code``, changes nothing, leaves one denied trace."""
    before, last = await snapshot(ctx), await last_event_id(ctx)
    with pytest.raises(OpenDMPError) as caught:
        await call()
    assert caught.value.code == code
    assert await snapshot(ctx) == before
    (event,) = await events_after(ctx, last)
    assert (event.action, event.outcome, event.reason) == (action, "denied", code)


async def search(ctx: ServiceContext, actor: Caregiver | LegalRepresentative, ins: Ins) -> Any:
    return await search_documents(ctx, actor=actor, ins=ins, query=DocumentQuery())


# --- refusals -----------------------------------------------------------------------------


async def test_the_invitation_e_mail_names_nobody_and_carries_a_one_time_link(
    ctx: ServiceContext,
) -> None:
    patient = (await enrolled(ctx)).ins
    view, code = await invite(ctx, patient)
    assert view.state is State.PENDING
    (mail,) = [row for row in await outbox(ctx) if row.kind == dg.INVITATION_KIND]
    assert mail.recipient == RELATIVE_EMAIL
    assert "FICTIF" not in mail.payload and str(patient).split("|")[1] not in mail.payload
    assert len(code) >= 24
    (row,) = (await snapshot(ctx))["delegation"]
    assert code not in row and dg.code_hash(code) in row  # only its hash is kept
    with pytest.raises(OpenDMPError) as caught:
        # Another last character (the code's own may be an "x").
        other = code[:-1] + ("y" if code.endswith("x") else "x")
        await dg.find_invitation(ctx, actor=patient_actor(patient), code=other)
    assert caught.value.code == "invitation-not-found"


async def test_the_patients_own_acts_are_refused_to_a_caregiver_with_every_right(
    ctx: ServiceContext,
) -> None:
    patient, _, helper = await accepted(ctx, invitation(("documents", "choices")))
    await assert_refused(
        ctx,
        lambda: lifecycle.close_record(
            ctx, actor=helper, ins=patient, reason=ClosureReason.PATIENT_REQUEST
        ),
        "actor-not-permitted",
        "record:record:close",
    )
    await assert_refused(
        ctx,
        lambda: dg.invite_caregiver(ctx, actor=helper, ins=patient, invitation=invitation()),
        "actor-not-permitted",
        "access:delegation:invite",
    )


async def test_a_right_not_given_is_refused(ctx: ServiceContext) -> None:
    patient, _, helper = await accepted(ctx, invitation(("documents",)))
    await assert_refused(
        ctx,
        lambda: preferences.set_emergency_choices(
            ctx,
            actor=helper,
            ins=patient,
            allow_regulation=False,
            allow_break_glass=False,
            allow_masked_in_emergency=False,
        ),
        "right-not-delegated",
        "access:emergency-choices:set",
    )


async def test_an_expired_invitation_cannot_be_accepted(ctx: ServiceContext, clock: Clock) -> None:
    relative = await enrolled(ctx)
    patient = (await enrolled(ctx)).ins
    _, code = await invite(ctx, patient)
    clock.advance(days=ctx.access.delegation_invitation_validity.days, seconds=1)
    account = await account_id(ctx, relative.login)
    await assert_refused(
        ctx,
        lambda: dg.answer_invitation(
            ctx, actor=patient_actor(relative.ins), account_id=account, code=code, accept=True
        ),
        "no-open-invitation",
        "access:delegation:accept",
    )
    (listed,) = await dg.list_delegations(ctx, actor=patient_actor(patient), ins=patient)
    assert listed.state is State.EXPIRED


async def test_nobody_is_their_own_caregiver_and_an_answer_is_given_once(
    ctx: ServiceContext,
) -> None:
    me = await enrolled(ctx)
    _, code = await invite(ctx, me.ins)
    account = await account_id(ctx, me.login)
    await assert_refused(
        ctx,
        lambda: dg.answer_invitation(
            ctx, actor=patient_actor(me.ins), account_id=account, code=code, accept=True
        ),
        "own-record-invitation",
        "access:delegation:accept",
    )
    relative = await enrolled(ctx)
    other = await account_id(ctx, relative.login)
    await dg.answer_invitation(
        ctx, actor=patient_actor(relative.ins), account_id=other, code=code, accept=False
    )
    await assert_refused(
        ctx,
        lambda: dg.answer_invitation(
            ctx, actor=patient_actor(relative.ins), account_id=other, code=code, accept=True
        ),
        "no-open-invitation",
        "access:delegation:accept",
    )


@pytest.mark.parametrize("accept", [True, False])
async def test_the_patient_is_told_of_the_answer_in_her_language_naming_nobody(
    ctx: ServiceContext, clock: Clock, accept: bool
) -> None:
    patient = (await with_credentials(ctx, email=PATIENT_EMAIL)).ins
    await set_language(ctx, patient, "en")
    _, code = await invite(ctx, patient)
    clock.advance(seconds=3600)
    relative = await enrolled(ctx)
    await dg.answer_invitation(
        ctx,
        actor=patient_actor(relative.ins),
        account_id=await account_id(ctx, relative.login),
        code=code,
        accept=accept,
    )
    kind = dg.ACCEPTED_KIND if accept else dg.REFUSED_KIND
    (mail,) = [row for row in await outbox(ctx) if row.kind in ANSWER_KINDS]
    assert (mail.kind, mail.recipient, mail.language) == (kind, PATIENT_EMAIL, "en")
    payload = json.loads(mail.payload)
    assert payload["at"] == ctx.now().isoformat() and payload["role"] == "caregiver"
    for secret in (RELATIVE_EMAIL, "FICTIF", str(relative.ins).split("|")[1], code):
        assert secret not in mail.payload
    subject, body = render(mail.kind, mail.language, payload)
    assert subject == f"Your invitation was {'accepted' if accept else 'refused'}"
    assert "become your caregiver" in body and "1 March 2026 at 10:00" in body
    # Read again, or answered twice: nothing more is sent.
    await dg.find_invitation(ctx, actor=patient_actor(relative.ins), code=code)
    with pytest.raises(OpenDMPError):
        await dg.answer_invitation(
            ctx,
            actor=patient_actor(relative.ins),
            account_id=await account_id(ctx, relative.login),
            code=code,
            accept=not accept,
        )
    assert [row.kind for row in await outbox(ctx) if row.kind in ANSWER_KINDS] == [kind]


async def set_language(ctx: ServiceContext, ins: Ins, language: str) -> None:
    async with ctx.sessions() as session:
        record_id = (
            select(m.Record.id)
            .join(m.Patient, m.Patient.id == m.Record.patient_id)
            .where(m.Patient.ins_value == ins.value)
            .scalar_subquery()
        )
        await session.execute(
            update(m.Record).where(m.Record.id == record_id).values(preferred_language=language)
        )
        await session.commit()


@pytest.mark.parametrize(
    ("invited", "code"),
    [
        (dg.CaregiverInvitation("not-an-address", ("documents",), TODAY, TODAY), "invalid-email"),
        (dg.CaregiverInvitation(RELATIVE_EMAIL, (), TODAY, TODAY), "delegation-rights-required"),
        (
            dg.CaregiverInvitation(
                RELATIVE_EMAIL, ("documents",), TODAY - dt.timedelta(days=1), TODAY
            ),
            "delegation-start-past",
        ),
    ],
)
async def test_a_bad_invitation_is_refused_before_anything_is_written(
    ctx: ServiceContext, invited: dg.CaregiverInvitation, code: str
) -> None:
    patient = (await enrolled(ctx)).ins
    before = await snapshot(ctx)
    with pytest.raises(OpenDMPError) as caught:
        await dg.invite_caregiver(
            ctx, actor=patient_actor(patient), ins=patient, invitation=invited
        )
    assert caught.value.code == code
    assert await snapshot(ctx) == before


async def test_an_adults_record_gets_no_second_representative(ctx: ServiceContext) -> None:
    patient = (await enrolled(ctx)).ins
    with pytest.raises(OpenDMPError) as caught:
        await dg.invite_representative(
            ctx, actor=patient_actor(patient), ins=patient, email=RELATIVE_EMAIL, relation="MTH"
        )
    assert caught.value.code == "patient-not-minor"


# --- the life of a delegation -------------------------------------------------------------------


async def test_a_caregiver_acts_within_the_dates_audited_on_the_patients_behalf(
    ctx: ServiceContext, clock: Clock
) -> None:
    patient, relative, helper = await accepted(ctx, invitation(("documents",), start=2, days=3))
    await assert_refused(
        ctx, lambda: search(ctx, helper, patient), "no-live-delegation", "document:document:search"
    )
    clock.advance(days=2)
    last = await last_event_id(ctx)
    await search(ctx, helper, patient)
    (event,) = await events_after(ctx, last)
    assert (event.actor_kind, event.actor_id, event.actor_name) == (
        "caregiver",
        str(relative),
        "Alex FICTIF",
    )
    details = json.loads(event.details or "{}")
    assert details["on_behalf_of"] == "patient" and details["delegation"] == helper.delegation_id
    clock.advance(days=4)  # the day after the end date
    await assert_refused(
        ctx, lambda: search(ctx, helper, patient), "no-live-delegation", "document:document:search"
    )
    (listed,) = await dg.list_delegations(ctx, actor=patient_actor(patient), ins=patient)
    assert listed.state is State.EXPIRED and listed.caregiver_name == "Alex FICTIF"


async def test_a_revocation_takes_effect_at_once(ctx: ServiceContext) -> None:
    patient, _, helper = await accepted(ctx, invitation(("documents", "choices")))
    await search(ctx, helper, patient)
    await dg.revoke_delegation(
        ctx,
        actor=patient_actor(patient),
        ins=patient,
        delegation_id=uuid.UUID(helper.delegation_id),
    )
    await assert_refused(
        ctx, lambda: search(ctx, helper, patient), "no-live-delegation", "document:document:search"
    )


# --- sessions that switch to the record -----------------------------------------------------------


async def test_an_open_session_switches_to_the_record_and_loses_it_on_revocation(
    ctx: ServiceContext, clock: Clock
) -> None:
    relative = await enrolled(ctx)
    patient = (await enrolled(ctx)).ins
    view, code = await invite(ctx, patient)
    account = await account_id(ctx, relative.login)
    await dg.answer_invitation(
        ctx, actor=patient_actor(relative.ins), account_id=account, code=code, accept=True
    )
    clock.advance(seconds=31)
    token = (await full_login(ctx, relative)).session_token
    (held,) = await dg.held_delegations(ctx, account_id=account)
    assert held.id == view.id and held.patient_ins == str(patient)
    actor = await dg.act_for(ctx, session_token=token, delegation_id=view.id)
    assert isinstance(actor, Caregiver) and actor.patient_ins == str(patient)
    info = await resolve_session(ctx, token)
    assert info is not None and isinstance(info.actor, Caregiver)
    await dg.revoke_delegation(
        ctx, actor=patient_actor(patient), ins=patient, delegation_id=view.id
    )
    info = await resolve_session(ctx, token)
    assert info is not None and info.actor == Patient(ins=str(relative.ins))
    with pytest.raises(OpenDMPError) as caught:
        await dg.act_for(ctx, session_token=token, delegation_id=view.id)
    assert caught.value.code == "delegation-not-found"


async def test_a_minors_second_representative_joins_by_invitation(
    ctx: ServiceContext, clock: Clock
) -> None:
    minor = (await with_credentials(ctx, birth_date=dt.date(2015, 6, 1))).ins
    parent = await enrolled(ctx)
    view = await dg.invite_representative(
        ctx, actor=patient_actor(minor), ins=minor, email=RELATIVE_EMAIL, relation="mth"
    )
    code = await last_code(ctx)
    account = await account_id(ctx, parent.login)
    found = await dg.find_invitation(ctx, actor=patient_actor(parent.ins), code=code)
    assert found.delegation.relation == "MTH" and found.patient_name == "Alex FICTIF"
    await dg.answer_invitation(
        ctx, actor=patient_actor(parent.ins), account_id=account, code=code, accept=True
    )
    clock.advance(seconds=31)
    token = (await full_login(ctx, parent)).session_token
    actor = await dg.act_for(ctx, session_token=token, delegation_id=view.id)
    assert isinstance(actor, LegalRepresentative) and actor.relation == "MTH"
    await search(ctx, actor, minor)  # a representative reads the record
    await dg.revoke_delegation(ctx, actor=patient_actor(minor), ins=minor, delegation_id=view.id)
    with pytest.raises(OpenDMPError) as caught:
        await search(ctx, actor, minor)
    assert caught.value.code == "not-own-record"
