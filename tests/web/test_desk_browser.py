"""The admission desk in a real browser (Debian's Chromium driven by Playwright), against a
real server: a desk agent signs in through the demo sign-in page, reads a Carte Vitale
file, picks the person, confirms consent, creates the record and downloads the welcome
letter. Screenshots go to the test's temporary folder (their paths are printed).

Chromium comes from the Debian package ``chromium`` (``/usr/bin/chromium``);
``playwright install`` cannot download browsers here. Without it the test is skipped,
except in CI (``CI=true``), where it fails: CI must install the package.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from opendmp.app import build_runtime, create_app
from opendmp.config import Settings, load_settings
from opendmp.domain.vitale import CardPerson, VitaleCard, card_json
from opendmp.services.demo import OTHER_PEOPLE, PATIENTS, seed_demo
from opendmp.storage.migrate import upgrade

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


async def test_a_desk_agent_creates_a_record_in_the_browser(
    live_server: str, tmp_path: Path
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
    shots = tmp_path / "screenshots"
    shots.mkdir()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(accept_downloads=True, locale="fr-FR")
            page = await context.new_page()
            await page.goto(f"{live_server}/accueil")
            # Not signed in: the desk sends the agent to the sign-in page.
            await expect(page).to_have_url(f"{live_server}/pro/connexion?next=/accueil")
            await page.get_by_role("button", name="Se connecter : DEMO-ACCUEIL Sam").click()
            await expect(page).to_have_url(f"{live_server}/accueil")
            await expect(page.locator("html")).to_have_attribute("lang", "fr")

            await page.get_by_label("Fichier de la carte").set_input_files(card_file)
            await page.get_by_role("button", name="Lire la carte").click()
            await page.get_by_role("button", name=f"Choisir {ALIX.birth_name} Alix Marie").click()

            await expect(
                page.get_by_role("heading", name="Note d'information", exact=True)
            ).to_be_visible()
            await page.get_by_label("La personne a lu la note d'information").check()
            await page.get_by_label("Adresse e-mail").fill("alix.nouvelle@example.org")
            await page.screenshot(path=shots / "desk-consent.png", full_page=True)
            await page.get_by_role("button", name="Créer le DMP").click()

            await expect(page).to_have_url(f"{live_server}/accueil/cree")
            await expect(page.get_by_role("heading", level=1)).to_contain_text("a été créé")
            await page.screenshot(path=shots / "desk.png", full_page=True)
            async with page.expect_download() as downloading:
                await page.get_by_role("button", name="Télécharger le courrier").click()
            download = await downloading.value
            letter = tmp_path / "courrier.pdf"
            await download.save_as(letter)
            assert letter.read_bytes().startswith(b"%PDF")
            # Shown once: after the download the page no longer offers it.
            await page.goto(f"{live_server}/accueil/cree")
            await expect(page.get_by_text("Le courrier a déjà été téléchargé.")).to_be_visible()
        finally:
            await browser.close()
    print(f"\nscreenshots: {shots / 'desk.png'} {shots / 'desk-consent.png'}")
