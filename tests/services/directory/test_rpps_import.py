"""The RPPS extract import (services/directory/rpps.py): refusals of what is not an
extract, bad lines counted and skipped, upsert by national identifier, sites merged,
professionals a full extract drops marked inactive (never deleted), a large file streamed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from opendmp.audit.vocabulary import AuditAction
from opendmp.devtools.rpps_extract import (
    HEADER,
    Activity,
    extract_line,
    synthetic_rpps,
    write_extract,
)
from opendmp.domain.actors import Operator
from opendmp.domain.errors import InvalidInput
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import rpps
from opendmp.services.directory.rpps import import_rpps
from opendmp.storage import models as m

OPERATOR = Operator(login="cli:test")
DUPONT = Activity(1, "DEMO-DUPONT", "Jean", "10", "SM54", "Lyon", "69003", "Cabinet A")
MARTIN = Activity(2, "DEMO-MARTIN", "Claire", "21", "", "Paris", "75011")
LEGALL = Activity(3, "DEMO LE GALL", "Yann", "60", "", "Brest", "29200")


def idnat(n: int) -> str:
    return "8" + synthetic_rpps(n)


async def load(
    ctx: ServiceContext, path: Path, *, full: bool = True, progress: rpps.Progress | None = None
) -> rpps.ImportReport:
    return await import_rpps(ctx, actor=OPERATOR, path=path, full=full, progress=progress)


async def rows(ctx: ServiceContext) -> dict[str, SimpleNamespace]:
    """The directory's rows, by IdNat_PS (plain values, outliving the session)."""
    async with ctx.uow() as uow:
        found = await uow.session.execute(select(*m.Professional.__table__.c))
        return {row["idnat"]: SimpleNamespace(**row) for row in found.mappings()}


async def import_events(ctx: ServiceContext) -> list[tuple[str, dict[str, object]]]:
    """The import events: (actor, details)."""
    async with ctx.uow() as uow:
        query = select(m.AuditEvent.actor_id, m.AuditEvent.details).where(
            m.AuditEvent.record_id.is_(None),
            m.AuditEvent.action == AuditAction.DIRECTORY_IMPORT.value,
        )
        return [
            (who, json.loads(details or "{}")) for who, details in await uow.session.execute(query)
        ]


# --- refusals: not an extract -----------------------------------------------------------------


async def test_a_missing_file_is_one_readable_error(ctx: ServiceContext, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        await load(ctx, tmp_path / "absent.txt")
    assert caught.value.code == "rpps-file-unreadable"
    assert "absent.txt" in caught.value.message
    assert await rows(ctx) == {} and await import_events(ctx) == []


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x1f\x8b\x08\x00garbled gzip bytes\xff\xfe",
        "Nom;Prénom;Ville\nDUPONT;Jean;Lyon\n".encode(),
        ("|".join(HEADER[:5]) + "|\n").encode(),
    ],
    ids=["empty", "binary", "another-csv", "header-cut"],
)
async def test_what_is_not_an_extract_is_refused_whole(
    ctx: ServiceContext, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "extract.txt"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        await load(ctx, path)
    assert caught.value.code == "rpps-not-an-extract"
    assert await rows(ctx) == {} and await import_events(ctx) == []


async def test_an_extract_without_one_readable_line_is_refused(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    path = tmp_path / "extract.txt"
    path.write_text("|".join(HEADER) + "|\nnot|a|line\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        await load(ctx, path)
    assert caught.value.code == "rpps-no-valid-line"
    assert await rows(ctx) == {}


# --- bad lines ----------------------------------------------------------------------------------


async def test_bad_lines_are_counted_reported_and_skipped(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    good = [extract_line(a) for a in (DUPONT, MARTIN)]
    wrong_key = extract_line(dataclasses.replace(MARTIN, number=9)).replace(
        synthetic_rpps(9), synthetic_rpps(9)[:-1] + str((int(synthetic_rpps(9)[-1]) + 1) % 10)
    )
    mismatch = extract_line(LEGALL).replace("|8" + synthetic_rpps(3), "|8" + synthetic_rpps(4))
    no_name = extract_line(dataclasses.replace(LEGALL, number=5, family=" - "))
    lines = [
        "|".join(HEADER) + "|",
        good[0],
        "too|few|fields",
        wrong_key,
        mismatch,
        no_name,
        good[1],
    ]
    path = tmp_path / "extract.txt"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"8|\xff\xfe|broken\n")
    report = await load(ctx, path, full=False)
    assert (report.lines, report.professionals, report.bad_lines) == (7, 2, 5)
    assert [number for number, _ in report.bad_examples] == [3, 4, 5, 6, 8]
    reasons = dict(report.bad_examples)
    assert "fields" in reasons[3] and "key" in reasons[4] and "type" in reasons[5]
    assert reasons[6] == "no family name" and reasons[8] == "not UTF-8"
    assert set(await rows(ctx)) == {idnat(1), idnat(2)}


# --- upsert, sites, inactivation ---------------------------------------------------------------


async def test_an_import_lists_professionals_with_their_sites(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    second_site = dataclasses.replace(DUPONT, town="Villeurbanne", postal_code="69100")
    path = write_extract(tmp_path / "a.txt", [DUPONT, MARTIN, second_site, LEGALL])
    report = await load(ctx, path)
    assert (report.lines, report.professionals, report.created) == (4, 3, 3)
    found = await rows(ctx)
    dupont = found[idnat(1)]
    assert (dupont.family_name, dupont.given_name, dupont.profession) == (
        "DEMO-DUPONT",
        "Jean",
        "10",
    )
    assert (dupont.specialty, dupont.town, dupont.postal_code) == ("SM54", "Lyon", "69003")
    assert dupont.place_key == " lyon 69003 villeurbanne 69100"
    assert (dupont.family_key, dupont.family_key_2) == ("demo dupont", "dupont")
    assert found[idnat(3)].family_key_3 == "gall"
    assert all(row.active and row.listing_id for row in found.values())
    ((actor, details),) = await import_events(ctx)
    assert actor == OPERATOR.login
    assert (details["created"], details["professionals"], details["full"]) == (3, 3, True)


async def test_sites_on_either_side_of_a_batch_boundary_are_merged(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rpps, "BATCH_LINES", 2)
    sites = [
        dataclasses.replace(DUPONT, town=f"Ville{i}", postal_code=f"0100{i}") for i in range(3)
    ]
    path = write_extract(tmp_path / "a.txt", [sites[0], MARTIN, sites[1], LEGALL, sites[2]])
    report = await load(ctx, path)
    assert (report.professionals, report.created) == (3, 3)
    place = (await rows(ctx))[idnat(1)].place_key
    assert place == " ville0 01000 ville1 01001 ville2 01002"


async def test_a_second_full_extract_updates_and_marks_the_dropped_inactive(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    await load(ctx, write_extract(tmp_path / "1.txt", [DUPONT, MARTIN, LEGALL]))
    moved = dataclasses.replace(DUPONT, town="Grenoble", postal_code="38000")
    report = await load(ctx, write_extract(tmp_path / "2.txt", [moved, MARTIN]))
    assert (report.created, report.changed, report.unchanged, report.inactivated) == (0, 1, 1, 1)
    found = await rows(ctx)
    assert found[idnat(1)].town == "Grenoble" and found[idnat(1)].place_key == " grenoble 38000"
    assert found[idnat(3)].active is False  # kept: blocks and authorisations may name them
    # Listed again: active again.
    report = await load(ctx, write_extract(tmp_path / "3.txt", [moved, MARTIN, LEGALL]))
    assert (report.reactivated, report.inactivated) == (1, 0)
    assert (await rows(ctx))[idnat(3)].active is True


async def test_a_partial_file_marks_nobody_inactive(ctx: ServiceContext, tmp_path: Path) -> None:
    await load(ctx, write_extract(tmp_path / "1.txt", [DUPONT, MARTIN]))
    report = await load(ctx, write_extract(tmp_path / "2.txt", [LEGALL]), full=False)
    assert (report.created, report.inactivated) == (1, 0)
    assert all(row.active for row in (await rows(ctx)).values())


async def test_a_full_extract_with_many_bad_lines_marks_nobody_inactive(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    await load(ctx, write_extract(tmp_path / "1.txt", [DUPONT, MARTIN]))
    path = tmp_path / "2.txt"
    path.write_text(
        "|".join(HEADER) + "|\n" + extract_line(DUPONT) + "\nbroken|line\n", encoding="utf-8"
    )
    report = await load(ctx, path)
    assert report.inactivation_skipped and report.inactivated == 0
    assert (await rows(ctx))[idnat(2)].active


async def test_the_import_completes_a_professional_first_seen_through_a_credential(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    from opendmp.domain.actors import Professional
    from opendmp.services.directory.professionals import ensure_professional

    async with ctx.uow() as uow:
        await ensure_professional(
            uow.session, Professional(idnat=idnat(1), profession=None), now=ctx.now()
        )
        await uow.commit()
    report = await load(ctx, write_extract(tmp_path / "1.txt", [DUPONT]))
    assert (report.created, report.changed) == (0, 1)
    row = (await rows(ctx))[idnat(1)]
    assert (row.family_name, row.profession, row.card_kind) == ("DEMO-DUPONT", "10", "CPS")


async def test_a_large_extract_is_streamed_in_batches(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 000 lines (15 000 professionals, two sites each), read line by line: each batch
    is one transaction, and the progress callback sees the bytes read grow to the size."""
    monkeypatch.setattr(rpps, "BATCH_LINES", 5000)
    people = (
        Activity(1000 + i, f"DEMO-NOM{i}", "Prénom", "10", "", town, "01000")
        for i in range(15_000)
        for town in ("Ain", "Bourg")
    )
    path = write_extract(tmp_path / "big.txt", people)
    seen: list[tuple[int, int]] = []
    batches: list[int] = []
    real = rpps._write_batch

    async def counted(session, batch, run, report):  # type: ignore[no-untyped-def]
        batches.append(len(batch))
        await real(session, batch, run, report)

    monkeypatch.setattr(rpps, "_write_batch", counted)
    report = await load(ctx, path, progress=lambda done, total: seen.append((done, total)))
    assert (report.lines, report.professionals, report.bad_lines) == (30_000, 15_000, 0)
    assert max(batches) <= 5000 and len(batches) == 6
    size = path.stat().st_size
    assert seen[-1] == (size, size) and all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    async with ctx.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(m.Professional).where(m.Professional.active)
        )
    assert count == 15_000
