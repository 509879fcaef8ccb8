"""Finding professionals (services/directory/search.py): accent- and case-insensitive,
by any word of the family name, narrowed by profession and town, limited, indexed on
both databases, never the inactive or the unlisted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from opendmp.devtools.rpps_extract import Activity, synthetic_rpps, write_extract
from opendmp.domain.actors import Operator, Professional
from opendmp.domain.errors import InvalidInput
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import search as directory
from opendmp.services.directory.professionals import ensure_professional
from opendmp.services.directory.rpps import import_rpps
from opendmp.services.directory.search import DirectoryQuery, fold, search_directory
from opendmp.storage import models as m

LEFEVRE = Activity(1, "DEMO-LEFÈVRE", "Élodie", "10", "SM54", "Saint-Étienne", "42000")
LEGALL = Activity(2, "DEMO LE GALL", "Yann", "60", "", "Brest", "29200")
LEFEBVRE = Activity(3, "DEMO-LEFEBVRE", "Jérôme", "21", "", "Lyon", "69003")
ELODIE = Activity(4, "DEMO-MARTIN", "Élodie", "10", "", "Lyon", "69003")


async def load(ctx: ServiceContext, path: Path, activities: list[Activity]) -> None:
    await import_rpps(ctx, actor=Operator(login="cli:test"), path=write_extract(path, activities))


async def names(ctx: ServiceContext, name: str, **narrow: str) -> list[str]:
    found = await search_directory(ctx, DirectoryQuery(name, **narrow))
    return [hit.name for hit in found.hits]


@pytest.fixture
async def listed(ctx: ServiceContext, tmp_path: Path) -> ServiceContext:
    await load(ctx, tmp_path / "x.txt", [LEFEVRE, LEGALL, LEFEBVRE, ELODIE])
    return ctx


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", " ", "é", "-'", "%%", "_"])
async def test_less_than_two_letters_is_refused(listed: ServiceContext, typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await search_directory(listed, DirectoryQuery(typed))
    assert caught.value.code == "directory-query-short"


async def test_wildcards_are_only_separators(listed: ServiceContext) -> None:
    assert await names(listed, "le%_") == await names(listed, "le")


async def test_the_inactive_and_the_unlisted_are_not_found(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    await load(ctx, tmp_path / "1.txt", [LEFEVRE, LEGALL])
    await load(ctx, tmp_path / "2.txt", [LEGALL])  # LEFEVRE dropped: inactive
    async with ctx.uow() as uow:  # seen through a card only: not listed by the extract
        await ensure_professional(
            uow.session,
            Professional(idnat="8" + synthetic_rpps(9), profession="10", name="DEMO-LEFEVRE X"),
            now=ctx.now(),
        )
        await uow.commit()
    assert await names(ctx, "lefevre") == []
    assert await names(ctx, "gall") == ["DEMO LE GALL Yann"]


# --- finding --------------------------------------------------------------------------------------


async def test_accents_case_and_word_order_do_not_matter(listed: ServiceContext) -> None:
    for typed in ("lefevre", "LEFÈVRE", "Lefèvre élodie", "elodie lefevre", "demo-lefèv"):
        assert await names(listed, typed) == ["DEMO-LEFÈVRE Élodie"], typed


async def test_any_word_of_a_family_name_finds_it(listed: ServiceContext) -> None:
    assert await names(listed, "gall") == ["DEMO LE GALL Yann"]
    assert await names(listed, "le gall") == ["DEMO LE GALL Yann"]
    assert await names(listed, "lef") == ["DEMO-LEFEBVRE Jérôme", "DEMO-LEFÈVRE Élodie"]


async def test_a_given_name_alone_does_not_search_the_directory(listed: ServiceContext) -> None:
    # The index is on family names: a given name narrows, never finds on its own.
    assert await names(listed, "elodie") == []


async def test_profession_and_town_narrow(listed: ServiceContext) -> None:
    assert await names(listed, "lef", profession="21") == ["DEMO-LEFEBVRE Jérôme"]
    assert await names(listed, "lef", town="saint etienne") == ["DEMO-LEFÈVRE Élodie"]
    assert await names(listed, "lef", town="42") == ["DEMO-LEFÈVRE Élodie"]
    assert await names(listed, "lef", town="Brest") == []


async def test_results_are_limited(ctx: ServiceContext, tmp_path: Path) -> None:
    many = [dataclasses.replace(LEFEVRE, number=100 + i, given=f"Prénom{i:02d}") for i in range(25)]
    await load(ctx, tmp_path / "many.txt", many)
    found = await search_directory(ctx, DirectoryQuery("lefevre"))
    assert len(found.hits) == directory.RESULT_LIMIT and found.more
    found = await search_directory(ctx, DirectoryQuery("lefevre prenom01"))
    assert [hit.given_name for hit in found.hits] == ["Prénom01"] and not found.more


async def test_the_search_uses_the_family_name_indexes(listed: ServiceContext) -> None:
    statement = select(m.Professional.idnat).where(
        *directory._conditions(DirectoryQuery("lefevre", town="lyon"))
    )
    async with listed.uow() as uow:
        session = uow.session
        bound = session.get_bind()
        dialect = bound.dialect.name
        compiled = statement.compile(dialect=bound.dialect, compile_kwargs={"literal_binds": True})
        if dialect == "postgresql":
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {compiled}")))
        else:
            plan = "\n".join(
                str(row[-1])
                for row in await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
    for key in ("family_key", "family_key_2", "family_key_3"):
        assert f"ix_professional_{key}" in plan, plan


@given(st.text(max_size=30))
def test_folding_is_idempotent_and_plain(typed: str) -> None:
    folded = fold(typed)
    assert fold(folded) == folded
    assert all(c == " " or (c.isascii() and c.isalnum() and not c.isupper()) for c in folded)
    assert "  " not in folded and folded == folded.strip()
