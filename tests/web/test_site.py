"""Around the portals, over ASGI on the test database: the landing page at ``/`` (and its
demo identities in demo mode only), HTML error pages (404, 405, 500) in the page's language
everywhere but the APIs (OperationOutcome under /fhir, SOAP under /xds), the demo mailbox
(demo mode only: 404 otherwise; a real SMTP delivery lands in it; links clickable, HTML
escaped), the professional sign-in landing each on their own portal, role labels in
English, and French error messages free of English developer text."""

from __future__ import annotations

import re
import smtplib
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, create_app
from opendmp.config import load_settings
from opendmp.devtools.demo import OTHER_PEOPLE, PATIENTS, seed_demo
from opendmp.notify.demo_mailbox import DemoMailbox, list_mails, mailbox_folder
from opendmp.notify.smtp import SmtpSender
from opendmp.services.core.context import ServiceContext
from tests.web.conftest import csrf_of, sign_in

CSP = "default-src 'self'"
# Words of the services' developer messages ("IdNat_PS prefix '1' is not known (expected
# 8 for RPPS …)", "the file is named .pdf but is not a PDF document"): none may reach a
# French page.
ENGLISH = re.compile(r"\b(the|is|not|known|expected|must|prefix|file|named|document)\b")


def alert_text(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert found, "no alert on the page"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip()


async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        yield client


@pytest.fixture
async def development(
    ctx: ServiceContext, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The same app in development mode (no demo): no demo section, no mailbox."""
    settings = load_settings(
        home=tmp_path, mode="development", cookie_secure=False, run_worker_in_process=False
    )
    async for client in asgi_client(create_app(settings, Runtime(settings, engine, ctx))):
        yield client


# --- landing page -----------------------------------------------------------------------------


async def test_the_landing_page_links_every_portal_and_in_demo_mode_the_identities(
    client: httpx.AsyncClient, development: httpx.AsyncClient
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith(CSP)
    for href in ('href="/patient"', 'href="/patient/creer"', 'href="/pro"', 'href="/accueil"'):
        assert href in page.text
    assert 'href="/demo/mails"' in page.text
    assert "DEMO-GENERALISTE Paul" in page.text and "médecin généraliste" in page.text
    assert OTHER_PEOPLE[2].ins in page.text  # someone online creation can open a DMP for

    english = await client.get("/", cookies={"opendmp_lang": "en"})
    assert "Welcome to OpenDMP" in english.text and "general practitioner" in english.text

    plain = await development.get("/")
    assert plain.status_code == 200 and 'href="/pro"' in plain.text
    assert "/demo/mails" not in plain.text and OTHER_PEOPLE[2].ins not in plain.text


# --- error pages ------------------------------------------------------------------------------


async def test_unknown_paths_answer_an_html_page_except_under_the_apis(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/nulle-part", "/patient/nulle-part", "/pro/dossiers/x/y/z", "/demo/x"):
        page = await client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert page.headers["content-security-policy"].startswith(CSP)
        assert "Page introuvable" in page.text and '<html lang="fr">' in page.text
    english = await client.get("/nulle-part", cookies={"opendmp_lang": "en"})
    assert "Page not found" in english.text and '<html lang="en">' in english.text

    fhir = await client.get("/fhir/NoSuchType")
    assert fhir.status_code == 404
    assert fhir.json()["resourceType"] == "OperationOutcome"
    xds = await client.get("/xds/nowhere")
    assert xds.status_code == 404 and "text/html" not in xds.headers["content-type"]
    probe = await client.get("/healthz/x")
    assert probe.status_code == 404 and probe.headers["content-type"] == "application/json"

    wrong_method = await client.delete("/patient/connexion")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("text/html")
    assert "allow" in wrong_method.headers


async def test_an_unexpected_error_is_a_page_with_an_incident_number_and_no_trace(
    web_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @web_app.get("/patient/panne-de-test")
    async def broken() -> None:
        raise RuntimeError(" ".join(("secret", "detail")))  # the log shows code lines only

    async for client in asgi_client(web_app):
        page = await client.get("/patient/panne-de-test")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith(CSP)
    text = unescape(page.text)
    assert "Erreur du service" in text and "rien n'a été modifié" in text
    assert "secret detail" not in page.text and "RuntimeError" not in page.text
    incident = re.search(r"Numéro d'incident \(à donner au support\) : ([0-9a-f]{32})", text)
    assert incident and incident.group(1) in caplog.text
    assert "secret detail" not in caplog.text


# --- demo mailbox -----------------------------------------------------------------------------


async def test_the_demo_mailbox_shows_what_smtp_delivered_and_only_in_demo_mode(
    client: httpx.AsyncClient, development: httpx.AsyncClient, web_app: FastAPI
) -> None:
    home = web_app.state.runtime.settings.home
    assert (await client.get("/demo/mails")).status_code == 200
    box = DemoMailbox(home).start()
    try:
        sender = SmtpSender("127.0.0.1", box.port, "dmp@example.test")
        body = "Votre code : 12345678\nSuivez https://dmp.example.test/patient/creer.\n<b>x</b>"
        await sender.send("1" * 32, "alix@example.org", "Code de vérification", body)
    finally:
        box.stop()
    assert oct(mailbox_folder(home).stat().st_mode & 0o777) == "0o700"
    [mail] = list_mails(home)
    assert oct((mailbox_folder(home) / f"{mail.id}.eml").stat().st_mode & 0o777) == "0o600"

    listing = await client.get("/demo/mails")
    assert f'href="/demo/mails/{mail.id}"' in listing.text and "alix@example.org" in listing.text
    shown = await client.get(f"/demo/mails/{mail.id}")
    assert shown.status_code == 200 and "Votre code : 12345678" in shown.text
    link = "https://dmp.example.test/patient/creer"
    assert f'<a href="{link}">{link}</a>.' in shown.text  # the final dot is not in the link
    assert "<b>x</b>" not in shown.text and "&lt;b&gt;x&lt;/b&gt;" in shown.text
    other = mail.id[:-1] + ("0" if mail.id[-1] != "0" else "1")
    for wrong in ("..%2F..%2Fkeys", "x" * 40, other):
        assert (await client.get(f"/demo/mails/{wrong}")).status_code == 404

    assert (await development.get("/demo/mails")).status_code == 404
    assert (await development.get(f"/demo/mails/{mail.id}")).status_code == 404


def test_the_demo_mailbox_refuses_nothing_and_keeps_each_message(tmp_path: Path) -> None:
    box = DemoMailbox(tmp_path).start()
    try:
        with smtplib.SMTP("127.0.0.1", box.port, timeout=10) as smtp:
            for n in range(3):
                smtp.sendmail("a@example.test", [f"p{n}@example.org"], f"Subject: m{n}\n\nx")
    finally:
        box.stop()
    assert [m.subject for m in list_mails(tmp_path)] == ["m2", "m1", "m0"]  # newest first


# --- professional sign-in and wording ---------------------------------------------------------


async def test_each_signs_in_to_their_own_portal(client: httpx.AsyncClient) -> None:
    for who, home in (("gp", "/pro"), ("desk", "/accueil")):
        page = await client.get("/pro/connexion")
        response = await client.post(
            "/pro/connexion/demo", data={"csrf_token": csrf_of(page.text), "who": who, "next": ""}
        )
        assert response.status_code == 303 and response.headers["location"] == home, who
        client.cookies.clear()
    english = await client.get("/pro/connexion", cookies={"opendmp_lang": "en"})
    assert "general practitioner" in english.text and "admission clerk" in english.text
    assert "médecin généraliste" not in english.text


@pytest.fixture
async def seeded(ctx: ServiceContext, client: httpx.AsyncClient) -> httpx.AsyncClient:
    await seed_demo(ctx)
    return client


async def test_french_errors_carry_no_english_developer_text(
    seeded: httpx.AsyncClient,
) -> None:
    client = seeded
    await sign_in(client, "gp")
    home = await client.get("/pro")
    found = await client.post(
        "/pro/recherche", data={"csrf_token": csrf_of(home.text), "ins": PATIENTS[0].ins}
    )
    base = found.headers["location"]
    dossier = await client.get(base)
    assert 'data-state="VALIDE">valide<' in dossier.text  # the raw code is never shown
    form = await client.get(f"{base}/depot")
    not_a_pdf = await client.post(
        f"{base}/depot",
        data={"csrf_token": csrf_of(form.text), "type_code": "11490-0", "title": "Lettre"},
        files={"file": ("lettre.pdf", b"plain text, no PDF", "application/pdf")},
    )
    assert not_a_pdf.status_code == 422
    messages = [alert_text(not_a_pdf.text)]
    # The alert comes after the patient's navigation.
    assert not_a_pdf.text.index('class="subnav"') < not_a_pdf.text.index(
        'role="alert" id="problem"'
    )

    bad_ins = await client.post(
        "/pro/recherche", data={"csrf_token": csrf_of(home.text), "ins": "1234"}
    )
    assert bad_ins.status_code == 422
    messages.append(alert_text(bad_ins.text))
    for message in messages:
        assert message and not ENGLISH.search(message), message
