"""Issue 15, item 8, over ASGI on both databases: the export a person can use — every
document as a PDF to read (a level 1's embedded PDF, a level 3's narrative rendered), an
index page, the history with names and Paris times with their offset — also from a closed
record (and only for the patient); the download buttons say what the file is."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from html import unescape

import httpx
from pypdf import PdfReader

from opendmp.domain.actors import LegalRepresentative, Patient
from opendmp.domain.policy import Action, Facts, decide
from opendmp.domain.records import RecordStatus
from opendmp.services.core.context import ServiceContext
from tests.conftest import Clock
from tests.factories import make_professional
from tests.web.test_patient_portal import (
    HOSTILE_CDA,
    PASSWORD,
    PDF,
    deposit,
    post_page,
    signed_in,
)

LEVEL_1 = (
    '<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody>'
    '<text mediaType="application/pdf" representation="B64">'
    + base64.b64encode(PDF).decode()
    + "</text></nonXMLBody></component></ClinicalDocument>"
).encode()


LEVEL_3_METADATA = {"mime_type": "text/xml", "format_code": "urn:asip:ci-sis:ldl-ses:2017"}


def _zip(response: httpx.Response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.text[-2000:]
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


async def test_the_export_holds_pdfs_to_read_an_index_and_a_named_history(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    level1 = await deposit(ctx, account, title="Lettre CDA", content=LEVEL_1, mime_type="text/xml")
    clock.advance(minutes=1)  # the archive's order is the deposits'
    level3 = await deposit(ctx, account, "CR structuré", HOSTILE_CDA, **LEVEL_3_METADATA)
    clock.advance(minutes=1)
    plain = await deposit(ctx, account, title="Compte rendu PDF")

    with _zip(await post_page(client, "/patient/dossier", "/patient/dossier/export", {})) as zf:
        names = zf.namelist()
        index = zf.read("index.html").decode()
        readable = {name: zf.read(name) for name in names if name.startswith("pdf/")}
        history = list(csv.DictReader(io.StringIO(zf.read("history.csv").decode("utf-8-sig"))))

    assert sorted(readable) == ["pdf/0001-lettre-cda.pdf", "pdf/0002-cr-structure.pdf"]
    assert readable["pdf/0001-lettre-cda.pdf"] == PDF  # the embedded PDF itself
    narrative = readable["pdf/0002-cr-structure.pdf"]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(narrative)).pages)
    assert "MOTIF" in text and "cellule" in text and "alert(2)" not in text
    # The index: every document, its PDF to read, its stored file; nothing that runs.
    for doc in (level1, level3, plain):
        assert unescape(doc.title) in unescape(index)
    assert 'href="pdf/0001-lettre-cda.pdf"' in index
    assert f'href="documents/0003-{plain.id}.pdf"' in index  # a stored PDF is its own copy
    assert "<script" not in index.lower() and "&lt;script&gt;" not in index
    assert "(UTC+01:00)" in index  # 1 March: Paris is UTC+1
    # The history: names, never the INS as "who"; Paris time with its offset.
    mine = [row for row in history if row["who_kind"] == "patient"]
    assert mine and {row["who"] for row in mine} == {"Alex FICTIF"}
    assert all(account.ins.value not in row["who"] for row in history)
    assert all(row["time"].endswith("+01:00") for row in history)
    read = [row for row in history if row["action"] == "document:document:deposit"]
    assert {row["document"] for row in read} >= {"Lettre CDA", "CR structuré"}


async def test_a_closed_record_is_exported_until_its_destruction_and_only_by_the_patient(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    await deposit(ctx, account, title="Avant fermeture")
    closed = await post_page(
        client,
        "/patient/dossier",
        "/patient/dossier/fermer",
        {"password": PASSWORD, "confirm": "yes", "text": ""},
    )
    assert closed.status_code == 303
    page = await client.get("/patient/dossier")
    assert "/patient/dossier/export" in page.text
    assert "jusqu'à sa destruction" in unescape(page.text)
    with _zip(await post_page(client, "/patient/dossier", "/patient/dossier/export", {})) as zf:
        assert "index.html" in zf.namelist()
        assert any(name.startswith("documents/") for name in zf.namelist())
    # The policy: the patient only, closed included; never once destroyed.
    patient = Patient(ins="1.2.250.1.213.1.4.8|1")
    closed_facts = Facts(record_status=RecordStatus.CLOSED, is_subject=True)
    assert decide(patient, Action.EXPORT, closed_facts).allowed
    representative = LegalRepresentative("r", patient.ins, "MTH")
    assert not decide(
        representative, Action.EXPORT, Facts(RecordStatus.CLOSED, is_representative=True)
    ).allowed
    assert not decide(make_professional(5), Action.EXPORT, closed_facts).allowed
    destroyed = Facts(record_status=RecordStatus.DESTROYED, is_subject=True)
    assert not decide(patient, Action.EXPORT, destroyed).allowed
    # Still nothing else of a closed record: its documents stay closed.
    assert (await client.get("/patient/documents")).status_code == 403


async def test_download_buttons_say_what_the_file_is(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    level1 = await deposit(ctx, account, title="Lettre CDA", content=LEVEL_1, mime_type="text/xml")
    page = unescape((await client.get(f"/patient/documents/{level1.id}")).text)
    assert "Télécharger le PDF qu'il contient" in page
    assert "Télécharger le document tel qu'il est conservé (fichier CDA XML" in page
    plain = await deposit(ctx, account, title="Compte rendu PDF")
    page = unescape((await client.get(f"/patient/documents/{plain.id}")).text)
    assert "tel qu'il est conservé (PDF," in page
