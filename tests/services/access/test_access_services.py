"""Access management on a real database (docs/rules.md §3.1, §3.3, §3.4): authorisations, blocks,
treating doctors, the patient's choices, emergency access and legal representatives.

Refusals first: each leaves nothing changed but its denied audit event. Then the successes
and the states of an authorisation over time (VALIDE → EXPIRE, INTERDIT and back).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from opendmp.domain.actors import AccessMode, LegalRepresentative, Professional
from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import RecordStatus
from opendmp.services.access import authorisations as access
from opendmp.services.access import emergency, preferences, representatives
from opendmp.services.access.authorisations import AccessBasis, AccessState, Colleague
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins, patient_actor
from tests.record_scope import whole_database
from tests.services.access_support import (
    BREAK_GLASS,
    COLLEAGUE,
    CPE,
    DOCTOR,
    NURSE,
    ORG,
    OTHER_DOCTOR,
    SAMU,
    STRANGER,
    assert_chains_verify,
    authorise_care_team,
    close,
    create,
    events_after,
    last_event_id,
    outbox,
    record_row,
    register,
    snapshot,
)

Call = Callable[[ServiceContext, Ins], Awaitable[Any]]


async def assert_refused(
    ctx: ServiceContext, ins: Ins, call: Call, *, code: str, action: str, outcome: str = "denied"
) -> None:
    """``call`` fails with ``code``, changes nothing, and leaves exactly one trace."""
    before, last = await snapshot(ctx), await last_event_id(ctx)
    with pytest.raises(OpenDMPError) as caught:
        await call(ctx, ins)
    assert caught.value.code == code
    assert await snapshot(ctx) == before
    (event,) = await events_after(ctx, last)
    assert (event.action, event.outcome, event.reason) == (action, outcome, code)


def entry_of(entries: list[access.AccessEntry], idnat: str) -> access.AccessEntry:
    (found,) = [e for e in entries if e.idnat == idnat]
    return found


async def state(ctx: ServiceContext, ins: Ins, idnat: str) -> AccessState:
    entries = await access.list_access(ctx, actor=patient_actor(ins), ins=ins)
    listed = [e for e in entries if e.idnat == idnat]
    return listed[0].state if listed else AccessState.NON_EXISTE


# --- refusals: an unknown record -------------------------------------------------------------

UNKNOWN_RECORD_CALLS: dict[str, tuple[Call, str]] = {
    "declare": (
        lambda c, i: access.declare_authorization(c, actor=DOCTOR, ins=i),
        "access:authorization:declare",
    ),
    "extend": (
        lambda c, i: access.extend_authorization(c, actor=DOCTOR, ins=i, colleague=COLLEAGUE),
        "access:authorization:extend",
    ),
    "revoke": (
        lambda c, i: access.revoke_authorization(
            c, actor=patient_actor(i), ins=i, professional_idnat=DOCTOR.idnat
        ),
        "access:authorization:revoke",
    ),
    "block": (
        lambda c, i: access.block(c, actor=patient_actor(i), ins=i, organization_idnat=ORG),
        "access:organization:block",
    ),
    "list": (
        lambda c, i: access.list_access(c, actor=patient_actor(i), ins=i),
        "access:access-list:read",
    ),
    "treating doctor": (
        lambda c, i: access.set_treating_doctor(
            c, actor=patient_actor(i), ins=i, professional_idnat=DOCTOR.idnat, on=True
        ),
        "access:treating-doctor:set",
    ),
    "emergency choices": (
        lambda c, i: preferences.set_emergency_choices(
            c,
            actor=patient_actor(i),
            ins=i,
            allow_regulation=False,
            allow_break_glass=False,
            allow_masked_in_emergency=False,
        ),
        "access:emergency-choices:set",
    ),
    "notifications": (
        lambda c, i: preferences.set_notification_preferences(
            c,
            actor=patient_actor(i),
            ins=i,
            on_access=False,
            on_new_document=True,
            mask_new_documents=True,
        ),
        "access:notification-preferences:set",
    ),
    "emergency": (
        lambda c, i: emergency.open_emergency_access(c, actor=BREAK_GLASS, ins=i),
        "access:emergency:open",
    ),
    "representative": (
        lambda c, i: representatives.add_representative(
            c, actor=OPERATOR, ins=i, relation="MTH", family_name="FICTIF", given_name="Maud"
        ),
        "access:representative:add",
    ),
}


@pytest.mark.parametrize("intention", list(UNKNOWN_RECORD_CALLS))
async def test_no_intention_acts_on_a_record_that_does_not_exist(
    ctx: ServiceContext, intention: str
) -> None:
    await create(ctx)  # another person's record exists
    call, action = UNKNOWN_RECORD_CALLS[intention]
    unknown = make_ins()
    await assert_refused(ctx, unknown, call, code="record-not-found", action=action)
    (event,) = await events_after(ctx, await last_event_id(ctx) - 1)
    assert event.record_id is None  # the system chain: there is no record chain
    assert unknown.value not in (event.details or "")


# --- refusals: professionals ------------------------------------------------------------------


async def test_a_blocked_professional_cannot_declare_an_authorisation(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat=DOCTOR.idnat)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.declare_authorization(c, actor=DOCTOR, ins=i),
        code="blocked-by-patient",
        action="access:authorization:declare",
    )


async def test_a_professional_of_a_blocked_structure_cannot_declare(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, organization_idnat=ORG)
    await register(ctx, DOCTOR)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.declare_authorization(c, actor=DOCTOR, ins=i),
        code="blocked-by-patient",
        action="access:authorization:declare",
    )


async def test_nothing_is_declared_on_a_closed_record(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await close(ctx, ins)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.declare_authorization(c, actor=DOCTOR, ins=i),
        code="record-closed",
        action="access:authorization:declare",
    )


async def test_a_nurse_cannot_name_herself_treating_doctor_and_nothing_is_declared(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.declare_authorization(c, actor=NURSE, ins=i, treating_doctor=True),
        code="not-a-doctor",
        action="access:treating-doctor:set",
    )


async def test_a_doctor_cannot_name_themself_treating_doctor_without_the_patients_consent(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await register(ctx, DOCTOR)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.set_treating_doctor(
            c, actor=DOCTOR, ins=i, professional_idnat=DOCTOR.idnat, on=True
        ),
        code="not-authorized",
        action="access:treating-doctor:set",
    )


async def test_a_cpe_cannot_extend_an_authorisation(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=CPE, ins=ins)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.extend_authorization(c, actor=CPE, ins=i, colleague=COLLEAGUE),
        code="actor-not-permitted",
        action="access:authorization:extend",
    )


async def test_a_professional_without_authorisation_cannot_extend_one(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.extend_authorization(c, actor=DOCTOR, ins=i, colleague=COLLEAGUE),
        code="not-authorized",
        action="access:authorization:extend",
    )


async def test_an_expired_authorisation_cannot_be_extended(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    clock.advance(days=366)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.extend_authorization(c, actor=DOCTOR, ins=i, colleague=COLLEAGUE),
        code="authorization-expired",
        action="access:authorization:extend",
    )


async def test_an_authorisation_is_not_extended_to_a_blocked_colleague(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat=COLLEAGUE.idnat)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.extend_authorization(c, actor=DOCTOR, ins=i, colleague=COLLEAGUE),
        code="target-blocked-by-patient",
        action="access:authorization:extend",
    )


PATIENT_ONLY: dict[str, tuple[Call, str]] = {
    "block": (
        lambda c, i: access.block(c, actor=DOCTOR, ins=i, professional_idnat=STRANGER.idnat),
        "access:professional:block",
    ),
    "unblock": (
        lambda c, i: access.unblock(c, actor=DOCTOR, ins=i, professional_idnat=DOCTOR.idnat),
        "access:professional:unblock",
    ),
    "revoke": (
        lambda c, i: access.revoke_authorization(
            c, actor=DOCTOR, ins=i, professional_idnat=OTHER_DOCTOR.idnat
        ),
        "access:authorization:revoke",
    ),
    "name another doctor": (
        lambda c, i: access.set_treating_doctor(
            c, actor=DOCTOR, ins=i, professional_idnat=OTHER_DOCTOR.idnat, on=True
        ),
        "access:treating-doctor:set",
    ),
    "emergency choices": (
        lambda c, i: preferences.set_emergency_choices(
            c,
            actor=DOCTOR,
            ins=i,
            allow_regulation=True,
            allow_break_glass=True,
            allow_masked_in_emergency=True,
        ),
        "access:emergency-choices:set",
    ),
    "notifications": (
        lambda c, i: preferences.set_notification_preferences(
            c, actor=DOCTOR, ins=i, on_access=False, on_new_document=False, mask_new_documents=True
        ),
        "access:notification-preferences:set",
    ),
    "representatives": (
        lambda c, i: representatives.add_representative(
            c, actor=DOCTOR, ins=i, relation="FTH", family_name="FICTIF", given_name="Paul"
        ),
        "access:representative:add",
    ),
    "access list": (
        lambda c, i: access.list_access(c, actor=DOCTOR, ins=i),
        "access:access-list:read",
    ),
}


@pytest.mark.parametrize("intention", list(PATIENT_ONLY))
async def test_an_authorised_professional_cannot_act_for_the_patient(
    ctx: ServiceContext, intention: str
) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    await register(ctx, OTHER_DOCTOR)
    call, action = PATIENT_ONLY[intention]
    await assert_refused(ctx, ins, call, code="actor-not-permitted", action=action)


async def test_a_patient_cannot_manage_another_persons_record(ctx: ServiceContext) -> None:
    ins, other = await create(ctx), await create(ctx)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.block(
            c, actor=patient_actor(other), ins=i, professional_idnat=DOCTOR.idnat
        ),
        code="not-own-record",
        action="access:professional:block",
    )


async def test_the_patient_cannot_name_a_nurse_treating_doctor(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await register(ctx, NURSE)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.set_treating_doctor(
            c, actor=patient_actor(i), ins=i, professional_idnat=NURSE.idnat, on=True
        ),
        code="not-a-doctor",
        action="access:treating-doctor:set",
    )


async def test_a_treating_doctor_never_seen_cannot_be_named_and_the_attempt_is_traced(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: access.set_treating_doctor(
            c, actor=patient_actor(i), ins=i, professional_idnat=STRANGER.idnat, on=True
        ),
        code="professional-not-found",
        action="access:treating-doctor:set",
        outcome="error",
    )


async def test_a_target_is_either_a_professional_or_a_structure(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    last = await last_event_id(ctx)
    for targets in ({}, {"professional_idnat": DOCTOR.idnat, "organization_idnat": ORG}):
        with pytest.raises(InvalidInput) as caught:
            await access.block(ctx, actor=patient_actor(ins), ins=ins, **targets)
        assert caught.value.code == "invalid-access-target"
    with pytest.raises(InvalidInput) as bad_key:
        await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat="81234")
    assert bad_key.value.code == "invalid-rpps"
    assert await events_after(ctx, last) == []  # malformed requests reach no decision


# --- refusals: emergency access ---------------------------------------------------------------


def opening_as(actor: Professional) -> Call:
    return lambda c, i: emergency.open_emergency_access(c, actor=actor, ins=i)


async def test_break_glass_without_a_justification_is_refused(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    for blank in (None, "   "):
        unjustified = dataclasses.replace(BREAK_GLASS, justification=blank)
        await assert_refused(
            ctx,
            ins,
            opening_as(unjustified),
            code="justification-required",
            action="access:emergency:open",
        )


async def test_break_glass_is_refused_when_the_patient_opposed_it(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await preferences.set_emergency_choices(
        ctx,
        actor=patient_actor(ins),
        ins=ins,
        allow_regulation=True,
        allow_break_glass=False,
        allow_masked_in_emergency=True,
    )
    await assert_refused(
        ctx,
        ins,
        lambda c, i: emergency.open_emergency_access(c, actor=BREAK_GLASS, ins=i),
        code="emergency-opposed-by-patient",
        action="access:emergency:open",
    )


async def test_the_regulation_centre_is_refused_when_the_patient_opposed_etreat(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await preferences.set_emergency_choices(
        ctx,
        actor=patient_actor(ins),
        ins=ins,
        allow_regulation=False,
        allow_break_glass=True,
        allow_masked_in_emergency=True,
    )
    await assert_refused(
        ctx,
        ins,
        lambda c, i: emergency.open_emergency_access(c, actor=SAMU, ins=i),
        code="emergency-opposed-by-patient",
        action="access:emergency:open",
    )


async def test_a_blocked_professional_cannot_open_an_emergency_access(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat=BREAK_GLASS.idnat)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: emergency.open_emergency_access(c, actor=BREAK_GLASS, ins=i),
        code="blocked-by-patient",
        action="access:emergency:open",
    )


async def test_an_emergency_access_is_not_opened_in_normal_mode(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: emergency.open_emergency_access(c, actor=DOCTOR, ins=i),
        code="emergency-mode-required",
        action="access:emergency:open",
    )


# --- refusals: representatives ----------------------------------------------------------------


async def test_a_representative_cannot_manage_the_representatives(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    mother = await representatives.add_representative(
        ctx, actor=OPERATOR, ins=ins, relation="MTH", family_name="Fictif", given_name="Maud"
    )
    as_mother = LegalRepresentative(str(mother.id), str(ins), "MTH")
    await assert_refused(
        ctx,
        ins,
        lambda c, i: representatives.add_representative(
            c, actor=as_mother, ins=i, relation="FTH", family_name="Fictif", given_name="Paul"
        ),
        code="actor-not-permitted",
        action="access:representative:add",
    )


async def test_an_unknown_relation_code_is_refused(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    with pytest.raises(InvalidInput) as caught:
        await representatives.add_representative(
            ctx, actor=OPERATOR, ins=ins, relation="NEIGHBOR", family_name="X", given_name="Y"
        )
    assert caught.value.code == "invalid-representative"


async def test_removing_a_representative_who_is_not_there_is_traced_as_an_error(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await assert_refused(
        ctx,
        ins,
        lambda c, i: representatives.remove_representative(
            c, actor=patient_actor(i), ins=i, representative_id=uuid.uuid4()
        ),
        code="representative-not-found",
        action="access:representative:remove",
        outcome="error",
    )


# --- authorisations and their states ----------------------------------------------------------


async def test_a_declared_authorisation_is_valid_then_expires_then_is_renewed(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    declared = await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    validity = ctx.access.authorization_validity
    assert declared.state is AccessState.VALIDE
    assert declared.bases == (AccessBasis.AUTHORIZATION,)
    assert declared.expires_at == clock.now + validity
    assert (declared.granted_by_kind, declared.granted_by_id) == ("professional", DOCTOR.idnat)
    assert declared.name == "TESTPRO101 Dominique"
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=ins)
    assert (status.state, status.treating_doctor) == (AccessState.VALIDE, False)
    assert status.record_status is RecordStatus.ACTIVE

    clock.advance(seconds=validity.total_seconds() + 1)
    assert await state(ctx, ins, DOCTOR.idnat) is AccessState.EXPIRE
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=ins)
    assert status.state is AccessState.EXPIRE

    renewed = await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    assert renewed.state is AccessState.VALIDE
    assert renewed.expires_at == clock.now + validity
    async with ctx.sessions() as session:
        rows = (await session.execute(whole_database(select(m.Authorization)))).scalars().all()
    assert len(rows) == 1  # renewed in place


async def test_a_block_makes_the_authorisation_interdit_and_unblocking_gives_it_back(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)

    assert await access.block(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    assert not await access.block(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    assert await state(ctx, ins, DOCTOR.idnat) is AccessState.INTERDIT
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=ins)
    assert status.state is AccessState.INTERDIT

    assert await access.unblock(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    assert await state(ctx, ins, DOCTOR.idnat) is AccessState.VALIDE

    # Blocked again, and the authorisation runs out under the block: it comes back expired.
    await access.block(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    clock.advance(days=400)
    await access.unblock(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    assert await state(ctx, ins, DOCTOR.idnat) is AccessState.EXPIRE
    assert not await access.unblock(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)


async def test_blocking_a_professional_never_seen_registers_them_from_the_idnat(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await access.block(ctx, actor=patient_actor(ins), ins=ins, professional_idnat=STRANGER.idnat)
    entry = entry_of(
        await access.list_access(ctx, actor=patient_actor(ins), ins=ins), STRANGER.idnat
    )
    assert (entry.kind, entry.state, entry.bases) == ("professional", AccessState.INTERDIT, ())
    assert entry.blocked_since is not None
    # When they show up, their credential completes the row, and the block holds.
    with pytest.raises(OpenDMPError) as caught:
        await access.declare_authorization(ctx, actor=STRANGER, ins=ins)
    assert caught.value.code == "blocked-by-patient"
    status = await access.authorization_status(ctx, actor=STRANGER, ins=ins)
    assert status.state is AccessState.INTERDIT


async def test_unblocking_someone_who_had_no_authorisation_leaves_no_access(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    await access.block(ctx, actor=patient, ins=ins, professional_idnat=STRANGER.idnat)
    await access.unblock(ctx, actor=patient, ins=ins, professional_idnat=STRANGER.idnat)
    assert await access.list_access(ctx, actor=patient, ins=ins) == []
    status = await access.authorization_status(ctx, actor=STRANGER, ins=ins)
    assert status.state is AccessState.NON_EXISTE


async def test_the_patient_revokes_an_authorisation(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    assert await access.revoke_authorization(
        ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat
    )
    assert await access.list_access(ctx, actor=patient, ins=ins) == []
    assert (await access.authorization_status(ctx, actor=DOCTOR, ins=ins)).state is (
        AccessState.NON_EXISTE
    )
    assert not await access.revoke_authorization(
        ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat
    )
    # Declaring again (the patient consents again) restores it.
    again = await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    assert again.state is AccessState.VALIDE


async def test_revoking_under_a_block_means_unblocking_does_not_bring_it_back(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    await access.block(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    assert await access.revoke_authorization(
        ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat
    )
    assert await state(ctx, ins, DOCTOR.idnat) is AccessState.INTERDIT
    await access.unblock(ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat)
    assert await state(ctx, ins, DOCTOR.idnat) is AccessState.NON_EXISTE


async def test_an_authorised_professional_extends_to_a_colleague(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await access.declare_authorization(ctx, actor=DOCTOR, ins=ins)
    colleague = Colleague(
        COLLEAGUE.idnat, COLLEAGUE.profession, name="TESTPRO103 Camille", organization=ORG
    )
    extended = await access.extend_authorization(ctx, actor=DOCTOR, ins=ins, colleague=colleague)
    assert (extended.idnat, extended.state) == (COLLEAGUE.idnat, AccessState.VALIDE)
    assert (extended.granted_by_kind, extended.granted_by_id) == ("professional", DOCTOR.idnat)
    assert extended.profession == "60"
    status = await access.authorization_status(ctx, actor=COLLEAGUE, ins=ins)
    assert status.state is AccessState.VALIDE


async def test_a_structures_care_team_and_a_structure_block(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    await authorise_care_team(ctx, ins, OTHER_DOCTOR)
    patient = patient_actor(ins)
    entry = entry_of(await access.list_access(ctx, actor=patient, ins=ins), ORG)
    assert (entry.kind, entry.state, entry.bases) == (
        "organization",
        AccessState.VALIDE,
        (AccessBasis.CARE_TEAM,),
    )
    assert entry.name == "CH Fictif"
    assert (await access.authorization_status(ctx, actor=OTHER_DOCTOR, ins=ins)).state is (
        AccessState.VALIDE
    )

    await access.block(ctx, actor=patient, ins=ins, organization_idnat=ORG)
    assert entry_of(await access.list_access(ctx, actor=patient, ins=ins), ORG).state is (
        AccessState.INTERDIT
    )
    assert (await access.authorization_status(ctx, actor=OTHER_DOCTOR, ins=ins)).state is (
        AccessState.INTERDIT
    )
    await access.unblock(ctx, actor=patient, ins=ins, organization_idnat=ORG)
    assert (await access.authorization_status(ctx, actor=OTHER_DOCTOR, ins=ins)).state is (
        AccessState.VALIDE
    )


# --- treating doctors -------------------------------------------------------------------------


async def test_a_doctor_names_themself_treating_doctor_when_declaring(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    last = await last_event_id(ctx)
    entry = await access.declare_authorization(ctx, actor=DOCTOR, ins=ins, treating_doctor=True)
    assert entry.bases == (AccessBasis.AUTHORIZATION, AccessBasis.TREATING_DOCTOR)
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=ins)
    assert (status.state, status.treating_doctor) == (AccessState.VALIDE, True)
    actions = [e.action for e in await events_after(ctx, last)]
    assert actions[:2] == ["access:authorization:declare", "access:treating-doctor:set"]


async def test_the_patient_names_and_removes_treating_doctors(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    await register(ctx, DOCTOR)
    await register(ctx, OTHER_DOCTOR)
    for doctor in (DOCTOR, OTHER_DOCTOR):
        assert await access.set_treating_doctor(
            ctx, actor=patient, ins=ins, professional_idnat=doctor.idnat, on=True
        )
    assert not await access.set_treating_doctor(
        ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat, on=True
    )
    entries = await access.list_access(ctx, actor=patient, ins=ins)
    assert [(e.idnat, e.bases, e.state) for e in entries] == [
        (DOCTOR.idnat, (AccessBasis.TREATING_DOCTOR,), AccessState.VALIDE),
        (OTHER_DOCTOR.idnat, (AccessBasis.TREATING_DOCTOR,), AccessState.VALIDE),
    ]
    # A treating doctor sees who has access.
    assert await access.list_access(ctx, actor=DOCTOR, ins=ins) == entries

    assert await access.set_treating_doctor(
        ctx, actor=patient, ins=ins, professional_idnat=DOCTOR.idnat, on=False
    )
    assert [e.idnat for e in await access.list_access(ctx, actor=patient, ins=ins)] == [
        OTHER_DOCTOR.idnat
    ]
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=ins)
    assert (status.state, status.treating_doctor) == (AccessState.NON_EXISTE, False)


# --- the existence test (TD0.2) ---------------------------------------------------------------


async def test_the_existence_test_of_an_unknown_ins_says_non_existe_and_is_traced(
    ctx: ServiceContext,
) -> None:
    unknown = make_ins()
    last = await last_event_id(ctx)
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=unknown)
    assert status == access.AuthorizationStatus(AccessState.NON_EXISTE, False, None)
    (event,) = await events_after(ctx, last)
    assert (event.action, event.outcome, event.record_id) == (
        "record:record:check-existence",
        "success",
        None,
    )
    assert unknown.value not in (event.details or "")


async def test_the_existence_test_tells_a_closed_record_and_its_closure(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await close(ctx, ins)
    status = await access.authorization_status(ctx, actor=DOCTOR, ins=ins)
    assert status.record_status is RecordStatus.CLOSED
    assert status.closure_reason == "FERMETURE_DEMANDE_PATIENT"
    assert status.closed_at is not None


# --- the patient's choices ----------------------------------------------------------------------


async def test_the_patient_sets_the_emergency_choices_and_the_notification_preferences(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    await preferences.set_emergency_choices(
        ctx,
        actor=patient,
        ins=ins,
        allow_regulation=False,
        allow_break_glass=True,
        allow_masked_in_emergency=False,
    )
    prefs = await preferences.set_notification_preferences(
        ctx, actor=patient, ins=ins, on_access=False, on_new_document=True, mask_new_documents=True
    )
    assert prefs == preferences.NotificationPreferences(False, True, True)
    record = await record_row(ctx, ins)
    assert (record.allow_regulation, record.allow_break_glass) == (False, True)
    assert record.allow_masked_in_emergency is False
    assert (record.notify_on_access, record.notify_on_new_document) == (False, True)
    assert record.mask_new_documents is True


# --- emergency access -------------------------------------------------------------------------


async def test_break_glass_opens_a_time_boxed_access_once(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await create(ctx)
    view = await emergency.open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
    assert view.opened_now
    assert (view.mode, view.justification) == (AccessMode.BREAK_GLASS, BREAK_GLASS.justification)
    assert view.expires_at == clock.now + ctx.access.emergency_access_duration
    entry = entry_of(
        await access.list_access(ctx, actor=patient_actor(ins), ins=ins), BREAK_GLASS.idnat
    )
    assert (entry.bases, entry.state, entry.emergency_mode) == (
        (AccessBasis.EMERGENCY,),
        AccessState.VALIDE,
        "break-glass",
    )
    queued = len(await outbox(ctx))

    clock.advance(hours=1)
    again = await emergency.open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
    assert (again.id, again.opened_now) == (view.id, False)
    assert len(await outbox(ctx)) == queued  # told once per access, not per request

    clock.advance(seconds=ctx.access.emergency_access_duration.total_seconds())
    assert await access.list_access(ctx, actor=patient_actor(ins), ins=ins) == []
    reopened = await emergency.open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
    assert reopened.opened_now and reopened.id != view.id


async def test_the_regulation_centre_needs_no_written_justification(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    view = await emergency.open_emergency_access(ctx, actor=SAMU, ins=ins)
    assert (view.mode, view.justification, view.opened_now) == (AccessMode.REGULATION, "", True)
    # To the patient only: this record has no treating doctor.
    (message,) = [r for r in await outbox(ctx) if r.kind == "emergency-access"]
    assert json.loads(message.payload)["mode"] == "regulation"


# --- representatives --------------------------------------------------------------------------


async def test_the_operator_records_a_representative_who_then_manages_the_record(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    mother = await representatives.add_representative(
        ctx,
        actor=OPERATOR,
        ins=ins,
        relation="mth",
        family_name="Fictif",
        given_name="Maud",
        email="maud.fictif@example.org",
    )
    assert (mother.relation, mother.family_name, mother.given_name) == ("MTH", "FICTIF", "Maud")
    as_mother = LegalRepresentative(str(mother.id), str(ins), "MTH")
    assert await access.block(ctx, actor=as_mother, ins=ins, professional_idnat=STRANGER.idnat)

    await representatives.remove_representative(
        ctx, actor=patient_actor(ins), ins=ins, representative_id=mother.id
    )
    with pytest.raises(OpenDMPError) as caught:
        await access.unblock(ctx, actor=as_mother, ins=ins, professional_idnat=STRANGER.idnat)
    assert caught.value.code == "not-own-record"
    await assert_chains_verify(ctx)


def test_every_view_is_frozen() -> None:
    views = (
        access.AccessEntry,
        access.AuthorizationStatus,
        emergency.EmergencyAccessView,
        representatives.RepresentativeView,
        preferences.NotificationPreferences,
    )
    for view in views:
        assert dataclasses.is_dataclass(view)
        # typeshed does not declare the __dataclass_params__ that dataclasses set.
        assert view.__dataclass_params__.frozen  # type: ignore[union-attr]
