"""The patient portal in a real browser (Debian's Chromium driven by Playwright) against a
real server seeded like ``opendmp demo``: a demo patient signs in with the one-time
password of her letter, chooses a password, enrols a TOTP app (the code computed with pyotp
from the secret shown on the page), lists her documents, opens a PDF, masks it, blocks a
professional — whose next access is then refused by the services — and reads the history.
Screenshots go to the test's temporary folder (their paths are printed).

Chromium comes from the Debian package ``chromium`` (``/usr/bin/chromium``); without it the
test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import uvicorn

from opendmp.app import build_runtime, create_app
from opendmp.config import Settings, load_settings
from opendmp.domain.errors import AccessDenied
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services.demo import PATIENTS, by_key, seed_demo
from opendmp.services.documents import DocumentQuery, search_documents
from opendmp.storage.migrate import upgrade
from tests.web.test_desk_browser import CHROMIUM, CHROMIUM_ARGS, _browser_or_skip, _free_port

NEW_PASSWORD = "une phrase de passe fictive"


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
def demo_server(server_settings: Settings) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """``opendmp demo`` in miniature; yields the base URL and the (login, one-time password)
    of each demo patient, as the letters would give them."""
    logins: list[tuple[str, str]] = []

    async def prepare() -> None:
        rt = build_runtime(server_settings, create_key=True)
        try:
            await upgrade(rt.engine)
            summary = await seed_demo(rt.ctx)
            logins.extend((login, password) for _n, _i, login, password in summary.patient_logins)
        finally:
            await rt.close()

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
        yield server_settings.base_url, logins
    finally:
        server.should_exit = True
        thread.join(timeout=15)


async def pharmacist_search(settings: Settings) -> str:
    """The blocked pharmacist asks for the patient's documents, as the API would: the code
    of the refusal (or "allowed")."""
    outcome: list[str] = []

    async def ask() -> None:
        rt = build_runtime(settings)
        try:
            await search_documents(
                rt.ctx,
                actor=by_key("pharmacist"),
                ins=parse_ins(PATIENTS[0].ins, INS_NIR_TEST_OID),
                query=DocumentQuery(),
            )
            outcome.append("allowed")
        except AccessDenied as refused:
            outcome.append(refused.code)
        finally:
            await rt.close()

    # Its own loop in its own thread: the server's connections belong to the server's loop.
    await asyncio.to_thread(lambda: asyncio.run(ask()))
    return outcome[0]


async def test_a_demo_patient_uses_her_portal_in_the_browser(
    demo_server: tuple[str, list[tuple[str, str]]],
    server_settings: Settings,
    tmp_path: Path,
) -> None:
    _browser_or_skip()
    from playwright.async_api import async_playwright, expect

    base, logins = demo_server
    login, one_time = logins[0]  # Camille FICTIVE: documents, a GP, a pharmacist
    shots = tmp_path / "screenshots"
    shots.mkdir()
    taken: list[Path] = []

    async def shot(page: object, name: str) -> None:
        path = shots / f"patient-{name}.png"
        await page.screenshot(path=path, full_page=True)  # type: ignore[attr-defined]
        taken.append(path)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(accept_downloads=True, locale="fr-FR")
            page = await context.new_page()
            await page.goto(f"{base}/patient")
            await expect(page).to_have_url(f"{base}/patient/connexion?next=/patient")
            await expect(page.locator("html")).to_have_attribute("lang", "fr")
            await page.locator("#f-login").fill(login)
            await page.locator("#f-password").fill(one_time)
            await shot(page, "signin")
            await page.get_by_role("button", name="Se connecter").click()

            # First sign-in: the one-time password must be replaced.
            await expect(page).to_have_url(f"{base}/patient/mot-de-passe")
            await page.locator("#f-old_password").fill(one_time)
            await page.locator("#f-new_password").fill(NEW_PASSWORD)
            await page.locator("#f-new_password_confirm").fill(NEW_PASSWORD)
            await page.get_by_role("button", name="Enregistrer le mot de passe").click()

            # TOTP enrolment: a QR code, and the key for manual entry.
            await expect(page).to_have_url(f"{base}/patient/double-authentification")
            await expect(page.locator("figure.qr svg")).to_be_visible()
            secret = await page.locator("#totp-secret").get_attribute("data-secret")
            assert secret
            await shot(page, "totp-enrolment")
            await page.locator("#f-code").fill(pyotp.TOTP(secret).now())
            await page.get_by_role("button", name="Activer").click()
            await expect(page).to_have_url(f"{base}/patient?fait=totp")
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                "Bonjour Camille FICTIVE"
            )
            await shot(page, "home")

            # Documents.
            await (
                page.get_by_role("navigation", name="Mon DMP")
                .get_by_role("link", name="Mes documents")
                .click()
            )
            await expect(page.get_by_role("heading", level=1)).to_have_text("Mes documents")
            table = page.get_by_role("table", name="Documents de mon DMP")
            await expect(table).to_be_visible()
            await shot(page, "documents")
            first = table.get_by_role("row").nth(1).get_by_role("link")
            title = (await first.inner_text()).strip()
            await first.click()
            await expect(page.get_by_role("heading", level=1)).to_have_text(title)
            frame = page.locator("iframe.pdf")
            await expect(frame).to_have_attribute("data-sandboxed-by", "csp")
            source = await frame.get_attribute("src")
            assert source and source.endswith("/contenu")
            served = await page.request.get(f"{base}{source}")
            assert served.ok
            assert (await served.body()).startswith(b"%PDF")
            headers = served.headers
            assert headers["content-security-policy"].startswith("sandbox; default-src 'none'")
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["content-disposition"].startswith("inline")
            await page.wait_for_timeout(1000)  # let the PDF viewer paint for the screenshot
            await shot(page, "document-pdf")

            # Mask it from professionals.
            await page.get_by_role("button", name=f"Masquer : {title}").click()
            await expect(page.get_by_role("status")).to_contain_text(
                "le document est masqué aux professionnels"
            )
            await expect(page.get_by_text("Masqué aux professionnels").first).to_be_visible()

            # Block the pharmacist.
            await page.goto(f"{base}/patient/professionnels")
            assert await pharmacist_search(server_settings) == "allowed"
            await page.get_by_role("button", name="Bloquer : DEMO-PHARMACIEN Luc").click()
            await expect(page).to_have_url(f"{base}/patient/professionnels?fait=blocked")
            row = page.get_by_role("row").filter(has_text="DEMO-PHARMACIEN Luc")
            await expect(row).to_contain_text("BLOQUÉ")
            await shot(page, "professionals")
            assert await pharmacist_search(server_settings) == "blocked-by-patient"

            # The history shows the accesses, the refused one included.
            await page.goto(f"{base}/patient/historique")
            history = page.get_by_role("table", name="Événements de mon DMP")
            await expect(history).to_contain_text("DEMO-PHARMACIEN Luc")
            await expect(history).to_contain_text("a bloqué un professionnel")
            await expect(history).to_contain_text("a consulté un document")
            await shot(page, "history")

            # English on request.
            await page.get_by_role("link", name="English").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Access history")
        finally:
            await browser.close()
    print("\nscreenshots: " + " ".join(str(path) for path in taken))
