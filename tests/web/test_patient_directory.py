"""Finding a professional on "Mes professionnels" (/patient/professionnels) over ASGI on
both databases: refusals first (a name too short, a professional the directory does not
know, an establishment to authorise), then a patient finds a doctor whatever the accents,
authorises, names and blocks them with one button each — the rules keep the IdNat_PS — and
the professionals an extract dropped are no longer offered."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from sqlalchemy import select

from opendmp.audit.vocabulary import AuditAction
from opendmp.devtools.rpps_extract import Activity, synthetic_rpps, write_extract
from opendmp.domain.actors import Operator
from opendmp.services.access.authorisations import AccessBasis, list_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory.rpps import import_rpps
from opendmp.storage import models as m
from opendmp.web import i18n
from tests.conftest import Clock
from tests.factories import patient_actor
from tests.record_scope import whole_database
from tests.web.test_patient_portal import post_page, signed_in

PAGE = "/patient/professionnels"
LEFEVRE = Activity(41, "DEMO-LEFÈVRE", "Élodie", "10", "SM54", "Saint-Étienne", "42000")
PHARMACIST = Activity(42, "DEMO-LEFEBVRE", "Jérôme", "21", "", "Lyon", "69003")
DOCTOR_IDNAT = "8" + synthetic_rpps(41)


async def load(ctx: ServiceContext, path: Path, *activities: Activity) -> None:
    await import_rpps(ctx, actor=Operator(login="cli:test"), path=write_extract(path, activities))


async def grant_events(ctx: ServiceContext) -> list[tuple[str, str]]:
    async with ctx.uow() as uow:
        found = await uow.session.execute(
            whole_database(
                select(m.AuditEvent.outcome, m.AuditEvent.reason).where(
                    m.AuditEvent.action == AuditAction.AUTHORIZATION_GRANT.value
                )
            )
        )
        return [(outcome, reason or "") for outcome, reason in found]


# --- refusals ------------------------------------------------------------------------------------


async def test_a_name_too_short_is_explained_not_searched(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock, tmp_path: Path
) -> None:
    await load(ctx, tmp_path / "x.txt", LEFEVRE)
    await signed_in(client, ctx, clock)
    page = await client.get(PAGE, params={"nom": "é"})
    assert page.status_code == 200
    assert "au moins deux lettres du nom" in page.text and 'role="alert"' in page.text
    assert "DEMO-LEFÈVRE" not in page.text


async def test_authorising_who_the_directory_does_not_know_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    unknown = {"kind": "professional", "idnat": DOCTOR_IDNAT}
    refused = await post_page(client, PAGE, f"{PAGE}/autoriser", unknown)
    assert refused.status_code == 404
    assert "Aucun professionnel connu du DMP" in refused.text
    establishment = {"kind": "organization", "idnat": "1750100125"}
    refused = await post_page(client, PAGE, f"{PAGE}/autoriser", establishment)
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert await list_access(ctx, actor=patient_actor(account.ins), ins=account.ins) == []
    assert await grant_events(ctx) == [("error", "professional-not-found")]


# --- finding and deciding ------------------------------------------------------------------------


async def test_a_patient_finds_a_doctor_and_decides_with_one_button(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock, tmp_path: Path
) -> None:
    await load(ctx, tmp_path / "x.txt", LEFEVRE, PHARMACIST)
    account = await signed_in(client, ctx, clock)
    page = await client.get(PAGE, params={"nom": "lefevre elodie", "ville": "saint etienne"})
    assert "DEMO-LEFÈVRE Élodie" in page.text and "42000 Saint-Étienne" in page.text
    assert "Médecin — Médecine générale" in page.text and "DEMO-LEFEBVRE" not in page.text
    page = await client.get(PAGE, params={"nom": "LEF", "profession": "21"})
    assert "DEMO-LEFEBVRE Jérôme" in page.text and "DEMO-LEFÈVRE" not in page.text
    # A pharmacist cannot be named treating doctor: not offered.
    assert "Désigner médecin traitant DMP<span" not in page.text

    target = {"kind": "professional", "idnat": DOCTOR_IDNAT}
    done = await post_page(client, PAGE, f"{PAGE}/autoriser", target)
    assert done.headers["location"] == f"{PAGE}?fait=authorized"
    page = await client.get(done.headers["location"])
    assert "ce professionnel est autorisé" in page.text and "DEMO-LEFÈVRE Élodie" in page.text
    await post_page(client, PAGE, f"{PAGE}/medecin-traitant", {**target, "on": "1"})
    (entry,) = await list_access(ctx, actor=patient_actor(account.ins), ins=account.ins)
    assert entry.idnat == DOCTOR_IDNAT and entry.name == "DEMO-LEFÈVRE Élodie"
    assert set(entry.bases) == {AccessBasis.AUTHORIZATION, AccessBasis.TREATING_DOCTOR}
    # The search now says what was decided, and offers to block.
    page = await client.get(PAGE, params={"nom": "lefevre"})
    assert "Autoriser<span" not in page.text
    await post_page(client, PAGE, f"{PAGE}/bloquer", target)
    (entry,) = await list_access(ctx, actor=patient_actor(account.ins), ins=account.ins)
    assert entry.state.value == "INTERDIT"
    client.cookies.set(i18n.COOKIE, "en")
    page = await client.get(PAGE, params={"nom": "lefevre"})
    assert "Search results" in page.text and "Unblock<span" in page.text
    # The history names whom each decision was about.
    history = await client.get("/patient/historique")
    assert "authorised a professional : DEMO-LEFÈVRE Élodie" in history.text
    assert "blocked a professional : DEMO-LEFÈVRE Élodie" in history.text
    assert await grant_events(ctx) == [("success", "allowed")]


async def test_a_professional_an_extract_dropped_is_not_offered(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock, tmp_path: Path
) -> None:
    await load(ctx, tmp_path / "1.txt", LEFEVRE, PHARMACIST)
    await load(ctx, tmp_path / "2.txt", dataclasses.replace(PHARMACIST, town="Bron"))
    await signed_in(client, ctx, clock)
    page = await client.get(PAGE, params={"nom": "lef"})
    assert "DEMO-LEFEBVRE Jérôme" in page.text and "Bron" in page.text
    assert "DEMO-LEFÈVRE" not in page.text
