"""The professional view (/pro/dossiers/…/vue) over ASGI, on the demo data and a synthetic
ten-year history of Camille (docs/portals.md, "The professional view"): refusals first
(a blocked-out stranger, bad filters, a forged cursor — each a readable message), then what
a GP and a pharmacist get first, the search in titles and types, and filters kept when
paging. What the first screen looks like in a browser: tests/web/test_pro_overview_browser.py."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from opendmp.devtools.demo import PATIENTS, seed_demo
from opendmp.devtools.history_seed import seed_history
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services.core.context import ServiceContext
from tests.web.test_pro_portal import open_patient, sign_in

CAMILLE, JULES, _ = PATIENTS


@pytest.fixture(autouse=True)
async def demo(web_app: object, ctx: ServiceContext) -> None:
    await seed_demo(ctx)
    await seed_history(ctx, parse_ins(CAMILLE.ins, INS_NIR_TEST_OID))


def types_in(html: str) -> list[str]:
    """The type of each document line, in order (folded versions and duplicates left out)."""
    found = re.findall(
        r'</a>\s*(?:<span class="tag[^"]*">[^<]*</span>\s*)*<span class="hint">([^<·]+?) ·', html
    )
    return [
        t
        for t in found
        if t not in {"doublon", "version antérieure", "duplicate", "earlier version"}
    ]


def section(html: str, name: str) -> str:
    found = re.search(
        rf'<section aria-labelledby="{name}-title" id="{name}">(.*?)</section>', html, re.S
    )
    return unescape(found.group(1)) if found else ""


async def test_a_professional_without_access_gets_a_readable_refusal(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "physio")  # not in Camille's care team, no authorisation
    base = await open_patient(client, CAMILLE.ins)
    page = await client.get(f"{base}/vue")
    assert page.status_code == 403
    assert "Synthèse" not in page.text and "episodes" not in page.text


async def test_bad_filters_and_a_forged_cursor_get_a_message_not_an_error(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    for query in ("type=nope", "du=31-02-2020", "curseur=forged.cursor", "q=" + "x" * 101):
        page = await client.get(f"{base}/vue?{query}")
        assert page.status_code == 422, query
        assert 'role="alert"' in page.text


async def test_a_gp_gets_the_vsm_pinned_and_discharge_letters_first(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    page = await client.get(f"{base}/vue")
    assert page.status_code == 200, page.text
    pinned = section(page.text, "pinned")
    assert "Synthèse médicale" in pinned
    assert "9 version(s) antérieure(s) ou doublon(s)" in pinned
    first = section(page.text, "first")
    ranked = types_in(first)
    discharge = {
        "Lettre de liaison à la sortie d'un établissement de soins",
        "CR hospitalier (séjour)",
    }
    assert set(ranked[:3]) <= discharge and len(ranked) > 3
    assert "Première consultation de ce dossier" in page.text
    assert page.text.count('class="episode"') == 10  # ten episodes a page, each one line


async def test_a_pharmacist_gets_treatments_then_lab_results_and_filters_stay_when_paging(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "pharmacist")
    base = await open_patient(client, CAMILLE.ins)
    page = await client.get(f"{base}/vue")
    assert page.status_code == 200, page.text
    assert section(page.text, "pinned") == ""
    first = section(page.text, "first")
    ranked = types_in(first)
    assert set(ranked[:3]) <= {"Dispensation médicamenteuse", "Prescription de produits de santé"}
    assert ranked[3:] == ["CR d'examens biologiques"] * 3
    # Never shown, counted or hinted (the type filter offers every type, as the list does).
    shown = section(page.text, "episodes") + first
    assert "Synthèse psychiatrique" not in shown and "FICTIF-PSYCHIATRE" not in shown

    searched = await client.get(f"{base}/vue", params={"q": "biolog", "du": "2018-01-01"})
    assert searched.status_code == 200
    episodes = section(searched.text, "episodes")
    assert "CR d'examens biologiques" in episodes and "Dispensation" not in episodes
    more = re.search(r'href="([^"]+)" rel="next"', searched.text)
    assert more is not None
    link = unescape(more.group(1))
    assert "q=biolog" in link and "du=2018-01-01" in link and "curseur=" in link
    older = await client.get(link)
    assert older.status_code == 200
    assert "Dispensation" not in section(older.text, "episodes")
    assert section(older.text, "first") == ""  # the relevant-first part: first page only


async def test_english(client: httpx.AsyncClient) -> None:
    client.cookies.set("opendmp_lang", "en")
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    page = await client.get(f"{base}/vue")
    assert "Documents at a glance" in page.text and "First for your profession" in page.text
    assert "Patient summary" in section(page.text, "pinned")
