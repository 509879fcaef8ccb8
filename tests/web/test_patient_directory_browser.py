"""Finding a professional in a real browser (Debian's Chromium driven by Playwright) against
a server seeded like ``opendmp demo``, whose synthetic RPPS extract (data/rpps-demo.txt) is
the directory: a demo patient searches by name and town with the keyboard, on a phone
(390 px) and on a desktop, in French then in English, authorises a doctor, names her
treating doctor and blocks her with the buttons of the results; nothing overflows the
screen, and the history names her. Screenshots in
``test-artifacts/screenshots/<test name>/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendmp.config import Settings
from opendmp.web import i18n
from tests.web.browser_support import (
    Shots,
    chromium,
    demo_settings,
    patient_first_sign_in,
    survey,
)
from tests.web.browser_support import demo_server as serve_demo

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
DOCTOR = "DEMO-LEFÈVRE Élodie"


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    settings: Settings = demo_settings(tmp_path)
    with serve_demo(settings) as summary:
        _n, _i, login, password = summary.patient_logins[1]
        yield settings.base_url, login, password


async def fits(page: object, width: int) -> None:
    scroll = await page.evaluate("document.scrollingElement.scrollWidth")  # type: ignore[attr-defined]
    assert scroll <= width, f"{scroll} px wide at {width} px"


async def test_a_patient_finds_a_doctor_by_name_and_decides_on_a_phone_and_a_desktop(
    demo_server: tuple[str, str, str], shots: Shots
) -> None:
    from playwright.async_api import expect

    base, login, one_time = demo_server
    async with chromium() as browser:
        context = await browser.new_context(locale="fr-FR", viewport=PHONE)
        page = await context.new_page()
        await patient_first_sign_in(page, base, login, one_time)
        await page.goto(f"{base}/patient/professionnels")
        await expect(page.get_by_role("heading", name="Trouver un professionnel")).to_be_visible()

        # Keyboard only: type, Tab to the town, type, Enter submits.
        await page.locator("#f-find-nom").focus()
        await page.keyboard.type("lefevre elodie")
        await page.keyboard.press("Tab")
        await expect(page.locator("#f-find-profession")).to_be_focused()
        await page.keyboard.press("Tab")
        await page.keyboard.type("lyon")
        await page.keyboard.press("Enter")
        results = page.locator("#find-results")
        await expect(
            results.get_by_role("heading", name="Résultats de la recherche")
        ).to_be_visible()
        await expect(results.locator("li")).to_have_count(1)
        await expect(results.locator("li")).to_contain_text(DOCTOR)
        await expect(results.locator("li")).to_contain_text("Médecin — Médecine générale")
        await expect(results.locator("li")).to_contain_text("69003 Lyon")
        await fits(page, 390)
        await shots(page, "find-fr-390")

        authorise = results.get_by_role("button", name=f"Autoriser : {DOCTOR}")
        await authorise.focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("status")).to_contain_text("ce professionnel est autorisé")
        await expect(page.locator("table")).to_contain_text(DOCTOR)

        await page.set_viewport_size(DESKTOP)
        await page.goto(f"{base}/patient/professionnels?nom=Lef%C3%A8vre#find-results")
        await expect(results.locator("li").first).to_contain_text("DEMO-LEFÈVRE")
        treating = results.get_by_role("button", name=f"Désigner médecin traitant DMP : {DOCTOR}")
        await shots(page, "find-fr-desktop")
        await treating.click()
        await expect(page.locator("table")).to_contain_text("Médecin traitant DMP")

        # In English, on a phone then a desktop: blocking from the results.
        await context.add_cookies([{"name": i18n.COOKIE, "value": "en", "url": base}])
        await page.set_viewport_size(PHONE)
        await page.goto(f"{base}/patient/professionnels?nom=lefevre&ville=69003#find-results")
        await expect(results.get_by_role("heading", name="Search results")).to_be_visible()
        await expect(results.locator("li").first).to_contain_text("Treating doctor")
        await fits(page, 390)
        await shots(page, "find-en-390")
        await page.set_viewport_size(DESKTOP)
        await shots(page, "find-en-desktop")
        await results.get_by_role("button", name=f"Block : {DOCTOR}").click()
        await expect(page.get_by_role("status")).to_contain_text("is blocked")

        # Results with every kind of card (blocked, plain): FR/EN, desktop and phone,
        # axe-core and the width checked (``survey``).
        found = [("find", "/patient/professionnels?nom=lef&ville=lyon#find-results")]
        assert await survey(context, base, found, shots.folder) == []

        await page.goto(f"{base}/patient/historique")
        await expect(page.get_by_text(f"blocked a professional : {DOCTOR}")).to_have_count(1)
        await expect(page.get_by_text(f"authorised a professional : {DOCTOR}")).to_have_count(1)
        await context.close()
