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

import asyncio
import io
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from opendmp.app import build_runtime, create_app
from opendmp.config import Settings, load_settings
from opendmp.devtools.demo import OTHER_PEOPLE, PATIENTS, seed_demo
from opendmp.domain.vitale import CardPerson, VitaleCard, card_json
from opendmp.storage import models as m
from opendmp.storage.migrate import upgrade
from tests.web.browser_support import Shots, patient_first_sign_in

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALIX = OTHER_PEOPLE[0]


def _browser_or_skip() -> None:
    missing = []
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        missing.append(f"{CHROMIUM} (Debian package 'chromium')")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the 'playwright' Python package")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — CI must install it", pytrace=False)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return load_settings(
        home=tmp_path / "home",
        mode="demo",
        host="127.0.0.1",
        port=_free_port(),
        cookie_secure=False,
        run_worker_in_process=False,
    )


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[str]:
    """``opendmp demo`` in miniature: initialise the home, seed, serve in a thread."""

    async def prepare() -> None:
        rt = build_runtime(server_settings, create_key=True)
        try:
            await upgrade(rt.engine)
            await seed_demo(rt.ctx)
        finally:
            await rt.close()

    # Its own loop: the server thread will open its own connections in its own loop.
    threading.Thread(target=lambda: asyncio.run(prepare())).run()
    config = uvicorn.Config(
        create_app(server_settings),
        host=server_settings.host,
        port=server_settings.port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield server_settings.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def letter_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def login_of(settings: Settings, ins_value: str) -> str:
    """The login of the account of ``ins_value``'s record, read from the server's database."""
    found: list[str] = []

    async def read() -> None:
        rt = build_runtime(settings)
        try:
            async with rt.ctx.uow() as uow:
                found.append(
                    (
                        await uow.session.execute(
                            select(m.Account.login)
                            .join(m.Record, m.Record.id == m.Account.record_id)
                            .join(m.Patient, m.Patient.id == m.Record.patient_id)
                            .where(m.Patient.ins_value == ins_value)
                        )
                    ).scalar_one()
                )
        finally:
            await rt.close()

    thread = threading.Thread(target=lambda: asyncio.run(read()))
    thread.start()
    thread.join()
    assert found, "no account for the new record"
    return found[0]


async def test_a_desk_agent_creates_a_record_in_the_browser(
    live_server: str, server_settings: Settings, tmp_path: Path, shots: Shots
) -> None:
    _browser_or_skip()
    from playwright.async_api import async_playwright, expect

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

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
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
        finally:
            await browser.close()
