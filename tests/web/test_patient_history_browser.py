"""Issue 15, items 1 and 2, in a real browser (Debian's Chromium driven by Playwright)
against a demo server: after a break-glass access the patient's home page shows it until she
acknowledges it, and the access history — emergency rows included — keeps its columns in
the table at desktop width and becomes labelled blocks at 390 px, with nothing wider than
the screen; repeated events are one line with a count, the establishment is named, her own
page views are hidden until she asks. Screenshots (FR/EN, desktop/390 px) go to
``test-artifacts/screenshots/<test name>/``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opendmp.config import Settings
from opendmp.devtools.demo import ESTABLISHMENT_NAME, PATIENTS, by_key
from opendmp.domain.actors import AccessMode
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services.access.emergency import open_emergency_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery, PageRequest, search_documents
from tests.web.browser_support import (
    Shots,
    chromium,
    demo_settings,
    on_server_database,
    patient_first_sign_in,
)
from tests.web.browser_support import demo_server as serve_demo

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CAMILLE = parse_ins(PATIENTS[0].ins, INS_NIR_TEST_OID)
RESCUER = dataclasses.replace(
    by_key("physio"), access_mode=AccessMode.BREAK_GLASS, justification="Malaise au cabinet"
)


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return demo_settings(tmp_path)


@pytest.fixture
def demo_server(server_settings: Settings) -> Iterator[tuple[str, tuple[str, str]]]:
    with serve_demo(server_settings) as summary:
        _n, _i, login, password = summary.patient_logins[0]  # Camille FICTIVE
        yield server_settings.base_url, (login, password)


async def accesses(ctx: ServiceContext) -> bool:
    """Five list views by the GP within minutes, then a break-glass access."""
    for _ in range(5):
        await search_documents(
            ctx, actor=by_key("gp"), ins=CAMILLE, query=DocumentQuery(), page=PageRequest()
        )
    await open_emergency_access(ctx, actor=RESCUER, ins=CAMILLE)
    await search_documents(
        ctx, actor=RESCUER, ins=CAMILLE, query=DocumentQuery(), page=PageRequest()
    )
    return True


async def assert_fits(page: Any, width: int) -> None:
    """Nothing wider than the viewport: no horizontal scroll of the page, and every cell of
    the history (emergency rows included) inside the screen."""
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    right = await page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('table.history td, table.history th')]
            .map(c => c.getBoundingClientRect().right))"""
    )
    assert right <= width + 0.5, f"a history cell ends at {right}px"


async def test_an_emergency_access_on_the_home_page_and_a_readable_history(
    demo_server: tuple[str, tuple[str, str]],
    server_settings: Settings,
    shots: Shots,
) -> None:
    from playwright.async_api import expect

    base, (login, one_time) = demo_server
    assert on_server_database(server_settings, accesses)
    async with chromium() as browser:
        context = await browser.new_context(locale="fr-FR", viewport=DESKTOP)
        page = await context.new_page()
        await patient_first_sign_in(page, base, login, one_time)

        # Item 1: the home page says it, prominently.
        notice = page.locator("#emergency-notice")
        await expect(notice).to_be_visible()
        await expect(notice.get_by_role("heading", level=2)).to_contain_text(
            "Accès en urgence à votre DMP"
        )
        await expect(notice).to_contain_text("DEMO-KINE Marc")
        await expect(notice).to_contain_text("URGENCE — bris de glace")
        await shots(page, "home-emergency-desktop")
        await page.set_viewport_size(PHONE)
        await assert_fits(page, PHONE["width"])
        await shots(page, "home-emergency-390")
        await page.set_viewport_size(DESKTOP)

        # The history at desktop width: emergency rows are rows of the table.
        await notice.get_by_role("link").first.click()
        await page.goto(f"{base}/patient/historique")
        table = page.get_by_role("table", name="Événements de mon DMP")
        emergency = table.locator("tr.emergency-row").first
        await expect(emergency).to_be_visible()
        assert await emergency.evaluate("r => getComputedStyle(r).display") == "table-row"
        header = [h.strip() for h in await table.locator("thead th").all_inner_texts()]
        assert header == ["Quand", "Qui", "Quoi", "Mode d'accès", "Actions"]
        cells = emergency.locator(":scope > td, :scope > th")
        await expect(cells).to_have_count(5)
        tops = {round((await cell.bounding_box())["y"]) for cell in await cells.all()}
        assert len(tops) == 1, "the emergency row's cells sit side by side"
        await expect(emergency).to_contain_text("Signaler cet accès")
        await assert_fits(page, DESKTOP["width"])
        # Item 2: grouped, named, the patient's own page views hidden.
        gp_lists = (
            table.get_by_role("row")
            .filter(has_text="DEMO-GENERALISTE Paul")
            .filter(has_text="a consulté la liste des documents")
        )
        await expect(gp_lists).to_have_count(1)
        await expect(gp_lists).to_contain_text("5 fois")
        await expect(gp_lists).to_contain_text(ESTABLISHMENT_NAME)
        own = (
            table.locator("tbody tr")
            .filter(has=page.locator("th:text-is('Vous')"))
            .filter(has_text="a consulté")
        )
        await expect(own).to_have_count(0)
        await shots(page, "history-desktop")
        await page.get_by_label("Afficher aussi mes propres consultations").check()
        await page.get_by_role("button", name="Appliquer").click()
        await expect(own.first).to_be_visible()
        await shots(page, "history-own-views")

        # The history at 390 px: labelled blocks, every column there, nothing overflows.
        await page.goto(f"{base}/patient/historique")
        await page.set_viewport_size(PHONE)
        emergency = page.locator("tr.emergency-row").first
        await expect(emergency).to_be_visible()
        for label in ("Quand", "Qui", "Quoi", "Mode d'accès"):
            cell = emergency.locator(f'[data-label="{label}"]')
            await expect(cell).to_be_visible()
        await expect(emergency.locator('[data-label="Mode d\'accès"]')).to_contain_text("URGENCE")
        await assert_fits(page, PHONE["width"])
        await shots(page, "history-390")

        # English, both widths.
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Access history")
        await assert_fits(page, PHONE["width"])
        await shots(page, "history-en-390")
        await page.set_viewport_size(DESKTOP)
        await shots(page, "history-en-desktop")
        await page.get_by_role("link", name="Français").click()

        # Acknowledged: the notice goes, the history keeps the rows.
        await page.goto(f"{base}/patient")
        await page.get_by_role("button", name="J'en ai pris connaissance").click()
        await expect(page).to_have_url(f"{base}/patient?fait=acknowledged")
        await expect(page.get_by_role("status")).to_contain_text("pris connaissance")
        await expect(page.locator("#emergency-notice")).to_have_count(0)
        await shots(page, "home-acknowledged")
        await page.reload()
        await expect(page.locator("#emergency-notice")).to_have_count(0)
        await context.close()
