"""The admission desk in a real browser (Debian's Chromium driven by Playwright), against a
real server: a desk agent signs in through the demo sign-in page, reads a Carte Vitale
file, picks the person, confirms consent, creates the record and downloads the welcome
letter, whose text (pypdf) carries the record's login and a one-time password that then
opens the new patient's portal. Screenshots go to
``test-artifacts/screenshots/<test name>/`` (the folder is printed).

Chromium comes from the Debian package ``chromium`` (``/usr/bin/chromium``);
``playwright install`` cannot download browsers here. Without it the test is skipped,
except in CI (``CI=true``), where it fails: CI must install the package.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from opendmp.config import Settings
from opendmp.devtools.demo import OTHER_PEOPLE, PATIENTS
from opendmp.domain.vitale import CardPerson, VitaleCard, card_json
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.web.browser_support import (
    Shots,
    chromium,
    demo_server,
    demo_settings,
    on_server_database,
    patient_first_sign_in,
    survey,
)

ALIX = OTHER_PEOPLE[0]


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return demo_settings(tmp_path)


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[str]:
    with demo_server(server_settings):
        yield server_settings.base_url


def letter_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def login_of(settings: Settings, ins_value: str) -> str:
    """The login of the account of ``ins_value``'s record, read from the server's database."""

    async def read(ctx: ServiceContext) -> str:
        async with ctx.uow() as uow:
            login = await uow.session.scalar(
                select(m.Account.login)
                .join(m.Record, m.Record.id == m.Account.record_id)
                .join(m.Patient, m.Patient.id == m.Record.patient_id)
                .where(m.Patient.ins_value == ins_value)
            )
        assert login is not None, "no account for the new record"
        return login

    return on_server_database(settings, read)


async def test_a_desk_agent_creates_a_record_in_the_browser(
    live_server: str, server_settings: Settings, tmp_path: Path, shots: Shots
) -> None:
    from playwright.async_api import expect

    card_file = tmp_path / "carte-vitale.json"
    card = VitaleCard(
        CardPerson(
            PATIENTS[1].birth_name,
            (PATIENTS[1].given,),
            PATIENTS[1].birth_date,
            ins=PATIENTS[1].ins,
        ),
        (CardPerson(ALIX.birth_name, ALIX.given, ALIX.birth_date, ins=ALIX.ins),),
    )
    card_file.write_text(json.dumps(card_json(card)), encoding="utf-8")

    async with chromium() as browser:
        context = await browser.new_context(accept_downloads=True, locale="fr-FR")
        page = await context.new_page()
        await page.goto(f"{live_server}/accueil")
        # Not signed in: the desk sends the agent to the sign-in page.
        await expect(page).to_have_url(f"{live_server}/pro/connexion?next=/accueil")
        await shots(page, "staff-signin")
        await page.get_by_role("button", name="Se connecter : DEMO-ACCUEIL Sam").click()
        await expect(page).to_have_url(f"{live_server}/accueil")
        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await shots(page, "desk-card")

        await page.get_by_label("Fichier de la carte").set_input_files(card_file)
        await page.get_by_role("button", name="Lire la carte").click()
        await shots(page, "desk-beneficiaries")
        await page.get_by_role("button", name=f"Choisir {ALIX.birth_name} Alix Marie").click()

        await expect(
            page.get_by_role("heading", name="Note d'information", exact=True)
        ).to_be_visible()
        await page.get_by_label("La personne a lu la note d'information").check()
        await page.get_by_label("Adresse e-mail").fill("alix.nouvelle@example.org")
        await shots(page, "desk-consent")
        await page.get_by_role("button", name="Créer le DMP").click()

        await expect(page).to_have_url(f"{live_server}/accueil/cree")
        await expect(page.get_by_role("heading", level=1)).to_contain_text("a été créé")
        await shots(page, "desk-created")
        async with page.expect_download() as downloading:
            await page.get_by_role("button", name="Télécharger le courrier").click()
        download = await downloading.value
        letter = tmp_path / "courrier.pdf"
        await download.save_as(letter)
        pdf = letter.read_bytes()
        assert pdf.startswith(b"%PDF")
        shutil.copy(letter, shots.folder / "courrier-de-bienvenue.pdf")
        # Shown once: after the download the page no longer offers it.
        await page.goto(f"{live_server}/accueil/cree")
        await expect(page.get_by_text("Le courrier a déjà été téléchargé.")).to_be_visible()
        await shots(page, "desk-letter-taken")
        problems = await survey(
            context,
            live_server,
            [("desk-home", "/accueil"), ("desk-created", "/accueil/cree")],
            shots.folder,
        )
        assert problems == [], "\n".join(problems)

        # The letter's text: the record's login, a one-time password, the portal.
        text = letter_text(pdf)
        login = login_of(server_settings, ALIX.ins)
        assert f"Identifiant : {login}" in text, text
        assert f"{live_server}/patient" in text
        found = re.search(r"Mot de passe à usage unique : (\S+)", text)
        assert found, text
        # ... which open the new patient's portal.
        patient = await browser.new_context(locale="fr-FR")
        patient_page = await patient.new_page()
        await patient_first_sign_in(patient_page, live_server, login, found.group(1))
        await expect(patient_page.get_by_role("heading", level=1)).to_contain_text("Alix")
        await shots(patient_page, "patient-home")
