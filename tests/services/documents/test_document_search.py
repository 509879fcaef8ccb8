"""Searching a record's documents (ITI-67 / PDSm, DMP TD3.1): the policy's SQL filter, every
criterion, keyset paging under concurrent writes, signed cursors, statement count.
Refusals first, then what each reader sees, then criteria and paging."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable

import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.domain.actors import AccessMode, Actor
from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import (
    DateRange,
    DocumentPage,
    DocumentQuery,
    DocumentView,
    PageRequest,
)
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import patient_actor
from tests.record_scope import whole_database
from tests.services.document_support import (
    AUTHOR,
    BLOCKED,
    COLLEAGUE,
    DOCTOR,
    PHARMACIST,
    STRANGER,
    TREATING,
    counted_statements,
    deposit,
    grant,
    last_event,
    name_treating_doctor,
    new_patient_record,
    outbox_rows,
    record_events,
)


async def search(
    ctx: ServiceContext,
    actor: Actor,
    ins: Ins,
    query: DocumentQuery | None = None,
    page: PageRequest | None = None,
) -> DocumentPage:
    return await documents.search_documents(
        ctx, actor=actor, ins=ins, query=query or DocumentQuery(), page=page or PageRequest()
    )


def ids(page: DocumentPage) -> set[uuid.UUID]:
    return {v.id for v in page.items}


async def supersede(ctx: ServiceContext, old: DocumentView, new: DocumentView) -> None:
    """What a replacement (ITI-65 RPLC) leaves behind: the old version superseded."""
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(m.Document)
            .where(m.Document.record_id == old.record_id, m.Document.id == old.id)
            .values(status="superseded")
        )
        await session.execute(
            update(m.Document)
            .where(m.Document.record_id == new.record_id, m.Document.id == new.id)
            .values(replaces_id=old.id)
        )


# --- refusals ---------------------------------------------------------------------------------


async def test_a_blocked_professional_sees_nothing_and_the_refusal_is_audited(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    await deposit(ctx, ins)
    await grant(ctx, ins, BLOCKED, state="blocked")

    with pytest.raises(AccessDenied) as caught:
        await search(ctx, BLOCKED, ins)

    assert caught.value.code == "blocked-by-patient"
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome, denied.reason, denied.actor_id) == (
        "document:document:search",
        "denied",
        "blocked-by-patient",
        BLOCKED.idnat,
    )


async def test_a_professional_without_any_access_basis_cannot_search(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    await deposit(ctx, ins)

    with pytest.raises(AccessDenied) as caught:
        await search(ctx, STRANGER, ins)

    assert caught.value.code == "not-authorized"


async def test_a_patient_cannot_search_another_patients_record(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    other = await new_patient_record(ctx)
    with pytest.raises(AccessDenied) as caught:
        await search(ctx, patient_actor(other), ins)
    assert caught.value.code == "not-own-record"


async def test_a_tampered_cursor_is_refused(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    for _ in range(3):
        await deposit(ctx, ins)
    first = await search(ctx, patient_actor(ins), ins, page=PageRequest(count=2))
    assert first.next_cursor is not None
    body, mac = first.next_cursor.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]

    for bad in (f"{flipped}.{mac}", f"{body}.{mac[:-2]}xx", "garbage", "", "a.b.c"):
        with pytest.raises(InvalidInput) as caught:
            await search(ctx, patient_actor(ins), ins, page=PageRequest(count=2, cursor=bad))
        assert caught.value.code == "invalid-cursor"


async def test_a_cursor_is_refused_with_other_criteria_or_another_record(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    other = await new_patient_record(ctx)
    for _ in range(3):
        await deposit(ctx, ins)
    first = await search(ctx, patient_actor(ins), ins, page=PageRequest(count=2))
    cursor = PageRequest(count=2, cursor=first.next_cursor)

    with pytest.raises(InvalidInput) as caught:
        await search(ctx, patient_actor(ins), ins, DocumentQuery(type_codes=("11490-0",)), cursor)
    assert caught.value.code == "invalid-cursor"
    with pytest.raises(InvalidInput) as caught:
        await search(ctx, patient_actor(other), other, page=cursor)
    assert caught.value.code == "invalid-cursor"


async def test_unknown_statuses_labels_and_sorts_are_refused(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    for query in (
        DocumentQuery(statuses=("entered-in-error",)),
        DocumentQuery(security_labels=("SECRET",)),
        DocumentQuery(sort="title"),
        DocumentQuery(date=DateRange(ge=dt.datetime(2026, 1, 1))),  # noqa: DTZ001 - on purpose
    ):
        with pytest.raises(InvalidInput) as caught:
            await search(ctx, patient_actor(ins), ins, query)
        assert caught.value.code == "invalid-search"


# --- what each reader sees --------------------------------------------------------------------


async def test_a_pharmacist_does_not_see_the_psychiatric_synthesis(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    letter = await deposit(ctx, ins)
    psychiatric = await deposit(ctx, ins, type_code="68599-0", title="Synthèse psychiatrique")
    await grant(ctx, ins, PHARMACIST)
    await grant(ctx, ins, DOCTOR)

    assert ids(await search(ctx, PHARMACIST, ins)) == {letter.id}
    assert ids(await search(ctx, DOCTOR, ins)) == {letter.id, psychiatric.id}


async def test_a_masked_document_is_listed_only_to_its_author_the_author_organisation_and_treating_doctors(  # noqa: E501
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    plain = await deposit(ctx, ins)
    masked = await deposit(ctx, ins)
    await documents.mask_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=masked.id, masked=True
    )
    for professional in (AUTHOR, COLLEAGUE, DOCTOR):
        await grant(ctx, ins, professional)
    await name_treating_doctor(ctx, ins, TREATING)

    assert ids(await search(ctx, DOCTOR, ins)) == {plain.id}
    for reader in (AUTHOR, COLLEAGUE, TREATING):
        assert ids(await search(ctx, reader, ins)) == {plain.id, masked.id}, reader.name
    assert ids(await search(ctx, patient_actor(ins), ins)) == {plain.id, masked.id}


async def test_a_document_invisible_to_the_patient_is_never_listed_to_the_patient(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    visible = await deposit(ctx, ins)
    hidden = await deposit(ctx, ins, invisible_to_patient=True)
    await grant(ctx, ins, DOCTOR)

    for query in (
        DocumentQuery(),
        DocumentQuery(include_superseded=True),
        DocumentQuery(security_labels=("INVISIBLE_PATIENT",)),
        DocumentQuery(ids=(hidden.id,)),
    ):
        page = await search(ctx, patient_actor(ins), ins, query)
        assert hidden.id not in ids(page)
        assert page.total == len(page.items)
    assert ids(await search(ctx, DOCTOR, ins)) == {visible.id, hidden.id}


async def test_superseded_versions_are_listed_only_on_request(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    old = await deposit(ctx, ins)
    new = await deposit(ctx, ins)
    await supersede(ctx, old, new)
    patient = patient_actor(ins)

    default = await search(ctx, patient, ins)
    assert ids(default) == {new.id}
    assert default.replaced_entry_uuids == {old.id: old.entry_uuid}
    assert ids(await search(ctx, patient, ins, DocumentQuery(include_superseded=True))) == {
        old.id,
        new.id,
    }
    only_old = await search(ctx, patient, ins, DocumentQuery(statuses=("superseded",)))
    assert ids(only_old) == {old.id}
    assert [v.status for v in only_old.items] == ["superseded"]


async def test_deleted_documents_are_never_listed(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    kept = await deposit(ctx, ins)
    gone = await deposit(ctx, ins)
    await documents.delete_document(ctx, actor=AUTHOR, ins=ins, document_id=gone.id)
    page = await search(ctx, patient_actor(ins), ins, DocumentQuery(include_superseded=True))
    assert ids(page) == {kept.id}


async def test_a_search_is_audited_once_with_counts_and_no_criteria(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    for _ in range(3):
        await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)

    page = await search(
        ctx, DOCTOR, ins, DocumentQuery(author_family="testpro11"), PageRequest(count=2)
    )

    event = await last_event(ctx, ins)
    assert (event.action, event.outcome, event.actor_id) == (
        "document:document:search",
        "success",
        DOCTOR.idnat,
    )
    details = orjson.loads(event.details or "{}")
    assert details == {"count": 2, "total": 3, "page": "first"}
    assert "testpro11" not in (event.details or "").lower()
    assert page.total == 3


async def test_a_professionals_accesses_notify_the_patient_once_a_day(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)

    await search(ctx, DOCTOR, ins)
    await documents.read_document(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    await documents.read_document_metadata(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    await search(ctx, patient_actor(ins), ins)  # the patient's own reads notify nobody
    assert len(await outbox_rows(ctx, "access")) == 1

    clock.advance(days=1)
    await documents.read_document(ctx, actor=DOCTOR, ins=ins, document_id=doc.id)
    rows = await outbox_rows(ctx, "access")
    assert len(rows) == 2
    payload = orjson.loads(rows[-1].payload)
    assert payload["who"] == DOCTOR.name
    assert payload["mode"] == "normal"
    assert rows[-1].recipient == "alex.fictif@example.org"


async def test_no_access_notification_when_the_patient_turned_it_off(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(m.Record).values(notify_on_access=False))

    await search(ctx, DOCTOR, ins)

    assert await outbox_rows(ctx, "access") == []


async def test_an_emergency_search_opens_an_emergency_access(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    await deposit(ctx, ins)
    emergency = dataclasses.replace(
        STRANGER, access_mode=AccessMode.BREAK_GLASS, justification="patient unconscious"
    )

    await name_treating_doctor(ctx, ins, TREATING)

    await search(ctx, emergency, ins)
    await search(ctx, emergency, ins)  # the running access is reused

    async with ctx.sessions() as session:
        opened = (await session.execute(whole_database(select(m.EmergencyAccess)))).scalars().all()
    assert [(row.mode, row.justification) for row in opened] == [
        ("break-glass", "patient unconscious")
    ]
    assert len(await outbox_rows(ctx, "emergency-access")) >= 1
    assert await outbox_rows(ctx, "access") == []  # the emergency message replaces it


async def test_an_emergency_search_is_audited_with_its_mode(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    emergency = dataclasses.replace(
        STRANGER, access_mode=AccessMode.BREAK_GLASS, justification="patient unconscious"
    )

    assert ids(await search(ctx, emergency, ins)) == {doc.id}
    events = {e.action: e for e in await record_events(ctx, ins)}
    searched = events["document:document:search"]
    assert (searched.outcome, searched.access_mode) == ("success", "break-glass")
    assert events["access:emergency:open"].access_mode == "break-glass"


# --- criteria ---------------------------------------------------------------------------------

BASE = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)  # the Clock's start


def days(n: float) -> dt.datetime:
    return BASE + dt.timedelta(days=n)


async def corpus(ctx: ServiceContext, clock: Clock) -> tuple[Ins, dict[str, DocumentView]]:
    """Five documents that differ on every criterion, deposited a minute apart."""
    ins = await new_patient_record(ctx)
    docs: dict[str, DocumentView] = {}
    docs["letter"] = await deposit(
        ctx,
        ins,
        practice_setting="ETABLISSEMENT",
        facility_type="SA01",
        event_codes=("CCAM-1", "CIM_100%"),
        creation_time=days(-10),
        service_start=days(-10),
        service_stop=days(-9),
    )
    clock.advance(minutes=1)
    docs["synthesis"] = await deposit(
        ctx,
        ins,
        actor=DOCTOR,
        type_code="60591-5",
        format_code="urn:asip:ci-sis:vsm:2012",
        practice_setting="AMBULATOIRE",
        facility_type="SA07",
        event_codes=("CIM-1",),
        creation_time=days(-100),
        service_start=days(-100),
    )
    clock.advance(minutes=1)
    docs["lab"] = await deposit(
        ctx,
        ins,
        type_code="11502-2",
        format_code="urn:ihe:lab:xd-lab:2008",
        practice_setting="ETABLISSEMENT",
        facility_type="SA25",
        creation_time=days(-30),
        service_start=days(-30),
        service_stop=days(-29),
        invisible_to_representatives=True,
    )
    clock.advance(minutes=1)
    docs["prescription"] = await deposit(
        ctx,
        ins,
        type_code="57833-6",
        creation_time=days(-5),
        service_start=days(-5),
    )
    clock.advance(minutes=1)
    docs["own"] = await documents.deposit_patient_document(
        ctx,
        actor=patient_actor(ins),
        ins=ins,
        title="Mes directives",
        type_code="EXPPAT_3",
        mime_type="text/plain",
        content="Je souhaite …".encode(),
    )
    clock.advance(minutes=1)
    docs["synthesis"] = await documents.mask_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=docs["synthesis"].id, masked=True
    )
    docs["lab"] = await documents.archive_document(
        ctx, actor=AUTHOR, ins=ins, document_id=docs["lab"].id, archived=True
    )
    related = {"context": {"related": [{"identifier": {"system": "urn:x", "value": "ORDER-42"}}]}}
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(m.Document)
            .where(
                m.Document.record_id == docs["prescription"].record_id,
                m.Document.id == docs["prescription"].id,
            )
            .values(extra=orjson.dumps(related).decode())
        )
    return ins, docs


Case = Callable[[dict[str, DocumentView]], DocumentQuery]

CASES: dict[str, tuple[Case, set[str]]] = {
    "identifier: uniqueId as urn:oid": (
        lambda d: DocumentQuery(unique_ids=(f"urn:oid:{d['letter'].unique_id}",)),
        {"letter"},
    ),
    "identifier: entryUUID without urn:uuid": (
        lambda d: DocumentQuery(entry_uuids=(d["synthesis"].entry_uuid.removeprefix("urn:uuid:"),)),
        {"synthesis"},
    ),
    "identifier: logical id or uniqueId": (
        lambda d: DocumentQuery(ids=(d["lab"].id,), unique_ids=(d["own"].unique_id,)),
        {"lab", "own"},
    ),
    "category": (lambda d: DocumentQuery(class_codes=("11", "90")), {"synthesis", "own"}),
    "type": (
        lambda d: DocumentQuery(type_codes=("11502-2", "57833-6")),
        {"lab", "prescription"},
    ),
    "setting": (lambda d: DocumentQuery(practice_settings=("AMBULATOIRE",)), {"synthesis"}),
    "facility": (lambda d: DocumentQuery(facility_types=("SA25", "SA07")), {"lab", "synthesis"}),
    "event": (lambda d: DocumentQuery(event_codes=("CCAM-1",)), {"letter"}),
    "event with LIKE wildcards": (lambda d: DocumentQuery(event_codes=("CIM_100%",)), {"letter"}),
    "event is not a prefix match": (lambda d: DocumentQuery(event_codes=("CIM",)), set()),
    "security-label MASQUE_PS": (
        lambda d: DocumentQuery(security_labels=("MASQUE_PS",)),
        {"synthesis"},
    ),
    "security-label INVISIBLE_REPRESENTANTS_LEGAUX": (
        lambda d: DocumentQuery(security_labels=("INVISIBLE_REPRESENTANTS_LEGAUX",)),
        {"lab"},
    ),
    "security-label N": (
        lambda d: DocumentQuery(security_labels=("N",)),
        {"letter", "prescription", "own"},
    ),
    "format": (lambda d: DocumentQuery(format_codes=("urn:ihe:lab:xd-lab:2008",)), {"lab"}),
    "date gt/le": (
        lambda d: DocumentQuery(
            date=DateRange(gt=d["letter"].deposited_at, le=d["prescription"].deposited_at)
        ),
        {"synthesis", "lab", "prescription"},
    ),
    "date ge/lt": (
        lambda d: DocumentQuery(
            date=DateRange(ge=d["letter"].deposited_at, lt=d["synthesis"].deposited_at)
        ),
        {"letter"},
    ),
    "creation lt": (lambda d: DocumentQuery(creation=DateRange(lt=days(-50))), {"synthesis"}),
    "creation ge": (
        lambda d: DocumentQuery(creation=DateRange(ge=days(-6))),
        {"prescription", "own"},
    ),
    "period overlaps": (
        lambda d: DocumentQuery(period=DateRange(ge=days(-12), le=days(-9.5))),
        {"letter"},
    ),
    "period gt/lt": (
        lambda d: DocumentQuery(period=DateRange(gt=days(-31), lt=days(-20))),
        {"lab"},
    ),
    "period-start": (
        lambda d: DocumentQuery(period_start=DateRange(ge=days(-11), le=days(-4))),
        {"letter", "prescription"},
    ),
    "period-end": (lambda d: DocumentQuery(period_end=DateRange(le=days(-20))), {"lab"}),
    "related": (lambda d: DocumentQuery(related_ids=("ORDER-42",)), {"prescription"}),
    "related unknown": (lambda d: DocumentQuery(related_ids=("ORDER-4",)), set()),
    "author.family": (lambda d: DocumentQuery(author_family="testpro13"), {"synthesis"}),
    "author.given": (
        lambda d: DocumentQuery(author_given="DOMIN"),
        {"letter", "synthesis", "lab", "prescription"},
    ),
    "author.given is not a family name": (
        lambda d: DocumentQuery(author_given="testpro13"),
        set(),
    ),
    "isArchived true": (lambda d: DocumentQuery(is_archived=True), {"lab"}),
    "isArchived false": (
        lambda d: DocumentQuery(is_archived=False),
        {"letter", "synthesis", "prescription", "own"},
    ),
    "criteria are ANDed": (
        lambda d: DocumentQuery(practice_settings=("ETABLISSEMENT",), is_archived=False),
        {"letter"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_criterion_selects_its_documents(
    ctx: ServiceContext, clock: Clock, case: str
) -> None:
    ins, docs = await corpus(ctx, clock)
    build, expected = CASES[case]

    page = await search(ctx, patient_actor(ins), ins, build(docs))

    names = {name for name, view in docs.items() if view.id in ids(page)}
    assert names == expected
    assert page.total == len(expected)


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("-date", ["own", "prescription", "lab", "synthesis", "letter"]),
        ("date", ["letter", "synthesis", "lab", "prescription", "own"]),
        ("creation", ["synthesis", "lab", "letter", "prescription", "own"]),
        ("-period", ["own", "prescription", "letter", "lab", "synthesis"]),
    ],
)
async def test_results_come_in_the_requested_order(
    ctx: ServiceContext, clock: Clock, sort: str, order: list[str]
) -> None:
    ins, docs = await corpus(ctx, clock)
    by_id = {view.id: name for name, view in docs.items()}

    page = await search(ctx, patient_actor(ins), ins, DocumentQuery(sort=sort))

    assert [by_id[v.id] for v in page.items] == order


async def test_the_default_page_is_twenty_and_count_is_capped_at_a_hundred(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    for _ in range(22):
        await deposit(ctx, ins)
    patient = patient_actor(ins)

    assert len((await search(ctx, patient, ins)).items) == 20
    assert len((await search(ctx, patient, ins, page=PageRequest(count=500))).items) == 22
    only_total = await search(ctx, patient, ins, page=PageRequest(count=0))
    assert (only_total.items, only_total.total, only_total.next_cursor) == ([], 22, None)


# --- paging -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["-date", "date", "creation"])
async def test_paging_across_three_pages_survives_concurrent_deposits(
    ctx: ServiceContext, clock: Clock, sort: str
) -> None:
    ins = await new_patient_record(ctx)
    before: list[DocumentView] = []
    for n in range(8):
        clock.advance(seconds=1)
        before.append(await deposit(ctx, ins, creation_time=days(-n % 3)))  # ties on creation
    patient = patient_actor(ins)
    query = DocumentQuery(sort=sort)

    seen: list[uuid.UUID] = []
    cursor: str | None = None
    totals: list[int] = []
    for _ in range(3):
        page = await search(ctx, patient, ins, query, PageRequest(count=3, cursor=cursor))
        seen += [v.id for v in page.items]
        totals.append(page.total)
        cursor = page.next_cursor
        # Writes between page fetches: new deposits (both ends of every order) and an update.
        clock.advance(seconds=1)
        await deposit(ctx, ins, creation_time=days(-50))
        await deposit(ctx, ins, creation_time=days(1))
        await documents.archive_document(
            ctx, actor=AUTHOR, ins=ins, document_id=before[len(seen) % 8].id, archived=True
        )
    assert cursor is None
    assert len(seen) == len(set(seen)), "a document was served twice"
    assert set(seen) == {v.id for v in before}, "a pre-existing document was skipped"
    assert totals == [8, 8, 8]


async def test_a_document_masked_between_pages_is_not_served_to_a_professional_afterwards(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await new_patient_record(ctx)
    docs = []
    for _ in range(4):
        clock.advance(seconds=1)
        docs.append(await deposit(ctx, ins))
    await grant(ctx, ins, DOCTOR)
    first = await search(ctx, DOCTOR, ins, page=PageRequest(count=2))
    oldest = docs[0]  # on the second page of the -date order
    await documents.mask_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=oldest.id, masked=True
    )

    second = await search(ctx, DOCTOR, ins, page=PageRequest(count=2, cursor=first.next_cursor))

    assert oldest.id not in ids(first) | ids(second)
    assert second.total == 3


# --- cost -------------------------------------------------------------------------------------


async def test_a_search_page_costs_a_constant_number_of_statements(
    ctx: ServiceContext, engine: AsyncEngine, clock: Clock
) -> None:
    ins = await new_patient_record(ctx)
    views = []
    for _ in range(30):
        clock.advance(seconds=1)
        views.append(await deposit(ctx, ins))
    # The newest documents replace older ones: every page also looks up replaced versions.
    for old, new in zip(views[:10], views[20:], strict=True):
        await supersede(ctx, old, new)
    await grant(ctx, ins, DOCTOR)
    costs: dict[tuple[str, int], int] = {}
    for actor in (patient_actor(ins), DOCTOR):
        for count in (2, 25):
            with counted_statements(engine) as statements:
                page = await search(ctx, actor, ins, page=PageRequest(count=count))
            assert len(page.items) == min(count, 20)
            costs[(actor.kind.value, count)] = len(statements)
    assert costs[("patient", 2)] == costs[("patient", 25)] <= 8, costs
    # A professional's facts (block, grants, care team, treating doctor, emergency) and the
    # daily access notification add a fixed number of statements.
    assert costs[("professional", 25)] <= 16, costs
