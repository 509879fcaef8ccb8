"""The professional portal in a real browser (Debian's Chromium driven by Playwright),
against a real server in demo mode with its in-process outbox worker and a real SMTP server
(aiosmtpd) on loopback:

1. a doctor of the demo establishment signs in, finds a demo patient by INS, declares her
   consent and deposits a discharge letter (PDF, 11490-0), which the patient then sees in
   her portal (same browser, her first sign-in with the one-time password of her letter);
2. a pharmacist cannot see a psychiatric synthesis (68599-0);
3. a professional the patient blocked is refused;
4. a break-glass access shows its banner, appears in the patient's history and e-mails her.

The history and the e-mail of (4) are checked through the history service with a ``Patient``
actor on the server's database and the SMTP server's inbox. Screenshots go to
``test-artifacts/screenshots/<test name>/`` (the folder is printed).

Chromium comes from the Debian package ``chromium`` (``/usr/bin/chromium``). Without it the
tests are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from opendmp.cda.pdf import make_pdf
from opendmp.config import Settings
from opendmp.devtools.demo import PATIENTS, PROFESSIONALS
from opendmp.domain.actors import Patient
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services import documents
from opendmp.services.access import authorisations as access
from opendmp.services.core.context import ServiceContext
from tests.notify.smtp_support import (  # noqa: F401 - the fixture smtp
    SmtpServer,
    body_of,
    smtp_fixture,
)
from tests.web.browser_support import (
    Shots,
    chromium,
    demo_server,
    demo_settings,
    on_server_database,
    patient_first_sign_in,
    survey,
)

CAMILLE, _, LEA = PATIENTS
PRO = {p.key: p.actor for p in PROFESSIONALS}


@pytest.fixture
def server_settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return demo_settings(
        tmp_path,
        run_worker_in_process=True,
        worker_interval_seconds=0.2,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
    )


PATIENT_LOGINS: dict[str, tuple[str, str]] = {}


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[str]:
    with demo_server(server_settings) as summary:
        assert summary.created
        PATIENT_LOGINS.clear()
        PATIENT_LOGINS.update(
            {ins: (login, one_time) for _n, ins, login, one_time in summary.patient_logins}
        )
        yield server_settings.base_url


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    async with chromium() as browser:
        context = await browser.new_context(locale="fr-FR")
        yield await context.new_page()


async def sign_in_and_open(page: Any, base: str, name: str, ins: str) -> None:
    from playwright.async_api import expect

    await page.goto(f"{base}/pro")
    await expect(page).to_have_url(f"{base}/pro/connexion?next=/pro")
    await page.get_by_role("button", name=f"Se connecter : {name}").click()
    await expect(page).to_have_url(f"{base}/pro")
    await page.get_by_label("INS (NIR de la personne, 15 caractères)").fill(ins)
    await page.get_by_role("button", name="Rechercher").click()
    await expect(page.get_by_role("heading", name="Test d'existence et statut")).to_be_visible()


async def test_a_doctor_declares_consent_and_deposits_a_letter_the_patient_sees(
    live_server: str, server_settings: Settings, browser_page: Any, shots: Shots, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    page = browser_page
    letter = tmp_path / "lettre-de-liaison.pdf"
    letter.write_bytes(make_pdf("Lettre de liaison", ["Sortie le 27/02 — données fictives."]))
    await sign_in_and_open(page, live_server, "DEMO-PSYCHIATRE Inès", LEA.ins)
    await shots(page, "pro-patient")
    await expect(page.locator("#access-state")).to_have_text("aucune")
    await expect(page.locator("#access-state")).to_have_attribute("data-state", "NON_EXISTE")
    await page.get_by_label("Le patient m'a donné son consentement").check()
    await page.get_by_label("Le patient me désigne aussi comme médecin traitant DMP").check()
    await shots(page, "pro-consent")
    await page.get_by_role("button", name="Déclarer le consentement").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Documents du DMP")
    await expect(page.locator("#consent-done")).to_contain_text(
        "Consentement du patient enregistré"
    )
    await expect(page.locator("#consent-done")).to_contain_text("médecin traitant DMP")
    await shots(page, "pro-consent-done")

    await page.get_by_role("link", name="Ajouter un document").first.click()
    await page.get_by_label("Fichier (PDF ou CDA)").set_input_files(letter)
    await page.get_by_label("Type de document").select_option("11490-0")
    await page.get_by_label("Titre").fill("Lettre de liaison — sortie de test")
    await shots(page, "pro-deposit")
    await page.get_by_role("button", name="Déposer le document").click()
    await expect(page.get_by_text("Le document a été déposé dans le DMP.")).to_be_visible()

    await page.get_by_role("link", name="Consulter les documents").click()
    link = page.get_by_role("link", name="Lettre de liaison — sortie de test")
    await expect(link).to_be_visible()
    await shots(page, "pro-documents")
    await link.click()
    await expect(page.locator("iframe.pdf")).to_be_visible()
    # The content route answers with its own sandbox (CSP), which the PDF viewer honours.
    # Asked directly: the viewer's own requests may be answered from its cache, which
    # Playwright reports without all the headers.
    source = await page.locator("iframe.pdf").get_attribute("src")
    assert source and source.endswith("/contenu")
    served = await page.request.get(f"{live_server}{source}")
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["content-type"] == "application/pdf"
    await page.wait_for_timeout(1000)  # let the viewer paint before the screenshot
    await shots(page, "pro-document")
    document_path = page.url.removeprefix(live_server)

    await page.goto(f"{live_server}/pro/mes-patients")
    await shots(page, "pro-my-patients")
    # The professional's pages in French and English, desktop and phone.
    dossier = "/pro/dossiers/" + document_path.split("/")[3]
    problems = await survey(
        page.context,
        live_server,
        [
            ("pro-home", "/pro"),
            ("pro-my-patients", "/pro/mes-patients"),
            ("pro-dossier", dossier),
            ("pro-documents", f"{dossier}/documents"),
            ("pro-deposit", f"{dossier}/depot"),
            ("pro-document", document_path),
            ("pro-signin", "/pro/connexion"),
        ],
        shots.folder,
    )
    assert problems == [], "\n".join(problems)

    # The patient, in her portal (another browser context: her own cookies).
    patient = await page.context.browser.new_context(locale="fr-FR")
    mine = await patient.new_page()
    login, one_time = PATIENT_LOGINS[f"{INS_NIR_TEST_OID}|{LEA.ins}"]
    await patient_first_sign_in(mine, live_server, login, one_time)
    await mine.goto(f"{live_server}/patient/documents")
    listed = mine.get_by_role("table", name="Documents de mon DMP")
    letter_link = listed.get_by_role("link", name="Lettre de liaison — sortie de test")
    await expect(letter_link).to_be_visible()
    await shots(mine, "patient-documents")
    await letter_link.click()
    await expect(mine.get_by_role("heading", level=1)).to_have_text(
        "Lettre de liaison — sortie de test"
    )
    await expect(mine.locator("iframe.pdf")).to_be_visible()
    await mine.wait_for_timeout(1000)
    await shots(mine, "patient-letter")
    await patient.close()


async def test_a_pharmacist_cannot_see_a_psychiatric_synthesis(
    live_server: str, browser_page: Any, shots: Shots
) -> None:
    from playwright.async_api import expect

    page = browser_page
    await sign_in_and_open(page, live_server, "DEMO-PHARMACIEN Luc", CAMILLE.ins)
    await page.get_by_role("link", name="Consulter les documents").click()
    await page.get_by_role("link", name="Voir tous les documents, archivés compris").click()
    await expect(page.get_by_role("link", name="Dispensation médicamenteuse")).to_be_visible()
    await expect(page.get_by_role("link", name="Synthèse psychiatrique")).to_have_count(0)
    await shots(page, "pro-pharmacist")


async def test_a_blocked_professional_is_refused(
    live_server: str, server_settings: Settings, browser_page: Any, shots: Shots
) -> None:
    from playwright.async_api import expect

    async def block_nurse(ctx: ServiceContext) -> bool:
        ins = parse_ins(CAMILLE.ins, INS_NIR_TEST_OID)
        return await access.block(
            ctx, actor=Patient(ins=str(ins)), ins=ins, professional_idnat=PRO["nurse"].idnat
        )

    assert on_server_database(server_settings, block_nurse)
    page = browser_page
    await sign_in_and_open(page, live_server, "DEMO-INFIRMIERE Rose", CAMILLE.ins)
    await expect(page.locator("#access-state")).to_have_attribute("data-state", "INTERDIT")
    await page.goto(page.url + "/documents")
    await expect(page.get_by_role("alert")).to_contain_text("Le patient vous a bloqué(e)")
    await expect(page.get_by_role("button", name="Ouvrir l'accès d'urgence")).to_have_count(0)
    await shots(page, "pro-blocked")


async def test_a_break_glass_access_is_in_the_history_and_e_mailed(
    live_server: str,
    server_settings: Settings,
    browser_page: Any,
    shots: Shots,
    smtp: SmtpServer,
) -> None:
    from playwright.async_api import expect

    page = browser_page
    await sign_in_and_open(page, live_server, "DEMO-KINE Marc", LEA.ins)
    await page.get_by_label("Bris de glace").check()
    await page.get_by_role("button", name="Ouvrir l'accès d'urgence").click()
    # No justification: refused, nothing opened.
    await expect(page.get_by_role("alert")).to_contain_text("exige une justification écrite")
    await page.get_by_label("Justification").fill("Patiente inconsciente aux urgences")
    await page.get_by_role("button", name="Ouvrir l'accès d'urgence").click()
    banner = page.locator("#emergency-banner")
    await expect(banner).to_contain_text("Accès en mode bris de glace.")
    await expect(banner.locator("svg")).to_have_count(1)
    await shots(page, "pro-break-glass")

    async def history(ctx: ServiceContext) -> list[tuple[str, str, str]]:
        ins = parse_ins(LEA.ins, INS_NIR_TEST_OID)
        entries = await documents.read_history(ctx, actor=Patient(ins=str(ins)), ins=ins)
        return [(e.action, e.access_mode, e.outcome) for e in entries]

    events = on_server_database(server_settings, history)
    assert ("access:emergency:open", "break-glass", "success") in events
    assert ("access:emergency:open", "break-glass", "denied") in events
    assert ("document:document:search", "break-glass", "success") in events

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(LEA.email in rcpt for rcpt in smtp.inbox.recipients):
            break
        await asyncio.sleep(0.2)
    assert any(LEA.email in rcpt for rcpt in smtp.inbox.recipients), smtp.inbox.recipients
    message = next(
        msg
        for msg, rcpt in zip(smtp.inbox.messages, smtp.inbox.recipients, strict=True)
        if LEA.email in rcpt
    )
    assert "Inconsciente" not in body_of(message) and "inconsciente" not in body_of(message)
