"""The objection page of the opt-out opening (``/patient/opposition``, docs/portals.md) over
ASGI, on both databases: the form, a wrong code told in the person's language, the
objection and its proof, a proof asked before any objection. The browser test is in
test_opposition_browser.py."""

from __future__ import annotations

import dataclasses

import httpx
import orjson
from sqlalchemy import select

from opendmp.audit.vocabulary import AuditAction
from opendmp.devtools.demo import DESK
from opendmp.domain.identifiers import Ins
from opendmp.domain.opt_out import OptOutRules
from opendmp.domain.records import RecordStatus
from opendmp.services.core.context import ServiceContext
from opendmp.services.records.opt_out import announce, open_due_records
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record
from opendmp.web import i18n
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins
from tests.services.records.test_opt_out import BORN, Letters, person, record_events, status_of
from tests.web.conftest import post_form, sign_in
from tests.web.test_site import ENGLISH, alert_text

PAGE = "/patient/opposition"


async def announced(ctx: ServiceContext, ins: Ins) -> str:
    enabled = dataclasses.replace(ctx, opt_out=OptOutRules(enabled=True))
    await announce(enabled, actor=OPERATOR, person=person(ins), letters=Letters())
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(m.Outbox.payload).where(m.Outbox.kind == "opt-out-notice")
        )
        code: str = orjson.loads(list(rows.scalars())[-1])["code"]
    return code


async def test_a_wrong_code_is_told_in_french_and_changes_nothing(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    code = await announced(ctx, make_ins())
    page = await client.get(PAGE)
    assert page.status_code == 200 and 'action="/patient/opposition"' in page.text
    refused = await post_form(client, PAGE, PAGE, {"code": code, "birth_date": "1980-01-16"})
    assert refused.status_code == 401
    assert "ne correspondent à aucun courrier" in alert_text(refused.text)
    assert not ENGLISH.search(alert_text(refused.text))
    not_a_date = await post_form(client, PAGE, PAGE, {"code": code, "birth_date": "hier"})
    assert not_a_date.status_code == 401
    early = await post_form(
        client, PAGE, PAGE + "/attestation", {"code": code, "birth_date": BORN.isoformat()}
    )
    assert early.status_code == 409
    assert "Aucune opposition" in alert_text(early.text)


async def test_the_objection_is_recorded_and_its_proof_downloaded(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    code = await announced(ctx, make_ins())
    client.cookies.set(i18n.COOKIE, "en")
    done = await post_form(
        client, PAGE, PAGE, {"code": code.lower(), "birth_date": BORN.isoformat()}
    )
    assert done.status_code == 200, done.text
    assert "Your objection is recorded" in done.text
    assert "Your DMP will not be opened." in done.text
    proof = await post_form(
        client, PAGE, PAGE + "/attestation", {"code": code, "birth_date": BORN.isoformat()}
    )
    assert proof.status_code == 200
    assert proof.headers["content-type"] == "application/pdf"
    assert proof.content.startswith(b"%PDF")
    assert proof.headers["cache-control"] == "no-store"


async def test_at_the_desk_an_objection_after_the_opening_closes_the_record(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    ins = make_ins()
    code = await announced(ctx, ins)
    clock.advance(days=43)
    assert await open_due_records(ctx) == 1
    await sign_in(client)
    home = await client.get("/accueil")
    assert 'href="/accueil/opposition"' in home.text
    desk = "/accueil/opposition"
    wrong = await post_form(client, desk, desk, {"code": code, "birth_date": "1999-01-01"})
    assert wrong.status_code == 401
    assert "ne correspondent à aucun courrier" in alert_text(wrong.text)
    assert await status_of(ctx, ins) is RecordStatus.ACTIVE
    done = await post_form(client, desk, desk, {"code": code, "birth_date": BORN.isoformat()})
    assert done.status_code == 200, done.text
    assert "Le DMP, qui avait été ouvert, est fermé." in done.text
    assert await status_of(ctx, ins) is RecordStatus.CLOSED
    events = await record_events(ctx, ins)
    assert events[-2:] == [AuditAction.RECORD_OPPOSE, AuditAction.RECORD_CLOSE]
    async with ctx.sessions() as session:
        found = await find_record(session, ins)
        assert found is not None
        oppose_event = (
            await session.execute(
                select(m.AuditEvent).where(
                    m.AuditEvent.record_id == found[1].id,
                    m.AuditEvent.action == AuditAction.RECORD_OPPOSE.value,
                )
            )
        ).scalar_one()
    assert oppose_event.actor_id == DESK.actor.idnat, "the desk agent who recorded it"
    proof = await post_form(
        client, desk, desk + "/attestation", {"code": code, "birth_date": BORN.isoformat()}
    )
    assert proof.status_code == 200 and proof.content.startswith(b"%PDF")
