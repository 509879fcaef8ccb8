"""What the browser tests share: where their screenshots go, and the patient's first
sign-in in the portal (one-time password → new password → TOTP enrolment).

Screenshots are written to ``test-artifacts/screenshots/<test name>/`` at the repository
root (ignored by git; CI may keep the folder as an artifact). Each test's folder is emptied
when the test starts, so it always shows the last run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pyotp

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
NEW_PASSWORD = "une phrase de passe fictive"


def screenshot_folder(test_name: str) -> Path:
    """``test-artifacts/screenshots/<test name>/``, created empty."""
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class Shots:
    """Numbered full-page screenshots of one test, in its own folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    async def __call__(self, page: Any, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        await page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path

    def report(self) -> None:
        print(f"\nscreenshots ({len(self.taken)}): {self.folder}")


async def patient_first_sign_in(
    page: Any,
    base: str,
    login: str,
    one_time: str,
    *,
    shots: Shots | None = None,
    password: str = NEW_PASSWORD,
) -> str:
    """Sign in with the letter's one-time password, choose ``password``, enrol a TOTP app
    (the code computed with pyotp from the key shown for manual entry); ends on the portal's
    home page. Returns the TOTP secret."""
    from playwright.async_api import expect

    await page.goto(f"{base}/patient")
    await expect(page).to_have_url(f"{base}/patient/connexion?next=/patient")
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await page.locator("#f-login").fill(login)
    await page.locator("#f-password").fill(one_time)
    if shots:
        await shots(page, "patient-signin")
    await page.get_by_role("button", name="Se connecter").click()

    # First sign-in: the one-time password must be replaced.
    await expect(page).to_have_url(f"{base}/patient/mot-de-passe")
    await page.locator("#f-old_password").fill(one_time)
    await page.locator("#f-new_password").fill(password)
    await page.locator("#f-new_password_confirm").fill(password)
    if shots:
        await shots(page, "patient-new-password")
    await page.get_by_role("button", name="Enregistrer le mot de passe").click()

    # TOTP enrolment: a QR code, and the key for manual entry.
    await expect(page).to_have_url(f"{base}/patient/double-authentification")
    await expect(page.locator("figure.qr svg")).to_be_visible()
    secret = await page.locator("#totp-secret").get_attribute("data-secret")
    assert secret
    if shots:
        await shots(page, "patient-totp-enrolment")
    await page.locator("#f-code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Activer").click()
    await expect(page).to_have_url(f"{base}/patient?fait=totp")
    return str(secret)
