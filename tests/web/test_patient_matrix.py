"""The patient's own matrix in "Mes choix" through the ASGI app (docs/rules.md §3.6,
docs/portals.md): only what the official matrix allows is offered, unticking takes a
category away, ticking what the matrix refuses is refused with nothing changed, and the
change is in the history."""

from __future__ import annotations

import re
from html import unescape

import httpx

from opendmp.domain.identifiers import Ins
from opendmp.domain.patient_matrix import Narrowing
from opendmp.services.access.matrix_choices import show_matrix_choices
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.matrix_loader import load_matrix
from opendmp.web.patient.matrix_view import PROFESSION_KINDS
from tests.conftest import Clock
from tests.factories import patient_actor
from tests.web.conftest import csrf_of
from tests.web.test_patient_portal import signed_in

DOCTOR_CATEGORIES = [
    "mental-health",
    "genetics",
    "reports",
    "syntheses",
    "imaging",
    "prescriptions",
    "dispensations",
    "care-plans",
    "certificates",
    "reimbursement",
    "patient-documents",
]


def block(html: str, profession: str) -> str:
    found = re.search(
        rf'<details class="matrix" id="matrix-{profession}"(.*?)</details>', html, re.S
    )
    assert found, f"no block for profession {profession}"
    return found.group(0)


def offered(html: str, profession: str) -> list[str]:
    return re.findall(r'name="read" value="([a-z-]+)"', block(html, profession))


def ticked(html: str, profession: str) -> list[str]:
    return re.findall(r'name="read" value="([a-z-]+)" checked', block(html, profession))


async def narrowings(ctx: ServiceContext, ins: Ins) -> tuple[Narrowing, ...]:
    shown = await show_matrix_choices(ctx, actor=patient_actor(ins), ins=ins)
    return shown.narrowings


async def test_the_choices_page_offers_what_the_matrix_allows_and_saves_an_untick(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    page = await client.get("/patient/choix")
    assert page.status_code == 200
    assert offered(page.text, "10") == DOCTOR_CATEGORIES
    assert ticked(page.text, "10") == DOCTOR_CATEGORIES
    # The default matrix already refuses mental-health documents to pharmacists: not offered.
    assert "mental-health" not in offered(page.text, "21")
    assert load_matrix().professions() == set(re.findall(r'id="matrix-(\d+)"', page.text))

    keep = [c for c in DOCTOR_CATEGORIES if c != "mental-health"]
    response = await client.post(
        "/patient/choix/matrice",
        data={"csrf_token": csrf_of(page.text), "profession": "10", "read": keep},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/patient/choix?fait=matrix#matrix-title"
    assert await narrowings(ctx, account.ins) == (Narrowing("10", None, "mental-health"),)
    page = await client.get("/patient/choix?fait=matrix")
    assert ticked(page.text, "10") == keep
    assert " open>" in block(page.text, "10").split("\n", 1)[0]
    assert "catégories retirées : 1" in unescape(page.text)
    history = unescape((await client.get("/patient/historique")).text)
    assert "a changé les catégories de documents lisibles par profession" in history

    # Ticking it again gives it back.
    response = await client.post(
        "/patient/choix/matrice",
        data={"csrf_token": csrf_of(page.text), "profession": "10", "read": DOCTOR_CATEGORIES},
    )
    assert response.status_code == 303
    assert await narrowings(ctx, account.ins) == ()


async def test_ticking_what_the_matrix_refuses_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    page = await client.get("/patient/choix")
    token = csrf_of(page.text)
    for profession, read in (("21", ["mental-health"]), ("99", []), ("", [])):
        response = await client.post(
            "/patient/choix/matrice",
            data={"csrf_token": token, "profession": profession, "read": read},
        )
        assert response.status_code == 422, response.text
        assert 'role="alert"' in response.text
        assert await narrowings(ctx, account.ins) == ()
    assert "pas en ajouter" in unescape(
        (
            await client.post(
                "/patient/choix/matrice",
                data={"csrf_token": token, "profession": "21", "read": ["genetics"]},
            )
        ).text
    )


async def test_the_matrix_form_needs_the_sessions_csrf_token(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    response = await client.post(
        "/patient/choix/matrice", data={"csrf_token": "forged", "profession": "10", "read": []}
    )
    assert response.status_code == 403
    assert await narrowings(ctx, account.ins) == ()


def kinds_shown(html: str) -> list[str]:
    return re.findall(r'<div class="matrix-group" id="matrix-kind-([a-z]+)">', html)


def status_text(html: str) -> str:
    found = re.search(r'<p id="matrix-none" aria-live="polite"[^>]*>(.*?)</p>', html, re.S)
    assert found
    return unescape(found.group(1))


def professions_shown(html: str) -> list[str]:
    return re.findall(r'<details class="matrix" id="matrix-(\d+)"', html)


async def test_professions_are_grouped_by_kind_and_the_filter_works_without_a_script(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await signed_in(client, ctx, clock)
    page = await client.get("/patient/choix")
    # Every profession of the official matrix is under one named kind, in the set order.
    assert kinds_shown(page.text) == [kind for kind, _ in PROFESSION_KINDS]
    assert sorted(professions_shown(page.text)) == sorted(load_matrix().professions())
    assert professions_shown(page.text)[:2] == ["10", "40"]  # doctors, then dentists…
    assert '<script src="/static/portal/matrix-filter.js" defer></script>' in page.text

    # Without a script the filter is a GET form: accents and case do not matter, every word
    # must be found, a kind's heading matches its professions.
    for typed, expected in [
        ("INFIRMIER", ["60", "69"]),
        ("kiné", ["70"]),
        ("infirmier psy", ["69"]),
        ("pharmacie", ["21"]),
    ]:
        found = await client.get("/patient/choix", params={"metier": typed})
        assert found.status_code == 200
        assert professions_shown(found.text) == expected, typed
        assert f'value="{typed}"' in found.text
        assert "Afficher toutes les professions" in found.text
    nothing = await client.get("/patient/choix", params={"metier": "astronaute" * 30})
    assert nothing.status_code == 200 and professions_shown(nothing.text) == []
    assert "Aucune profession ne correspond" in status_text(nothing.text)
    assert status_text(page.text) == ""


async def test_the_kinds_and_the_filter_in_english(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await signed_in(client, ctx, clock)
    await client.get("/langue?lang=en&next=/patient")
    page = await client.get("/patient/choix", params={"metier": "physio"})
    assert professions_shown(page.text) == ["70"]
    assert "<h3>Rehabilitation</h3>" in page.text and "Find a profession" in page.text
