"""The professional view (docs/portals.md, "The professional view"): a record's documents as
care episodes, versions and duplicates folded, relevant first for the reader's profession,
new since the last visit — on a synthetic ten-year record of about 300 documents, through
the access filter. Refusals first."""

from __future__ import annotations

import datetime as dt

import pytest

from opendmp.devtools.history_seed import HistoryResult, seed_history
from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery, PageRequest
from opendmp.services.documents.overview import OverviewPage, OverviewQuery, document_overview
from tests.conftest import Clock
from tests.services.document_support import (
    DOCTOR,
    PHARMACIST,
    STRANGER,
    deposit,
    grant,
    last_event,
    new_patient_record,
)


async def history(ctx: ServiceContext) -> tuple[Ins, HistoryResult]:
    ins = await new_patient_record(ctx)
    seeded = await seed_history(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    await grant(ctx, ins, PHARMACIST)
    return ins, seeded


def types_of(page: OverviewPage, part: str) -> list[str]:
    lines = getattr(page.overview, part)
    return [page.views[line.entry.id].type_code for line in lines]


async def test_a_professional_without_access_gets_no_view_and_the_refusal_is_audited(
    ctx: ServiceContext,
) -> None:
    ins, _ = await history(ctx)
    with pytest.raises(AccessDenied):
        await document_overview(ctx, actor=STRANGER, ins=ins)
    refused = await last_event(ctx, ins)
    assert (refused.action, refused.outcome) == ("document:document:search", "denied")


async def test_a_forged_cursor_and_a_bad_page_size_are_refused(ctx: ServiceContext) -> None:
    ins, _ = await history(ctx)
    first = await document_overview(ctx, actor=DOCTOR, ins=ins, page=PageRequest(5))
    assert first.next_cursor
    forged = first.next_cursor[:-3] + ("AAA" if not first.next_cursor.endswith("AAA") else "BBB")
    for cursor in (forged, "not-a-cursor", "a.b"):
        with pytest.raises(InvalidInput) as refused:
            await document_overview(ctx, actor=DOCTOR, ins=ins, page=PageRequest(5, cursor))
        assert refused.value.code == "invalid-cursor"
    # A cursor belongs to its criteria.
    other = OverviewQuery(text="lettre")
    with pytest.raises(InvalidInput):
        await document_overview(
            ctx, actor=DOCTOR, ins=ins, query=other, page=PageRequest(10, first.next_cursor)
        )
    with pytest.raises(InvalidInput):
        await document_overview(ctx, actor=DOCTOR, ins=ins, page=PageRequest(0))


async def test_a_pharmacist_sees_treatments_then_lab_results_first_and_never_the_psychiatric_synthesis(  # noqa: E501
    ctx: ServiceContext,
) -> None:
    ins, seeded = await history(ctx)
    page = await document_overview(ctx, actor=PHARMACIST, ins=ins)
    first = types_of(page, "first")
    assert first and set(first[:3]) <= {"57833-6", "60593-1"}
    assert set(first[3:]) == {"11502-2"}
    assert page.overview.pinned == ()
    # Never counted, folded or hinted: the psychiatric synthesis is not in the match set.
    assert "68599-0" not in {v.type_code for v in page.views.values()}
    readable = ctx.matrix.readable_types("21", None)
    assert page.documents == sum(n for t, n in seeded.by_type.items() if t in readable)
    assert page.documents < seeded.documents
    # The key document of each episode is the most relevant one for a pharmacist.
    for episode in page.overview.episodes:
        assert episode.key.rank == min(line.rank for line in episode.lines)


async def test_a_doctor_gets_the_current_vsm_pinned_and_discharge_letters_first(
    ctx: ServiceContext,
) -> None:
    ins, seeded = await history(ctx)
    page = await document_overview(ctx, actor=DOCTOR, ins=ins)
    assert types_of(page, "pinned") == ["60591-5"]
    vsm = page.overview.pinned[0]
    assert page.views[vsm.entry.id].status == "current"
    # The nine earlier syntheses are folded under it, newest first, as versions.
    assert [f.reason for f in vsm.folded] == ["version"] * seeded.superseded
    assert [f.entry.act for f in vsm.folded] == sorted(
        (f.entry.act for f in vsm.folded), reverse=True
    )
    assert set(types_of(page, "first")[:3]) <= {"11490-0", "34112-3"}
    assert "68599-0" in {v.type_code for v in page.views.values()}


async def test_duplicates_are_folded_under_the_newest_deposit(ctx: ServiceContext) -> None:
    ins, seeded = await history(ctx)
    assert seeded.duplicates > 0
    page = await document_overview(ctx, actor=DOCTOR, ins=ins, page=PageRequest(50))
    pages = [page]
    while pages[-1].next_cursor:
        pages.append(
            await document_overview(
                ctx, actor=DOCTOR, ins=ins, page=PageRequest(50, pages[-1].next_cursor)
            )
        )
    lines = [line for p in pages for e in p.overview.episodes for line in e.lines]
    duplicates = [(line, f) for line in lines for f in line.folded if f.reason == "duplicate"]
    assert len(duplicates) == seeded.duplicates
    for line, folded in duplicates:
        assert (line.entry.sha256, line.entry.type_code) == (
            folded.entry.sha256,
            folded.entry.type_code,
        )
        assert line.entry.deposited_at > folded.entry.deposited_at
    # Every document appears exactly once, as a line or folded; episodes never repeat.
    shown = [line.entry.id for line in lines] + [f.entry.id for line in lines for f in line.folded]
    assert len(shown) == len(set(shown)) == seeded.documents
    assert sum(p.overview.episodes.__len__() for p in pages) == page.episodes
    ends = [e.end for p in pages for e in p.overview.episodes]
    assert ends == sorted(ends, reverse=True)


async def test_search_in_titles_and_types_and_filters_keep_to_their_pages(
    ctx: ServiceContext,
) -> None:
    ins, _ = await history(ctx)
    # "liaison" is in the discharge letters' type name; "Discharge" its English name.
    for text in ("liaison", "Discharge"):
        page = await document_overview(ctx, actor=DOCTOR, ins=ins, query=OverviewQuery(text=text))
        assert {v.type_code for v in page.views.values()} == {"11490-0"}
    query = OverviewQuery(DocumentQuery(type_codes=("11502-2",)), text=None)
    first = await document_overview(
        ctx, actor=PHARMACIST, ins=ins, query=query, page=PageRequest(3)
    )
    assert first.next_cursor
    second = await document_overview(
        ctx, actor=PHARMACIST, ins=ins, query=query, page=PageRequest(3, first.next_cursor)
    )
    assert {v.type_code for v in second.views.values()} == {"11502-2"}
    assert second.overview.first == ()  # the relevant-first part is on the first page only
    assert not {e.key.entry.id for e in first.overview.episodes} & {
        e.key.entry.id for e in second.overview.episodes
    }


async def test_new_since_my_last_visit(ctx: ServiceContext, clock: Clock) -> None:
    ins, _ = await history(ctx)
    visit = await document_overview(ctx, actor=DOCTOR, ins=ins)
    visit_time = clock.now
    assert visit.last_visit is None
    assert not any(e.new for e in visit.overview.episodes)  # a first visit marks nothing
    clock.advance(days=3)
    letter = await deposit(ctx, ins, type_code="11490-0", title="Lettre de liaison — FICTIF")
    clock.advance(days=1)
    again = await document_overview(ctx, actor=DOCTOR, ins=ins, visit_started=clock.now)
    assert again.last_visit == visit_time
    new = [line.entry.id for e in again.overview.episodes for line in e.lines if line.new]
    assert new == [letter.id]
    assert again.overview.first[0].entry.id == letter.id and again.overview.first[0].new
    # Paging within the visit keeps the same last visit (the visit began before its pages).
    later = await document_overview(
        ctx, actor=DOCTOR, ins=ins, visit_started=clock.now - dt.timedelta(minutes=1)
    )
    assert later.last_visit == visit_time
    # The pharmacist's visits are theirs: the doctor's visit does not count for them.
    theirs = await document_overview(ctx, actor=PHARMACIST, ins=ins)
    assert theirs.last_visit is None
