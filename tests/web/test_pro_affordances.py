"""Issue 15, item 6, over ASGI on the demo data: a document page offers exactly the actions
the policy allows (``services.documents.affordances``), and says "Votre document" only to
its author; under break-glass a colleague of the author's structure is told it is the
structure's document. Download links say what the file is."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx
import pytest
from sqlalchemy import select

from opendmp.devtools.demo import seed_demo
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.domain.policy import Action
from opendmp.services import documents
from opendmp.services.access.authorisations import declare_authorization
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.affordances import DOCUMENT_ACTIONS
from opendmp.services.documents.reads import read_document_for_page
from opendmp.storage import models as m
from tests.record_scope import whole_database
from tests.web.test_pro_portal import (
    CAMILLE,
    LEA,
    PRO,
    camille,
    open_patient,
    post,
    sign_in,
    upload,
)

FORMS = {
    Action.ARCHIVE_DOCUMENT: "/archiver",
    Action.SET_VISIBILITY: "/visibilite",
    Action.DELETE_DOCUMENT: "/supprimer",
    Action.REPLACE_DOCUMENT: "/depot?remplace=",
}


@pytest.fixture(autouse=True)
async def demo(web_app: object, ctx: ServiceContext) -> None:
    await seed_demo(ctx)


async def _midwifes_document(client: httpx.AsyncClient) -> None:
    await sign_in(client, "midwife")
    base = await open_patient(client, LEA.ins)
    deposited = await upload(client, base, title="Suivi de grossesse")
    assert deposited.status_code == 303, deposited.text
    client.cookies.clear()


async def _document_id(ctx: ServiceContext) -> str:
    async with ctx.uow() as uow:
        found = await uow.session.scalar(
            whole_database(select(m.Document.id).where(m.Document.title == "Suivi de grossesse"))
        )
    assert found is not None
    return str(found)


def offered(html: str) -> set[Action]:
    return {action for action, marker in FORMS.items() if marker in html}


async def test_under_break_glass_a_colleague_sees_the_structures_document_and_the_policys_actions(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await _midwifes_document(client)
    doc_id = await _document_id(ctx)
    ins = parse_ins(LEA.ins, INS_NIR_TEST_OID)

    # The author (authorised by the patient): "Votre document", what the policy allows her.
    await declare_authorization(ctx, actor=PRO["midwife"], ins=ins)
    await sign_in(client, "midwife")
    base = await open_patient(client, LEA.ins)
    mine = await client.get(f"{base}/documents/{doc_id}")
    assert mine.status_code == 200
    assert "Votre document" in mine.text
    _, allowed = await read_document_for_page(
        ctx, actor=PRO["midwife"], ins=ins, document_id=uuid.UUID(doc_id)
    )
    assert offered(mine.text) == {a for a in FORMS if a in allowed.allowed}
    assert "fichier CDA XML" in unescape(mine.text)  # the download says what it is

    # A colleague of the same structure in break-glass: not "Votre document".
    client.cookies.clear()
    await sign_in(client, "physio")
    base = await open_patient(client, LEA.ins)
    opened = await post(
        client, base, f"{base}/urgence", {"mode": "break-glass", "justification": "Malaise"}
    )
    assert opened.status_code == 303
    theirs = await client.get(f"{base}/documents/{doc_id}")
    assert theirs.status_code == 200, theirs.text
    text = unescape(theirs.text)
    assert "Votre document" not in text
    assert "Document de votre structure" in text
    # What is offered is what the policy would allow, and what is offered works.
    assert Action.ARCHIVE_DOCUMENT in offered(theirs.text)
    archived = await post(
        client,
        f"{base}/documents/{doc_id}",
        f"{base}/documents/{doc_id}/archiver",
        {"archived": "yes"},
    )
    assert archived.status_code == 303


async def test_a_document_the_policy_lets_no_one_but_its_author_change_offers_nothing(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    uploaded = await documents.deposit_patient_document(
        ctx,
        actor=camille(),
        ins=parse_ins(CAMILLE.ins, INS_NIR_TEST_OID),
        title="Mes directives",
        type_code="EXPPAT_3",
        mime_type="application/pdf",
        content=b"%PDF-1.4\n%%EOF\n",
    )
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    shown = await client.get(f"{base}/documents/{uploaded.id}")
    assert shown.status_code == 200
    assert offered(shown.text) == set()
    assert 'id="own-title"' not in shown.text
    assert re.search(r"Télécharger le document \(fichier PDF, \d+ o\)", unescape(shown.text))
    assert set(DOCUMENT_ACTIONS) >= set(FORMS)
