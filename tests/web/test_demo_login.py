"""``make demo`` prints a patient login that works in a browser: ``opendmp demo`` is started
as a user would (its own process, a fresh OPENDMP_HOME, a free port), the first patient
login and one-time password are read from what it prints, and Chromium signs in with them
(new password, TOTP enrolment) and lists her documents.

Chromium comes from the Debian package ``chromium``; without it the test is skipped,
except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo_process import opendmp_demo
from tests.notify.smtp_support import free_port
from tests.web.browser_support import Shots, chromium, patient_first_sign_in

PRINTED_LOGIN = re.compile(
    r"patient\s+(?P<name>[^:\n]+):\s+portal\s+(?P<url>\S+)\s+—\s+login\s+(?P<login>\S+),"
    r"\s+one-time\s+password\s+(?P<password>\S+)"
)


def _wait_for_login(log: Path, url: str, proc: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"opendmp demo exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        found = PRINTED_LOGIN.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return found
            except OSError:
                pass
        time.sleep(0.2)
    pytest.fail(f"opendmp demo printed no login in time:\n{log.read_text()[-3000:]}")


@pytest.fixture
def demo_output(tmp_path: Path) -> Iterator[tuple[str, re.Match[str]]]:
    home = tmp_path / "home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with log.open("wb") as out, opendmp_demo(home, port, out) as proc:
        yield url, _wait_for_login(log, url, proc)


async def test_the_login_printed_by_make_demo_works_in_a_browser(
    demo_output: tuple[str, re.Match[str]], shots: Shots
) -> None:
    from playwright.async_api import expect

    url, printed = demo_output
    assert printed["url"] == f"{url}/patient"
    async with chromium() as browser:
        page = await (await browser.new_context(locale="fr-FR")).new_page()
        await patient_first_sign_in(page, url, printed["login"], printed["password"], shots=shots)
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            f"Bonjour {printed['name'].strip()}"
        )
        await shots(page, "home")
        await page.goto(f"{url}/patient/documents")
        await expect(page.get_by_role("table", name="Documents de mon DMP")).to_be_visible()
        await shots(page, "documents")
