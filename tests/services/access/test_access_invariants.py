"""Invariants over the access-management services (docs/rules.md §3.1.2, §3.4, §5):

- every decision, allowed or denied, leaves exactly one audit event naming the actor, the
  action, the access mode, the outcome and the reason; the hash chains still verify;
- every emergency access queues one message to the patient and one per treating doctor
  having an e-mail, even when the patient turned access notifications off, and none of them
  carries the justification; delivered through a real SMTP server, they arrive as such;
- a blocked professional is ``INTERDIT`` in the access list whatever else holds.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from opendmp.domain.actors import AccessMode, Actor, Professional
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.notify.outbox import deliver_due
from opendmp.notify.smtp import SmtpSender
from opendmp.services.access import authorisations as access
from opendmp.services.access import emergency, preferences, representatives
from opendmp.services.access.authorisations import AccessState
from opendmp.services.core.context import ServiceContext
from tests.conftest import Clock
from tests.factories import OPERATOR, make_professional, patient_actor
from tests.notify.smtp_support import SmtpServer, body_of, free_port
from tests.services.access_support import (
    BREAK_GLASS,
    COLLEAGUE,
    CPE,
    DOCTOR,
    NURSE,
    ORG,
    OTHER_DOCTOR,
    PATIENT_EMAIL,
    SAMU,
    SECRET,
    STRANGER,
    assert_chains_verify,
    authorise_care_team,
    create,
    events_after,
    last_event_id,
    outbox,
    register,
)

Step = Callable[[ServiceContext, Ins], Awaitable[Any]]
PAYLOAD_KEYS = {"who", "profession", "organization", "at", "mode", "audience"}


def _scenario(ins: Ins) -> list[tuple[Actor, Step, int]]:
    """(actor, call, decisions taken): allowed and refused calls across every intention."""
    patient = patient_actor(ins)
    unjustified = dataclasses.replace(BREAK_GLASS, justification=None, idnat=STRANGER.idnat)
    return [
        (DOCTOR, lambda c, i: access.declare_authorization(c, actor=DOCTOR, ins=i), 1),
        (
            OTHER_DOCTOR,
            lambda c, i: access.declare_authorization(
                c, actor=OTHER_DOCTOR, ins=i, treating_doctor=True
            ),
            2,
        ),
        (
            NURSE,
            lambda c, i: access.declare_authorization(c, actor=NURSE, ins=i, treating_doctor=True),
            1,  # refused as a whole: one trace, the refusal
        ),
        (
            DOCTOR,
            lambda c, i: access.extend_authorization(c, actor=DOCTOR, ins=i, colleague=COLLEAGUE),
            1,
        ),
        (
            CPE,
            lambda c, i: access.extend_authorization(c, actor=CPE, ins=i, colleague=COLLEAGUE),
            1,
        ),
        (DOCTOR, lambda c, i: access.authorization_status(c, actor=DOCTOR, ins=i), 1),
        (DOCTOR, lambda c, i: access.list_access(c, actor=DOCTOR, ins=i), 1),
        (OTHER_DOCTOR, lambda c, i: access.list_access(c, actor=OTHER_DOCTOR, ins=i), 1),
        (
            patient,
            lambda c, i: access.block(c, actor=patient, ins=i, professional_idnat=STRANGER.idnat),
            1,
        ),
        (DOCTOR, lambda c, i: access.block(c, actor=DOCTOR, ins=i, organization_idnat=ORG), 1),
        (
            patient,
            lambda c, i: access.unblock(c, actor=patient, ins=i, professional_idnat=STRANGER.idnat),
            1,
        ),
        (
            patient,
            lambda c, i: access.revoke_authorization(
                c, actor=patient, ins=i, professional_idnat=COLLEAGUE.idnat
            ),
            1,
        ),
        (
            patient,
            lambda c, i: access.set_treating_doctor(
                c, actor=patient, ins=i, professional_idnat=DOCTOR.idnat, on=True
            ),
            1,
        ),
        (
            patient,
            lambda c, i: preferences.set_notification_preferences(
                c,
                actor=patient,
                ins=i,
                on_access=False,
                on_new_document=True,
                mask_new_documents=False,
            ),
            1,
        ),
        (
            patient,
            lambda c, i: preferences.set_emergency_choices(
                c,
                actor=patient,
                ins=i,
                allow_regulation=True,
                allow_break_glass=True,
                allow_masked_in_emergency=False,
            ),
            1,
        ),
        (BREAK_GLASS, lambda c, i: emergency.open_emergency_access(c, actor=BREAK_GLASS, ins=i), 1),
        (BREAK_GLASS, lambda c, i: emergency.open_emergency_access(c, actor=BREAK_GLASS, ins=i), 1),
        (unjustified, lambda c, i: emergency.open_emergency_access(c, actor=unjustified, ins=i), 1),
        (SAMU, lambda c, i: emergency.open_emergency_access(c, actor=SAMU, ins=i), 1),
        (
            OPERATOR,
            lambda c, i: representatives.add_representative(
                c, actor=OPERATOR, ins=i, relation="FTH", family_name="Fictif", given_name="Paul"
            ),
            1,
        ),
        (
            DOCTOR,
            lambda c, i: representatives.add_representative(
                c, actor=DOCTOR, ins=i, relation="FTH", family_name="Fictif", given_name="Paul"
            ),
            1,
        ),
    ]


async def test_every_decision_leaves_exactly_one_complete_audit_event(ctx: ServiceContext) -> None:
    ins = await create(ctx)
    outcomes = set()
    for actor, step, decisions in _scenario(ins):
        last = await last_event_id(ctx)
        try:
            await step(ctx, ins)
        except OpenDMPError:
            expected_outcome = "denied"
        else:
            expected_outcome = "success"
        events = await events_after(ctx, last)
        # An emergency access opened by a decision adds no event of its own: the opening is
        # the decision's event.
        assert len(events) == decisions, [(e.action, e.outcome) for e in events]
        for event in events:
            assert (event.actor_kind, event.actor_id) == (actor.kind.value, actor.actor_id)
            assert event.action.startswith(("access:", "record:record:"))
            assert event.access_mode == actor.access_mode.value
            assert event.outcome == expected_outcome
            if expected_outcome == "success":
                assert event.reason == "allowed"
            else:
                assert event.reason and event.reason != "allowed"
            assert event.record_id is not None
            if isinstance(actor, Professional):
                assert event.actor_profession == actor.profession
        outcomes.add(expected_outcome)
    assert outcomes == {"success", "denied"}
    await assert_chains_verify(ctx)


@pytest.mark.parametrize("mode", [AccessMode.BREAK_GLASS, AccessMode.REGULATION])
async def test_every_emergency_access_tells_the_patient_and_each_treating_doctor(
    ctx: ServiceContext, mode: AccessMode
) -> None:
    ins = await create(ctx)
    patient = patient_actor(ins)
    # Three treating doctors, two of them with an e-mail address.
    doctors = [make_professional(200 + n) for n in range(3)]
    for n, doctor in enumerate(doctors):
        await register(ctx, doctor, email=f"dr{n}@example.org" if n < 2 else None)
        await access.set_treating_doctor(
            ctx, actor=patient, ins=ins, professional_idnat=doctor.idnat, on=True
        )
    await preferences.set_notification_preferences(
        ctx,
        actor=patient,
        ins=ins,
        on_access=False,
        on_new_document=False,
        mask_new_documents=False,
    )
    actor = BREAK_GLASS if mode is AccessMode.BREAK_GLASS else SAMU
    before = {row.id for row in await outbox(ctx)}

    await emergency.open_emergency_access(ctx, actor=actor, ins=ins)

    queued = [row for row in await outbox(ctx) if row.id not in before]
    assert sorted((r.recipient, json.loads(r.payload)["audience"]) for r in queued) == [
        (PATIENT_EMAIL, "patient"),
        ("dr0@example.org", "treating-doctor"),
        ("dr1@example.org", "treating-doctor"),
    ]
    for row in queued:
        payload = json.loads(row.payload)
        assert row.kind == "emergency-access"
        assert set(payload) == PAYLOAD_KEYS
        assert payload["mode"] == mode.value
        assert payload["who"] == actor.name
        assert payload["profession"] == "Médecin"
        assert SECRET not in row.payload
        assert str(ins.value) not in row.payload


async def test_a_blocked_professional_is_interdit_whatever_else_holds(
    ctx: ServiceContext, clock: Clock
) -> None:
    start = clock.now
    for authorised, expired, treating, emergency_open, care_team in itertools.product(
        [False, True], repeat=5
    ):
        clock.now = start
        ins = await create(ctx)
        patient = patient_actor(ins)
        doctor = dataclasses.replace(BREAK_GLASS, access_mode=AccessMode.NORMAL)
        await register(ctx, doctor)
        if care_team:
            await authorise_care_team(ctx, ins, doctor)
        if authorised:
            await access.declare_authorization(ctx, actor=doctor, ins=ins)
        if treating:
            await access.set_treating_doctor(
                ctx, actor=patient, ins=ins, professional_idnat=doctor.idnat, on=True
            )
        if emergency_open:
            await emergency.open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
        if expired:
            clock.advance(seconds=ctx.access.authorization_validity.total_seconds() + 1)

        await access.block(ctx, actor=patient, ins=ins, professional_idnat=doctor.idnat)

        entries = await access.list_access(ctx, actor=patient, ins=ins)
        (entry,) = [e for e in entries if e.idnat == doctor.idnat]
        assert entry.state is AccessState.INTERDIT
        status = await access.authorization_status(ctx, actor=doctor, ins=ins)
        assert status.state is AccessState.INTERDIT
        with pytest.raises(OpenDMPError) as caught:
            await emergency.open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)
        assert caught.value.code == "blocked-by-patient"
    await assert_chains_verify(ctx)


async def test_emergency_messages_reach_the_patient_and_the_doctor_without_the_justification(
    ctx: ServiceContext,
) -> None:
    ins = await create(ctx)
    await register(ctx, DOCTOR, email="dr.traitant@example.org")
    await access.set_treating_doctor(
        ctx, actor=patient_actor(ins), ins=ins, professional_idnat=DOCTOR.idnat, on=True
    )
    await emergency.open_emergency_access(ctx, actor=BREAK_GLASS, ins=ins)

    server = SmtpServer(free_port())
    server.start()
    try:
        sender = SmtpSender("127.0.0.1", server.port, "OpenDMP <no-reply@opendmp.localhost>")
        report = await deliver_due(ctx.sessions, sender, now=ctx.now())
    finally:
        server.stop()

    rows = await outbox(ctx)
    assert report.sent == len(rows) == 3  # creation, patient, treating doctor
    assert {r.status for r in rows} == {"sent"}
    by_recipient = {
        str(message["To"]): (str(message["Subject"]), body_of(message))
        for message in server.inbox.messages
        if "urgence" in str(message["Subject"])
    }
    assert by_recipient.keys() == {PATIENT_EMAIL, "dr.traitant@example.org"}
    subject, body = by_recipient[PATIENT_EMAIL]
    assert subject == "Accès en urgence à votre DMP"
    assert "urgence, « bris de glace »" in body
    assert BREAK_GLASS.name is not None and BREAK_GLASS.name in body
    subject, body = by_recipient["dr.traitant@example.org"]
    assert subject == "Accès en urgence au DMP d'un de vos patients"
    for text in server.inbox.raw():
        assert "CONFIDENTIELLE" not in text
        assert "coma" not in text
        assert ins.value not in text
