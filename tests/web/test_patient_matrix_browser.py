"""The patient's own matrix in "Mes choix" in a real browser (Debian's Chromium driven by
Playwright) on a phone-sized screen (390 px), against a server seeded like ``opendmp demo``
(docs/rules.md §3.6, docs/portals.md): a demo patient unfolds the doctors' block, unticks
genetics, saves; the page says so, keeps the block open with the category unticked, nothing
overflows the screen, the filter narrows the professions (grouped by kind) as one types,
and the history shows the change. Screenshots in
``test-artifacts/screenshots/<test name>/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendmp.config import Settings
from tests.web.browser_support import Shots, chromium, demo_settings, patient_first_sign_in
from tests.web.browser_support import demo_server as serve_demo


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    settings: Settings = demo_settings(tmp_path)
    with serve_demo(settings) as summary:
        _n, _i, login, password = summary.patient_logins[0]
        yield settings.base_url, login, password


async def test_the_patient_narrows_what_doctors_read_on_a_phone(
    demo_server: tuple[str, str, str], shots: Shots
) -> None:
    from playwright.async_api import expect

    base, login, one_time = demo_server
    async with chromium() as browser:
        context = await browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
        page = await context.new_page()
        await patient_first_sign_in(page, base, login, one_time)
        await page.goto(f"{base}/patient/choix")
        await expect(
            page.get_by_role("heading", name="Ce que lisent les professionnels")
        ).to_be_visible()
        doctors = page.locator("#matrix-10")
        pharmacists = page.locator("#matrix-21")
        await expect(doctors.locator("summary")).to_contain_text("tout ce que permet")
        await doctors.locator("summary").click()
        await expect(
            doctors.get_by_label("Santé mentale (synthèses psychiatriques)")
        ).to_be_checked()
        # The default matrix refuses pharmacists psychiatric syntheses: not offered to untick.
        await pharmacists.locator("summary").click()
        await expect(
            pharmacists.get_by_label("Santé mentale (synthèses psychiatriques)")
        ).to_have_count(0)
        await expect(pharmacists.get_by_label("Comptes rendus")).to_be_checked()
        await shots(page, "choices-matrix")

        await doctors.get_by_label("Génétique").uncheck()
        await doctors.get_by_role("button", name="Enregistrer").click()

        await expect(page.get_by_role("status")).to_contain_text(
            "ce que cette profession peut lire"
        )
        doctors = page.locator("#matrix-10")
        await expect(doctors).to_have_attribute("open", "")
        await expect(doctors.locator("summary")).to_contain_text("catégories retirées : 1")
        await expect(doctors.get_by_label("Génétique")).not_to_be_checked()
        await expect(doctors.get_by_label("Comptes rendus")).to_be_checked()
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, width
        await shots(page, "choices-matrix-saved")

        # The filter narrows the grouped list as one types (the script; no page load).
        await expect(page.get_by_role("heading", name="Soins infirmiers")).to_be_visible()
        await page.get_by_label("Chercher une profession").press_sequentially("infirm")
        await expect(page.locator("details.matrix:visible")).to_have_count(2)
        await expect(page.locator("#matrix-60")).to_be_visible()
        await expect(page.locator("#matrix-69")).to_be_visible()
        await expect(page.get_by_role("heading", name="Médecins")).to_be_hidden()
        assert page.url.endswith("/patient/choix?fait=matrix#matrix-title")
        await shots(page, "choices-matrix-filtered")
        await page.get_by_label("Chercher une profession").fill("zzz")
        await expect(page.locator("#matrix-none")).to_contain_text("Aucune profession")
        await page.get_by_label("Chercher une profession").fill("")
        await expect(page.locator("details.matrix:visible")).to_have_count(23)

        await page.goto(f"{base}/patient/historique")
        await expect(
            page.get_by_text("a changé les catégories de documents lisibles par profession")
        ).to_have_count(1)
        await context.close()
