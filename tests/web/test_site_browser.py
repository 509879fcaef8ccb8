"""A new user in a real browser (Debian's Chromium driven by Playwright), against a demo
server with its built-in mailbox (a real SMTP server on loopback, the in-process outbox
worker delivering to it; ``notify.demo_mailbox``), as the README tells them:

1. from ``/`` to online creation; the e-mailed code is read at ``/demo/mails``; the DMP is
   created, the first sign-in enrols a TOTP app (the key survives a reload of the page);
2. the forgotten login comes back by e-mail; the e-mail address changes with a code sent to
   the new address;
3. every page the person can reach — public pages, the portal's pages, a 404 — is surveyed
   in French and English, on a desktop and a 390 px phone: full-page screenshots in
   ``test-artifacts/screenshots/<test name>/``, no serious or critical axe-core violation,
   no page wider than the screen (``browser_support.survey``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from opendmp.config import Settings
from opendmp.devtools.demo import OTHER_PEOPLE, vitale_serial_of
from opendmp.notify.demo_mailbox import DemoMailbox, list_mails
from tests.web.browser_support import (
    NEW_PASSWORD,
    Shots,
    chromium,
    demo_server,
    demo_settings,
    survey,
)

SACHA = OTHER_PEOPLE[2]  # DEMO-ENLIGNE Sacha: an adult without a DMP
EMAIL = "sacha.enligne@example.org"
NEW_EMAIL = "sacha.nouvelle@example.org"


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[DemoMailbox]:
    box = DemoMailbox(tmp_path / "home").start()
    yield box
    box.stop()


@pytest.fixture
def server_settings(tmp_path: Path, mailbox: DemoMailbox) -> Settings:
    return demo_settings(
        tmp_path,
        run_worker_in_process=True,
        worker_interval_seconds=0.2,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
    )


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[str]:
    with demo_server(server_settings):
        yield server_settings.base_url


async def wait_for_mail(settings: Settings, to: str, subject: str, count: int = 1) -> None:
    """Until the mailbox holds ``count`` messages to ``to`` whose subject has ``subject``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [m for m in list_mails(settings.home) if to in m.to and subject in m.subject]
        if len(found) >= count:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"no e-mail {subject!r} to {to} in the demo mailbox")


async def open_latest_mail(page: Any, base: str, subject: str) -> str:
    """Open the newest message with ``subject`` from /demo/mails; returns its text."""
    from playwright.async_api import expect

    await page.goto(f"{base}/demo/mails")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("Boîte e-mail de démonstration|Demo mailbox")
    )
    await page.get_by_role("link", name=subject).first.click()
    body = page.locator("#mail-body")
    await expect(body).to_be_visible()
    return str(await body.inner_text())


async def create_online(page: Any, base: str, settings: Settings, shots: Shots) -> str:
    """From the landing page to a created DMP, the code read in the demo mailbox; returns
    the login shown."""
    from playwright.async_api import expect

    await page.goto(f"{base}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue sur OpenDMP")
    await expect(page.locator("main")).to_contain_text(SACHA.ins)  # the demo identities
    await shots(page, "landing")
    await page.get_by_role("link", name="Créer mon DMP en ligne").click()
    await expect(page).to_have_url(f"{base}/patient/creer")
    await page.locator("#f-ins").fill(SACHA.ins)
    await page.locator("#f-birth_name").fill(SACHA.birth_name)
    await page.locator("#f-given_names").fill(" ".join(SACHA.given))
    await page.locator("#f-birth_date").fill(SACHA.birth_date.isoformat())
    await page.get_by_label("Masculin" if SACHA.sex == "M" else "Féminin").check()
    await page.locator("#f-vitale_serial").fill(vitale_serial_of(SACHA.nir13))
    await page.locator("#f-email").fill(EMAIL)
    await shots(page, "create-identity")
    await page.locator("main form button[type=submit]").click()
    await expect(page).to_have_url(f"{base}/patient/creer/confirmer")

    await wait_for_mail(settings, EMAIL, "Code de vérification")
    mail = await page.context.new_page()
    text = await open_latest_mail(mail, base, "Code de vérification de votre adresse e-mail")
    await shots(mail, "mailbox-code")
    found = re.search(r"valable 15 minutes : ([0-9]{8})", text)
    assert found, text
    await mail.close()

    await page.locator("#f-code").fill(found.group(1))
    await page.locator("#f-consent").check()
    await page.locator("#f-password").fill(NEW_PASSWORD)
    await page.locator("#f-password_confirm").fill(NEW_PASSWORD)
    await page.locator("main form button[type=submit]").click()
    status = page.get_by_role("status")
    await expect(status).to_contain_text("Votre identifiant de connexion")
    await shots(page, "created")
    login = re.search(r"identifiant de connexion : ([A-Za-z0-9]+)", await status.inner_text())
    assert login
    return login.group(1)


async def first_sign_in(page: Any, base: str, login: str, shots: Shots) -> None:
    """Sign in with the chosen password; enrol TOTP — the key shown does not change when
    the page is reloaded (a QR code scanned before a reload stays good)."""
    from playwright.async_api import expect

    await page.goto(f"{base}/patient")
    await page.locator("#f-login").fill(login)
    await page.locator("#f-password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(f"{base}/patient/double-authentification")
    secret = await page.locator("#totp-secret").get_attribute("data-secret")
    await page.reload()
    assert await page.locator("#totp-secret").get_attribute("data-secret") == secret
    assert secret
    await shots(page, "totp-enrolment")
    await page.locator("#f-code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Activer").click()
    await expect(page).to_have_url(f"{base}/patient?fait=totp")


async def test_a_new_user_creates_a_dmp_online_with_the_demo_mailbox(
    live_server: str, server_settings: Settings, shots: Shots
) -> None:
    from playwright.async_api import expect

    base = live_server
    async with chromium() as browser:
        context = await browser.new_context(locale="fr-FR")
        page = await context.new_page()
        login = await create_online(page, base, server_settings, shots)
        await first_sign_in(page, base, login, shots)

        # Mon compte: the address changes once the code sent to the new one is typed.
        await page.goto(f"{base}/patient/compte")
        await expect(page.locator("#current-email")).to_have_text(EMAIL)
        await page.get_by_label("Nouvelle adresse e-mail").fill(NEW_EMAIL)
        await page.get_by_role("button", name="Envoyer un code à cette adresse").click()
        await expect(page.get_by_role("status")).to_contain_text("un code a été envoyé")
        await page.get_by_label("Code reçu par e-mail").fill("00000000")
        await page.get_by_role("button", name="Confirmer la nouvelle adresse").click()
        await expect(page.get_by_role("alert")).to_contain_text("code")
        await expect(page.locator("#current-email")).to_have_text(EMAIL)  # unchanged
        await wait_for_mail(server_settings, NEW_EMAIL, "nouvelle adresse")
        mail = await context.new_page()
        text = await open_latest_mail(mail, base, "Code de confirmation de votre nouvelle")
        await mail.close()
        code = re.search(r"valable 15 minutes : ([0-9]{8})", text)
        assert code, text
        await page.get_by_label("Code reçu par e-mail").fill(code.group(1))
        await page.get_by_role("button", name="Confirmer la nouvelle adresse").click()
        await expect(page.get_by_role("status")).to_contain_text("adresse e-mail a été changée")
        await expect(page.locator("#current-email")).to_have_text(NEW_EMAIL)
        await shots(page, "account-email-changed")

        problems = await survey(context, base, _portal_pages(), shots.folder)

        # Forgotten login (signed out, another browser): sent to the account's address.
        visitor = await browser.new_context(locale="fr-FR")
        anonymous = await visitor.new_page()
        await anonymous.goto(f"{base}/patient/connexion")
        await anonymous.get_by_role("link", name="Identifiant oublié ?").click()
        await anonymous.get_by_label("Adresse e-mail").fill(NEW_EMAIL)
        await anonymous.get_by_role("button", name="Recevoir mon identifiant").click()
        await expect(anonymous.locator("#reminder-sent")).to_be_visible()
        await wait_for_mail(server_settings, NEW_EMAIL, "Votre identifiant DMP")
        text = await open_latest_mail(anonymous, base, "Votre identifiant DMP")
        assert f"Votre identifiant : {login}" in text
        await shots(anonymous, "mailbox-login-reminder")
        problems += await survey(visitor, base, _public_pages(), shots.folder)
    assert problems == [], "\n".join(problems)


def _public_pages() -> list[tuple[str, str]]:
    return [
        ("landing", "/"),
        ("mailbox", "/demo/mails"),
        ("patient-signin", "/patient/connexion"),
        ("login-reminder", "/patient/identifiant-oublie"),
        ("password-reset", "/patient/mot-de-passe-oublie"),
        ("create", "/patient/creer"),
        ("pro-signin", "/pro/connexion"),
        ("not-found", "/cette-page-n-existe-pas"),
    ]


def _portal_pages() -> list[tuple[str, str]]:
    return [
        ("home", "/patient"),
        ("documents", "/patient/documents"),
        ("upload", "/patient/documents/ajouter"),
        ("history", "/patient/historique"),
        ("professionals", "/patient/professionnels"),
        ("choices", "/patient/choix"),
        ("account", "/patient/compte"),
        ("record", "/patient/dossier"),
    ]
