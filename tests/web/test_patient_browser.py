"""The patient portal in a real browser (Debian's Chromium driven by Playwright) against a
real server seeded like ``opendmp demo``: a demo patient signs in with the one-time
password of her letter, chooses a password, enrols a TOTP app (the code computed with pyotp
from the secret shown on the page), lists her documents, opens a PDF, masks it, blocks a
professional — whose next request to the FHIR API, with a bearer token from
``opendmp token professional``, is then refused (403) — reads the history, and closes her
DMP (her password asked again). Screenshots go to
``test-artifacts/screenshots/<test name>/`` (the folder is printed).

Chromium comes from the Debian package ``chromium`` (``/usr/bin/chromium``); without it the
test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opendmp.config import Settings
from opendmp.devtools.demo import PATIENTS, by_key
from opendmp.domain.actors import Professional
from opendmp.domain.identifiers import INS_NIR_TEST_OID
from tests.web.browser_support import (
    NEW_PASSWORD,
    Shots,
    chromium,
    demo_settings,
    patient_first_sign_in,
    survey,
)
from tests.web.browser_support import demo_server as serve_demo


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return demo_settings(tmp_path)


@pytest.fixture
def demo_server(server_settings: Settings) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """``opendmp demo`` in miniature; yields the base URL and the (login, one-time password)
    of each demo patient, as the letters would give them."""
    with serve_demo(server_settings) as summary:
        logins = [(login, password) for _n, _i, login, password in summary.patient_logins]
        yield server_settings.base_url, logins


def professional_token(settings: Settings, who: Professional) -> str:
    """A bearer token for ``who`` from the CLI, run on the server's OPENDMP_HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENDMP_")}
    env |= {
        "OPENDMP_HOME": str(settings.home),
        "OPENDMP_MODE": "demo",
        "OPENDMP_PUBLIC_BASE_URL": settings.base_url,
    }
    command = [str(Path(sys.executable).parent / "opendmp"), "token", "professional"]
    command += ["--idnat", who.idnat, "--organization", who.organization or ""]
    command += ["--profession", who.profession or "", "--name", who.name or ""]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def api_search(base: str, token: str, ins: str) -> int:
    """``GET /fhir/DocumentReference?patient.identifier=…&status=current``: the status."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        answer = await client.get(
            "/fhir/DocumentReference",
            params={
                "patient.identifier": f"urn:oid:{INS_NIR_TEST_OID}|{ins}",
                "status": "current",
            },
            headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        )
    return answer.status_code


async def test_a_demo_patient_uses_her_portal_in_the_browser(
    demo_server: tuple[str, list[tuple[str, str]]],
    server_settings: Settings,
    shots: Shots,
) -> None:
    from playwright.async_api import expect

    base, logins = demo_server
    login, one_time = logins[0]  # Camille FICTIVE: documents, a GP, a pharmacist
    pharmacist = by_key("pharmacist")
    token = professional_token(server_settings, pharmacist)

    async with chromium() as browser:
        context = await browser.new_context(accept_downloads=True, locale="fr-FR")
        page = await context.new_page()
        await patient_first_sign_in(page, base, login, one_time, shots=shots)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Camille FICTIVE")
        await shots(page, "home")

        # Documents.
        await (
            page.get_by_role("navigation", name="Mon DMP")
            .get_by_role("link", name="Mes documents")
            .click()
        )
        await expect(page.get_by_role("heading", level=1)).to_have_text("Mes documents")
        table = page.get_by_role("table", name="Documents de mon DMP")
        await expect(table).to_be_visible()
        await shots(page, "documents")
        first = table.get_by_role("row").nth(1).get_by_role("link")
        title = (await first.inner_text()).strip()
        await first.click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        document_path = page.url.removeprefix(base)
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
        await shots(page, "document-pdf")

        # Mask it from professionals.
        await page.get_by_role("button", name=f"Masquer : {title}").click()
        await expect(page.get_by_role("status")).to_contain_text(
            "le document est masqué aux professionnels"
        )
        await expect(page.get_by_text("Masqué aux professionnels").first).to_be_visible()
        await shots(page, "document-masked")

        # Block the pharmacist: the API served him before, refuses him after.
        await page.goto(f"{base}/patient/professionnels")
        assert await api_search(base, token, PATIENTS[0].ins) == 200
        await page.get_by_role("button", name="Bloquer : DEMO-PHARMACIEN Luc").click()
        await expect(page).to_have_url(f"{base}/patient/professionnels?fait=blocked")
        row = page.get_by_role("row").filter(has_text="DEMO-PHARMACIEN Luc")
        await expect(row).to_contain_text("BLOQUÉ")
        await shots(page, "professionals")
        assert await api_search(base, token, PATIENTS[0].ins) == 403

        # The history shows the accesses, the refused one included.
        await page.goto(f"{base}/patient/historique")
        history = page.get_by_role("table", name="Événements de mon DMP")
        await expect(history).to_contain_text("DEMO-PHARMACIEN Luc")
        await expect(history).to_contain_text("a bloqué un professionnel")
        # Her own page views are hidden by default (issue 15); what she did is there.
        await expect(history).to_contain_text("a masqué ou démasqué un document")
        # The pharmacist's API searches: the refused one after the block, marked so.
        searches = (
            history.get_by_role("row")
            .filter(has_text="DEMO-PHARMACIEN Luc")
            .filter(has_text="a consulté la liste des documents")
        )
        await expect(searches).to_have_count(2)
        await expect(searches.first).to_contain_text("refusé")
        await shots(page, "history")

        # The other pages.
        for path, name in (
            ("/patient/choix", "choices"),
            ("/patient/compte", "account"),
            ("/patient/documents/ajouter", "upload"),
            ("/patient/dossier", "record"),
        ):
            await page.goto(f"{base}{path}")
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            await shots(page, name)

        # Every page in French and English, desktop and phone: screenshots, axe-core, width.
        problems = await survey(
            context,
            base,
            [
                ("home", "/patient"),
                ("documents", "/patient/documents"),
                ("document", document_path),
                ("history", "/patient/historique"),
                ("professionals", "/patient/professionnels"),
                ("choices", "/patient/choix"),
                ("account", "/patient/compte"),
                ("upload", "/patient/documents/ajouter"),
                ("record", "/patient/dossier"),
            ],
            shots.folder,
        )
        assert problems == [], "\n".join(problems)

        # English on request.
        await page.goto(f"{base}/patient/historique")
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Access history")
        await shots(page, "history-en")
        await page.get_by_role("link", name="Français").click()

        # Close the DMP: the password is asked again; a wrong one closes nothing.
        await page.goto(f"{base}/patient/dossier")
        await page.get_by_label("Votre mot de passe (pour confirmer)").fill("pas le bon")
        await page.locator("#f-close-confirm").check()
        await page.get_by_role("button", name="Fermer mon DMP").click()
        await expect(page.get_by_role("alert")).to_contain_text("Mot de passe incorrect")
        await shots(page, "close-wrong-password")
        await page.get_by_label("Votre mot de passe (pour confirmer)").fill(NEW_PASSWORD)
        await page.locator("#f-close-confirm").check()
        await page.get_by_role("button", name="Fermer mon DMP").click()
        await expect(page).to_have_url(f"{base}/patient/dossier?fait=closed")
        await expect(page.get_by_role("status")).to_contain_text("votre DMP est fermé")
        await shots(page, "closed")
