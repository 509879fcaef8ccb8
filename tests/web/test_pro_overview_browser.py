"""The professional view in a real browser (Debian's Chromium driven by Playwright), against
a demo server whose first patient (Camille, FICTIVE) carries a synthetic ten-year history of
about 300 documents: the first screen a GP and a pharmacist get, asserted and photographed
(French and English, desktop and 390 px, axe-core checked) in
``test-artifacts/screenshots/<test name>/``.

1. the GP's first visit: the current medical synthesis (VSM) pinned, its nine earlier
   versions folded under it, discharge letters first, ten episodes of one line each, nothing
   "new";
2. a discharge letter is deposited, the GP comes back (a new session): it is marked new;
3. the pharmacist: treatments then lab results first, nothing pinned, the psychiatric
   synthesis nowhere.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from opendmp.config import Settings
from opendmp.devtools.demo import PATIENTS, PROFESSIONALS
from opendmp.devtools.history_seed import seed_history
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from tests.factories import submission
from tests.web.browser_support import (
    Shots,
    chromium,
    demo_server,
    demo_settings,
    on_server_database,
    survey,
)
from tests.web.test_pro_browser import sign_in_and_open

CAMILLE = PATIENTS[0]
PRO = {p.key: p.actor for p in PROFESSIONALS}
CAMILLE_INS = parse_ins(CAMILLE.ins, INS_NIR_TEST_OID)


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return demo_settings(tmp_path)


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[str]:
    with demo_server(server_settings):

        async def seed(ctx: ServiceContext) -> int:
            return (await seed_history(ctx, CAMILLE_INS)).documents

        assert on_server_database(server_settings, seed) > 250
        yield server_settings.base_url


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as found:
        yield found


async def open_view(browser: Any, base: str, who: str) -> Any:
    context = await browser.new_context(locale="fr-FR")
    page = await context.new_page()
    await sign_in_and_open(page, base, who, CAMILLE.ins)
    await page.get_by_role("link", name="Vue d'ensemble").click()
    return page


async def test_the_first_screen_of_a_gp_and_of_a_pharmacist(
    live_server: str, server_settings: Settings, browser: Any, shots: Shots
) -> None:
    from playwright.async_api import expect

    gp = await open_view(browser, live_server, "DEMO-GENERALISTE Paul")
    await expect(gp.get_by_role("heading", level=1)).to_have_text("Vue d'ensemble des documents")
    pinned = gp.locator("#pinned")
    await expect(pinned.get_by_role("link").first).to_contain_text("Synthèse médicale")
    await expect(pinned.locator("summary")).to_have_text("9 version(s) antérieure(s) ou doublon(s)")
    first_lines = gp.locator("#first ul.lines > li > .hint")
    for n in range(3):
        await expect(first_lines.nth(n)).to_contain_text(
            # A discharge letter or a stay report: the doctor's first tier.
            re.compile("Lettre de liaison|CR hospitalier")
        )
    await expect(gp.locator("li.episode")).to_have_count(10)
    await expect(gp.locator("#view-scope")).to_contain_text("Première consultation de ce dossier")
    await expect(gp.locator(".tag.new")).to_have_count(0)
    await shots(gp, "gp-first-visit")
    await gp.locator("#pinned summary").click()  # unfold the earlier versions
    await expect(pinned.locator("details li")).to_have_count(9)
    await shots(gp, "gp-versions-unfolded")
    await gp.context.close()

    async def deposit_letter(ctx: ServiceContext) -> str:
        view = await documents.deposit_document(
            ctx,
            actor=PRO["psychiatrist"],
            ins=CAMILLE_INS,
            submission=submission(ctx.now(), title="Lettre de liaison — retour à domicile"),
        )
        return str(view.id)

    on_server_database(server_settings, deposit_letter)
    gp = await open_view(browser, live_server, "DEMO-GENERALISTE Paul")
    await expect(gp.locator("#view-scope")).to_contain_text("depuis votre dernière consultation")
    fresh = gp.locator("#first ul.lines > li").first
    await expect(fresh).to_contain_text("Lettre de liaison — retour à domicile")
    await expect(fresh.locator(".tag.new")).to_have_text("Nouveau")
    await expect(gp.locator("li.episode").first.locator(".tag.new").first).to_be_visible()
    await shots(gp, "gp-new-since-last-visit")
    view_path = gp.url.removeprefix(live_server)
    problems = await survey(gp.context, live_server, [("gp-view", view_path)], shots.folder)
    await gp.context.close()

    pharmacist = await open_view(browser, live_server, "DEMO-PHARMACIEN Luc")
    await expect(pharmacist.locator("#pinned")).to_have_count(0)
    lines = pharmacist.locator("#first ul.lines > li > .hint")
    for n in range(3):
        await expect(lines.nth(n)).to_contain_text(
            re.compile("Prescription de produits de santé|Dispensation médicamenteuse")
        )
    for n in range(3, 6):
        await expect(lines.nth(n)).to_contain_text("CR d'examens biologiques")
    # Never shown, counted or hinted (the type filter offers every type, as the list does).
    sections = pharmacist.locator("main section").filter(has_text="Synthèse psychiatrique")
    await expect(sections).to_have_count(0)
    await shots(pharmacist, "pharmacist-first-screen")
    # The search keeps its filters on the next page.
    await pharmacist.get_by_label("Dans les titres et les types").fill("biolog")
    await pharmacist.get_by_role("button", name="Rechercher").click()
    await pharmacist.get_by_role("link", name="Épisodes plus anciens").click()
    await expect(pharmacist.get_by_label("Dans les titres et les types")).to_have_value("biolog")
    await expect(pharmacist.locator("li.episode .key .hint").first).to_contain_text(
        "CR d'examens biologiques"
    )
    await shots(pharmacist, "pharmacist-search-page-2")
    path = pharmacist.url.removeprefix(live_server).split("?")[0]
    problems += await survey(
        pharmacist.context, live_server, [("pharmacist-view", path)], shots.folder
    )
    await pharmacist.context.close()
    assert problems == [], "\n".join(problems)
