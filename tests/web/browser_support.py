"""What the browser tests share: Chromium (or the skip), a demo server of their own, where
their screenshots go, and the patient's first sign-in in the portal (one-time password →
new password → TOTP enrolment).

Chromium comes from the Debian package ``chromium`` (``/usr/bin/chromium``); ``playwright
install`` cannot download browsers here. Without it the tests are skipped, except in CI
(``CI=true``), where they fail: CI must install the package.

Screenshots are written to ``test-artifacts/screenshots/<test name>/`` at the repository
root (ignored by git; CI may keep the folder as an artifact). Each test's folder is emptied
when the test starts, so it always shows the last run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyotp
import pytest
import uvicorn

from opendmp.app import Runtime, build_runtime, create_app
from opendmp.config import Settings, load_settings
from opendmp.devtools.demo import DemoSummary, seed_demo
from opendmp.services.core.context import ServiceContext
from opendmp.storage.migrate import upgrade
from tests.notify.smtp_support import free_port

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
NEW_PASSWORD = "une phrase de passe fictive"


def browser_or_skip() -> None:
    """Skip the test without Chromium or Playwright (fail in CI)."""
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


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (Playwright's ``Browser``), closed when the block ends; skips the
    test without one (``browser_or_skip``)."""
    browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def demo_settings(tmp_path: Path, **overrides: object) -> Settings:
    """A demo-mode server's settings: its home in ``tmp_path``, a free loopback port."""
    fields: dict[str, object] = {
        "home": tmp_path / "home",
        "mode": "demo",
        "host": "127.0.0.1",
        "port": free_port(),
        "cookie_secure": False,
        "run_worker_in_process": False,
    }
    return load_settings(**(fields | overrides))


def on_server_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` on the server's home and database, in a loop of its own (a thread: the
    server opens its connections in its own loop)."""
    result: list[T] = []

    async def run() -> None:
        rt = build_runtime(settings, create_key=True)
        try:
            result.append(await work(rt))
        finally:
            await rt.close()

    thread = threading.Thread(target=lambda: asyncio.run(run()))
    thread.start()
    thread.join()
    assert result, "the call on the server's database failed (see the thread's traceback)"
    return result[0]


def on_server_database(settings: Settings, work: Callable[[ServiceContext], Awaitable[T]]) -> T:
    """Run service calls on the server's database (``on_server_runtime``)."""
    return on_server_runtime(settings, lambda rt: work(rt.ctx))


@contextlib.contextmanager
def demo_server(settings: Settings) -> Iterator[DemoSummary]:
    """``opendmp demo`` in miniature: migrate and seed the home, serve it in a thread until
    the block ends (at ``settings.base_url``); yields what the seed made (the demo
    patients' logins and one-time passwords, as their letters give them)."""

    async def prepare(rt: Runtime) -> DemoSummary:
        await upgrade(rt.engine)
        return await seed_demo(rt.ctx)

    summary = on_server_runtime(settings, prepare)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
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
        yield summary
    finally:
        server.should_exit = True
        thread.join(timeout=15)


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


# --- the visual and accessibility survey ----------------------------------------------------

AXE = ROOT / "tests" / "web" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
LANGUAGES = ("fr", "en")
SERIOUS = ("serious", "critical")


def axe_or_skip() -> str:
    """axe-core's script (``make axe`` installs it from npm); skips without it, except in
    CI (``CI=true``), where it fails."""
    if not AXE.exists():
        reason = f"the survey needs {AXE.relative_to(ROOT)}: run `make axe` (npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — CI must install it", pytrace=False)
        pytest.skip(reason)
    return AXE.read_text(encoding="utf-8")


async def _axe_problems(page: Any, script: str) -> list[str]:
    """The serious and critical violations axe-core finds on the page (WCAG 2.x A/AA)."""
    await page.add_script_tag(content=script)
    result = await page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"axe {v['id']} ({v['impact']}): {', '.join(v['nodes'][:3])}"
        for v in result
        if v["impact"] in SERIOUS
    ]


async def _width_problem(page: Any, width: int) -> str | None:
    """The page must fit the viewport: no horizontal scrolling of the whole page."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    if scroll <= width:
        return None
    wide = await page.evaluate(
        f"""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > {width} + 1
                    && !e.closest('.table-wrap'))
            .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                    + (e.className && typeof e.className == 'string' ? '.' + e.className : ''))"""
    )
    return f"{scroll} px wide at {width} px ({', '.join(wide)})"


async def survey(context: Any, base: str, pages: list[tuple[str, str]], folder: Path) -> list[str]:
    """Open each ``(name, path)`` with ``context``'s cookies (its session), in French and
    English, on a desktop and a 390 px phone: a full-page screenshot of each in ``folder``
    (``<lang>-<viewport>-<name>.png``), axe-core's serious and critical violations and any
    page wider than the screen. Returns the problems found (``[]`` when none). The axe
    script is injected with the page's CSP bypassed: in these survey contexts only."""
    script = axe_or_skip()
    state = await context.storage_state()
    host = base.split("//", 1)[1].split(":", 1)[0]
    problems: list[str] = []
    for lang in LANGUAGES:
        for label, viewport in VIEWPORTS.items():
            looker = await context.browser.new_context(
                storage_state=state, viewport=viewport, bypass_csp=True, locale=f"{lang}-FR"
            )
            cookie = {"name": "opendmp_lang", "value": lang, "domain": host, "path": "/"}
            await looker.add_cookies([cookie])
            page = await looker.new_page()
            for name, path in pages:
                await page.goto(f"{base}{path}")
                shot = folder / f"{lang}-{label}-{name}.png"
                await page.screenshot(path=shot, full_page=True)
                where = f"{lang} {label} {path}"
                problems += [f"{where}: {p}" for p in await _axe_problems(page, script)]
                wide = await _width_problem(page, viewport["width"])
                if wide:
                    problems.append(f"{where}: {wide}")
            await looker.close()
    return problems
