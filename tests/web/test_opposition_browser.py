"""The objection page of the opt-out opening in a real browser (Debian's Chromium driven by
Playwright) against a demo server in ``OPENDMP_CREATION_MODE=opt-out``: two beneficiaries
are announced (their codes read from the outbox, as their e-mails give them); one objects
in French on a desktop, the other in English on a 390 px phone, each from the link of the
sign-in page; the page confirms and offers the proof; the form page is surveyed in French
and English, desktop and phone (axe-core, width). Screenshots in
``test-artifacts/screenshots/<test name>/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from opendmp.config import Settings
from opendmp.services.core.context import ServiceContext
from opendmp.services.records.opt_out import announce
from opendmp.storage import models as m
from tests.factories import OPERATOR, make_ins
from tests.services.records.test_opt_out import BORN, Letters, person
from tests.web.browser_support import Shots, chromium, demo_settings, on_server_database, survey
from tests.web.browser_support import demo_server as serve_demo


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Settings, list[str]]]:
    settings = demo_settings(tmp_path, creation_mode="opt-out")
    with serve_demo(settings):

        async def two_notices(ctx: ServiceContext) -> list[str]:
            for n in range(2):
                who = person(make_ins(), email=f"beneficiaire{n}@example.org")
                await announce(ctx, actor=OPERATOR, person=who, letters=Letters())
            async with ctx.sessions() as session:
                rows = await session.execute(
                    select(m.Outbox.payload)
                    .where(m.Outbox.kind == "opt-out-notice")
                    .order_by(m.Outbox.recipient)
                )
                return [orjson.loads(payload)["code"] for payload in rows.scalars()]

        yield settings, on_server_database(settings, two_notices)


async def _object(page: Any, base: str, code: str, texts: dict[str, str]) -> None:
    from playwright.async_api import expect

    await page.goto(f"{base}/patient/connexion")
    await page.get_by_role("link", name=texts["link"]).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(texts["link"])
    await page.get_by_label(texts["code"]).fill(code.lower().replace("-", " "))
    await page.get_by_label(texts["born"]).fill(BORN.isoformat())
    await page.get_by_role("button", name=texts["submit"]).click()
    await expect(page.get_by_role("status")).to_contain_text(texts["done"])
    await expect(page.get_by_role("button", name=texts["proof"])).to_be_visible()


async def test_a_beneficiary_objects_online_in_french_and_in_english(
    server: tuple[Settings, list[str]], shots: Shots
) -> None:
    settings, codes = server
    base = settings.base_url
    french = {
        "link": "M'opposer à l'ouverture de mon DMP",
        "code": "Code du courrier ou du courriel",
        "born": "Date de naissance",
        "submit": "Je m'oppose à l'ouverture de mon DMP",
        "done": "votre opposition a été enregistrée",
        "proof": "Télécharger l'attestation d'opposition (PDF)",
    }
    english = {
        "link": "Object to the opening of my DMP",
        "code": "Code in the letter or e-mail",
        "born": "Birth date",
        "submit": "I object to the opening of my DMP",
        "done": "your objection was recorded",
        "proof": "Download the proof of opposition (PDF)",
    }
    async with chromium() as browser:
        desktop = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        page = await desktop.new_page()
        await _object(page, base, codes[0], french)
        await shots(page, "fr-desktop-objection-recorded")
        async with page.expect_download() as download:
            await page.get_by_role("button", name=french["proof"]).click()
        proof = await download.value
        assert proof.suggested_filename == "attestation-opposition-dmp.pdf"

        phone = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
        host = base.split("//", 1)[1].split(":", 1)[0]
        await phone.add_cookies(
            [{"name": "opendmp_lang", "value": "en", "domain": host, "path": "/"}]
        )
        page = await phone.new_page()
        await page.goto(f"{base}/patient/opposition")
        await shots(page, "en-phone-form")
        await _object(page, base, codes[1], english)
        await shots(page, "en-phone-objection-recorded")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390

        problems = await survey(
            desktop, base, [("opposition", "/patient/opposition")], shots.folder
        )
        assert problems == []
