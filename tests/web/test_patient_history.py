"""Issue 15, items 1 and 2, over ASGI on both databases: the emergency notice of the home
page (until acknowledged, the acknowledgement persisted and audited), and a history a person
can read (grouped repetitions, own page views hidden by default, establishment names, the
document concerned, "report this access" kept; a representative is not told of a document
hidden from representatives)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from html import unescape

import httpx
import orjson
from sqlalchemy import select

from opendmp.domain.actors import AccessMode
from opendmp.services.access.authorisations import declare_authorization
from opendmp.services.access.emergency import open_emergency_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory.professionals import ensure_organization
from opendmp.services.documents import read_document, search_documents
from opendmp.services.documents.search import DocumentQuery
from opendmp.services.records.history import (
    GROUP_WINDOW,
    HistoryEntry,
    group_entries,
)
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import make_professional
from tests.record_scope import whole_database
from tests.web.conftest import csrf_of
from tests.web.test_patient_portal import DOCTOR, deposit, signed_in

CLINIC = "1750100125"
RESCUER = dataclasses.replace(
    make_professional(33, organization=CLINIC),
    access_mode=AccessMode.BREAK_GLASS,
    justification="patient inconscient aux urgences",
)
_THROUGH = re.compile(r'name="through" value="(\d+)"')


async def name_clinic(ctx: ServiceContext) -> None:
    async with ctx.uow() as uow:
        await ensure_organization(uow.session, CLINIC, name="Clinique des Tilleuls", now=ctx.now())
        await uow.commit()


async def acknowledgements(ctx: ServiceContext) -> list[int]:
    async with ctx.uow() as uow:
        rows = (
            await uow.session.execute(
                whole_database(
                    select(m.AuditEvent.details).where(
                        m.AuditEvent.action == "access:emergency:acknowledged"
                    )
                )
            )
        ).scalars()
        return [orjson.loads(details or "{}")["through"] for details in rows]


async def test_an_emergency_access_stays_on_the_home_page_until_acknowledged(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    await name_clinic(ctx)
    quiet = await client.get("/patient")
    assert 'id="emergency-notice"' not in quiet.text
    doc = await deposit(ctx, account, title="Bilan sanguin")
    clock.advance(minutes=5)
    await open_emergency_access(ctx, actor=RESCUER, ins=account.ins)
    await read_document(ctx, actor=RESCUER, ins=account.ins, document_id=doc.id)

    home = await client.get("/patient")
    text = unescape(home.text)
    assert 'id="emergency-notice"' in home.text
    assert "TESTPRO33 Dominique" in text and "Clinique des Tilleuls" in text
    assert "URGENCE — bris de glace" in text
    shown = _THROUGH.search(home.text)
    assert shown
    # Refusals: no id, an id of no event of this record; nothing is acknowledged.
    bad = await client.post(
        "/patient/urgences/vu", data={"csrf_token": csrf_of(home.text), "through": "x"}
    )
    assert bad.status_code == 400
    foreign = await client.post(
        "/patient/urgences/vu", data={"csrf_token": csrf_of(home.text), "through": "999999999"}
    )
    assert foreign.status_code == 400
    huge = await client.post(
        "/patient/urgences/vu", data={"csrf_token": csrf_of(home.text), "through": "9" * 30}
    )
    assert huge.status_code == 400
    no_csrf = await client.post("/patient/urgences/vu", data={"through": shown.group(1)})
    assert no_csrf.status_code == 403
    assert await acknowledgements(ctx) == []
    assert 'id="emergency-notice"' in (await client.get("/patient")).text

    done = await client.post(
        "/patient/urgences/vu",
        data={"csrf_token": csrf_of(home.text), "through": shown.group(1)},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/patient?fait=acknowledged"
    assert await acknowledgements(ctx) == [int(shown.group(1))]
    after = await client.get("/patient")
    assert 'id="emergency-notice"' not in after.text
    history = await client.get("/patient/historique")
    assert "TESTPRO33 Dominique" in history.text  # still in the history

    # A later emergency access shows again.
    clock.advance(minutes=10)
    await read_document(ctx, actor=RESCUER, ins=account.ins, document_id=doc.id)
    again = await client.get("/patient")
    assert 'id="emergency-notice"' in again.text


async def test_the_history_groups_repeats_names_establishments_and_documents(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    await name_clinic(ctx)
    doc = await deposit(ctx, account, title="Compte rendu opératoire")
    await declare_authorization(ctx, actor=DOCTOR, ins=account.ins)
    for _ in range(12):  # twelve consultations of the list within minutes
        clock.advance(minutes=1)
        await search_documents(ctx, actor=DOCTOR, ins=account.ins, query=DocumentQuery())
    for _ in range(3):  # outside the window (the session kept alive): a line of its own
        assert (await client.get("/patient")).status_code == 200
        clock.advance(minutes=11)
    await search_documents(ctx, actor=DOCTOR, ins=account.ins, query=DocumentQuery())
    await read_document(ctx, actor=DOCTOR, ins=account.ins, document_id=doc.id)
    await client.get("/patient/documents")  # the patient's own page views
    await client.get("/patient/professionnels")
    await client.get("/patient/choix")  # reads the preferences and the patient's own matrix
    await client.get("/patient/aidants")  # lists her delegations

    page = await client.get("/patient/historique")
    assert page.status_code == 200
    text = unescape(page.text)
    table = text.split("<table")[1]
    assert "12 fois" in table
    assert table.count("a consulté la liste des documents") == 2
    assert "Clinique des Tilleuls" in table and CLINIC not in table
    assert "a consulté un document : <em>Compte rendu opératoire (" in table
    assert "a ajouté un document : <em>Compte rendu opératoire" in table
    rows = table.split("<tr")
    own_rows = [row for row in rows if "Vous" in row]
    assert own_rows, "the patient's sign-in steps stay"
    assert not [row for row in own_rows if "a consulté" in row], "own page views are hidden"
    assert "Signaler cet accès" in table
    assert 'class="emergency-row"' not in table

    shown = await client.get("/patient/historique", params={"vues": "1"})
    own = [row for row in unescape(shown.text).split("<table")[1].split("<tr") if "Vous" in row]
    assert [row for row in own if "a consulté la liste des documents" in row]

    # The report of a grouped line names its latest event.
    event = re.search(r'name="event" value="(\d+)"', page.text)
    assert event
    reported = await client.post(
        "/patient/historique/signaler",
        data={"csrf_token": csrf_of(page.text), "event": event.group(1), "comment": "?"},
    )
    assert reported.status_code == 303


async def test_the_history_in_english_and_the_emergency_rows_share_the_table(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    doc = await deposit(ctx, account, title="Bilan")
    await open_emergency_access(ctx, actor=RESCUER, ins=account.ins)
    await read_document(ctx, actor=RESCUER, ins=account.ins, document_id=doc.id)
    await client.get("/langue?lang=en&next=/patient")
    page = await client.get("/patient/historique")
    text = unescape(page.text)
    assert "Paris time" in text
    table = text.split("<tbody>")[1].split("</tbody>")[0]
    assert table.count('class="emergency-row"') >= 2
    assert 'class="emergency"' not in text  # the banner's class no longer styles rows
    assert "read a document: <em>Bilan" in table or "read a document : <em>Bilan" in table


def _entry(n: int, at: dt.datetime, *, who: str = "8A", action: str = "a") -> HistoryEntry:
    return HistoryEntry(
        event_id=n,
        time=at,
        actor_kind="professional",
        actor_id=who,
        actor_name=None,
        actor_profession=None,
        actor_organization=None,
        action=action,
        access_mode="normal",
        outcome="success",
        reason=None,
        target_document_id=None,
        emergency=False,
    )


def test_grouping_keeps_apart_other_actors_actions_and_what_lies_outside_the_window() -> None:
    t0 = dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)
    entries = [  # newest first
        _entry(6, t0),
        _entry(5, t0 - dt.timedelta(minutes=5), who="8B"),
        _entry(4, t0 - dt.timedelta(minutes=10)),
        _entry(3, t0 - GROUP_WINDOW),
        _entry(2, t0 - GROUP_WINDOW - dt.timedelta(minutes=1)),
        _entry(1, t0 - GROUP_WINDOW, action="b"),
    ]
    groups = group_entries(entries)
    assert [(g.latest.event_id, g.count) for g in groups] == [(6, 3), (5, 1), (2, 1), (1, 1)]
    assert groups[0].event_ids == (6, 4, 3)
    assert groups[0].earliest == t0 - GROUP_WINDOW
    assert group_entries([]) == []


async def test_a_newborns_record_opened_after_midnight_in_paris_is_not_born_tomorrow(
    ctx: ServiceContext, clock: Clock
) -> None:
    """At 23:30 UTC on 1 March it is 2 March in Paris: a baby born that day is not "born in
    the future" (the check used the UTC day before issue 15)."""
    from opendmp.services.records import lifecycle
    from tests.factories import OPERATOR, make_ins, new_record

    clock.now = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    request = new_record(make_ins(), clock.now, birth_date=dt.date(2026, 3, 2))
    view = await lifecycle.create_record(ctx, actor=OPERATOR, request=request)
    assert view.status.value == "active"


async def test_the_desk_records_consent_in_paris_time_with_its_offset(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    """Item 7: the desk said "23:30 UTC" on 1 March; a person at the desk reads the Paris
    time, 00:30 on 2 March, with its offset — and in summer the offset changes."""
    from tests.web.conftest import sign_in as desk_sign_in
    from tests.web.test_desk import IDENTITY, consent_page

    clock.now = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    await desk_sign_in(client, "desk")
    page = unescape((await consent_page(client, IDENTITY)).text)
    assert "le 02/03/2026 00:30 (UTC+01:00)" in page and "UTC." not in page
    clock.now = dt.datetime(2026, 7, 14, 22, 30, tzinfo=dt.UTC)
    await desk_sign_in(client, "desk")
    page = unescape((await consent_page(client, IDENTITY)).text)
    assert "le 15/07/2026 00:30 (UTC+02:00)" in page


def test_a_representative_reads_the_holders_own_events_as_the_holders_not_an_ins() -> None:
    from opendmp.domain.actors import LegalRepresentative, Patient
    from opendmp.web.patient.history import _row

    t0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    holder = dataclasses.replace(
        _entry(1, t0), actor_kind="patient", actor_id="1.2.250.1.213.1.4.8|280017512345678"
    )
    [group] = group_entries([holder])
    representative = LegalRepresentative("r-1", holder.actor_id, "MTH")
    assert _row(group, representative, "fr", holder.actor_id)["who"] == "holder"
    assert _row(group, Patient(ins=holder.actor_id), "fr", holder.actor_id)["who"] == "you"
