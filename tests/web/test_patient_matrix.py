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
