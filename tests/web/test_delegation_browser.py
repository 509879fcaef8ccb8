"""Issue 16, item 2, in a real browser (Debian's Chromium driven by Playwright) against a demo
server: Camille (in French) invites Jules as caregiver with the right to read her documents;
Jules (in English) opens the e-mail's link, signs in with his own account, accepts, switches
to her record and reads her documents, but is offered neither her choices nor her record's
closure, and is refused them; Camille's history names him "on your behalf"; she revokes, and
Jules's open session loses her record at its next page. Screenshots (FR/EN, desktop and
390 px) go to ``test-artifacts/screenshots/<test name>/``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from opendmp.config import Settings
from opendmp.domain.local_time import paris_date
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.web.browser_support import (
    Shots,
    chromium,
    demo_settings,
    on_server_database,
    patient_first_sign_in,
    survey,
)
from tests.web.browser_support import demo_server as serve_demo

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
JULES_EMAIL = "jules.aidant@example.org"


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return demo_settings(tmp_path)


@pytest.fixture
def demo_server(server_settings: Settings) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    with serve_demo(server_settings) as summary:
        logins = [(login, password) for _n, _i, login, password in summary.patient_logins]
        yield server_settings.base_url, logins


async def invitation_link(ctx: ServiceContext) -> str:
    """The link of the invitation e-mail, as the demo mailbox would show it."""
    async with ctx.sessions() as session:
        payload = (
            await session.execute(
                select(m.Outbox.payload).where(m.Outbox.kind == "delegation-invitation")
            )
        ).scalar_one()
    return str(json.loads(payload)["link"])


async def phone_shot(page: Any, shots: Shots, name: str) -> None:
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    await shots(page, f"{name}-390")
    await page.set_viewport_size(DESKTOP)


async def test_invite_accept_act_and_revoke_a_caregiver(
    demo_server: tuple[str, list[tuple[str, str]]],
    server_settings: Settings,
    shots: Shots,
) -> None:
    from playwright.async_api import expect

    base, logins = demo_server
    (camille_login, camille_otp), (jules_login, jules_otp) = logins[0], logins[1]
    today = paris_date(dt.datetime.now(dt.UTC))
    async with chromium() as browser:
        # Camille, in French, invites Jules to read her documents for a month.
        camille_ctx = await browser.new_context(locale="fr-FR", viewport=DESKTOP)
        camille = await camille_ctx.new_page()
        await patient_first_sign_in(camille, base, camille_login, camille_otp)
        await camille.get_by_role("navigation").get_by_role("link", name="Mes aidants").click()
        await expect(camille.get_by_role("heading", level=1)).to_have_text("Mes aidants")
        await camille.locator("#f-email").fill(JULES_EMAIL)
        await camille.get_by_label("gérer les choix (accès, blocages, urgences)").uncheck()
        await camille.locator("#f-to").fill((today + dt.timedelta(days=30)).isoformat())
        await camille.get_by_role("button", name="Envoyer l'invitation").click()
        await expect(camille).to_have_url(f"{base}/patient/aidants?fait=invited")
        table = camille.get_by_role("table", name="Délégations de votre dossier")
        await expect(table).to_contain_text(JULES_EMAIL)
        await expect(table).to_contain_text("Invitation en attente")
        await shots(camille, "fr-invited-desktop")
        await phone_shot(camille, shots, "fr-invited")

        # Jules, in English, opens the link: first his own sign-in, then the invitation.
        link = on_server_database(server_settings, invitation_link)
        jules_ctx = await browser.new_context(locale="en-GB", viewport=DESKTOP)
        jules = await jules_ctx.new_page()
        await patient_first_sign_in(jules, base, jules_login, jules_otp)
        await jules.get_by_role("link", name="English").click()
        await jules.goto(link)
        await expect(jules.locator("#invitation-from")).to_contain_text(
            "Camille FICTIVE invites you to become their caregiver"
        )
        await expect(jules.locator("dl")).to_contain_text("read the documents")
        await shots(jules, "en-invitation-desktop")
        await phone_shot(jules, shots, "en-invitation")
        await jules.get_by_role("button", name="Accept").click()
        await expect(jules).to_have_url(f"{base}/patient/aidants?fait=invitation-accepted")
        held = jules.locator("#held")
        await expect(held).to_contain_text("Camille FICTIVE")
        await held.get_by_role("button", name="Act for this person").click()

        # On Camille's record: her documents, none of her choices, nor her record's closure.
        await expect(jules).to_have_url(f"{base}/patient")
        await expect(jules.locator("#acting-banner")).to_contain_text(
            "You are acting on behalf of Camille FICTIVE"
        )
        await expect(jules.get_by_role("heading", level=1)).to_contain_text("Camille FICTIVE")
        menu = jules.get_by_role("navigation")
        await expect(menu.get_by_role("link", name="My documents")).to_be_visible()
        for hidden in ("My choices", "My record", "My caregivers"):
            await expect(menu.get_by_role("link", name=hidden)).to_have_count(0)
        await shots(jules, "en-acting-home-desktop")
        await phone_shot(jules, shots, "en-acting-home")
        await menu.get_by_role("link", name="My documents").click()
        await expect(jules.get_by_role("table").first).to_be_visible()
        await shots(jules, "en-acting-documents-desktop")
        refused = await jules.goto(f"{base}/patient/choix")
        assert refused is not None and refused.status == 403
        await expect(jules.locator("main")).to_contain_text("did not give you this right")
        await shots(jules, "en-choices-refused")

        # Every new page in French and English, desktop and phone: axe-core and width.
        invitation_path = "/" + link.split("://", 1)[1].split("/", 1)[1]
        problems = await survey(
            camille_ctx, base, [("delegations", "/patient/aidants")], shots.folder
        )
        problems += await survey(
            jules_ctx,
            base,
            [("acting-home", "/patient"), ("invitation", invitation_path)],
            shots.folder,
        )
        assert problems == []

        # Camille's history names him, on her behalf; she revokes.
        await camille.goto(f"{base}/patient/historique?vues=1")
        history = camille.get_by_role("table", name="Événements de mon DMP")
        await expect(history).to_contain_text("(aidant), en votre nom")
        await shots(camille, "fr-history-desktop")
        await phone_shot(camille, shots, "fr-history")
        await camille.goto(f"{base}/patient/aidants")
        await table.get_by_role("button", name="Révoquer").click()
        await expect(camille).to_have_url(f"{base}/patient/aidants?fait=delegation-revoked")
        await expect(table).to_contain_text("Révoquée")
        await shots(camille, "fr-revoked-desktop")

        # Jules's open session: Camille's record is gone at the next page.
        await jules.goto(f"{base}/patient/documents")
        await expect(jules.locator("#acting-banner")).to_have_count(0)
        await jules.goto(f"{base}/patient")
        await expect(jules.get_by_role("heading", level=1)).not_to_contain_text("Camille")
        await shots(jules, "en-after-revocation-desktop")
        await jules_ctx.close()
        await camille_ctx.close()
