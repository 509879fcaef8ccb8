"""Names from the directory (services/directory/search.py ``directory_names``) where an
event or a document carries only an identifier, over ASGI on the demo data (which loads the
synthetic RPPS extract, data/rpps-demo.txt): the professional portal names a colleague who
authored a document without a name, and the patient's history names the professional an
authorisation or a block was about."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from opendmp.devtools.demo import PATIENTS, PROFESSIONALS, seed_demo
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services import documents
from opendmp.services.access import authorisations as access
from opendmp.services.core.context import ServiceContext
from opendmp.services.records.history import read_history
from tests.factories import patient_actor, submission
from tests.web.test_pro_portal import open_patient, sign_in

PRO = {p.key: p.actor for p in PROFESSIONALS}
CAMILLE = parse_ins(PATIENTS[0].ins, INS_NIR_TEST_OID)


@pytest.fixture(autouse=True)
async def demo(web_app: object, ctx: ServiceContext) -> None:
    await seed_demo(ctx)


async def test_a_colleague_who_signed_without_a_name_is_named_by_the_directory(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    unnamed_nurse = dataclasses.replace(PRO["nurse"], name=None)
    await documents.deposit_document(
        ctx,
        actor=unnamed_nurse,
        ins=CAMILLE,
        submission=submission(ctx.now(), title="Transmissions infirmières"),
    )
    await sign_in(client, "gp")
    base = await open_patient(client, PATIENTS[0].ins)
    page = await client.get(f"{base}/documents", params={"tout": "1"})
    assert page.status_code == 200, page.text
    row = page.text.split("Transmissions infirmières", 1)[1].split("</tr>", 1)[0]
    assert "DEMO-INFIRMIERE Rose" in row and PRO["nurse"].idnat not in row


async def test_the_history_names_whom_an_authorisation_or_a_block_was_about(
    ctx: ServiceContext,
) -> None:
    physio = PRO["physio"].idnat
    await access.authorize_professional(
        ctx, actor=patient_actor(CAMILLE), ins=CAMILLE, professional_idnat=physio
    )
    await access.block(ctx, actor=patient_actor(CAMILLE), ins=CAMILLE, professional_idnat=physio)
    entries = await read_history(ctx, actor=patient_actor(CAMILLE), ins=CAMILLE)
    about = [(e.action, e.subject_name) for e in entries if e.subject_idnat == physio]
    assert about == [
        ("access:professional:block", "DEMO-KINE Marc"),
        ("access:authorization:grant", "DEMO-KINE Marc"),
    ]
