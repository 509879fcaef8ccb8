"""Patient portal, over ASGI on both databases: the export's archive (documents, a FHIR R4B
collection Bundle of their DocumentReferences, the access history as CSV), and a legal
representative signing in to a minor's record (credentials issued by an operator): the
minor's documents less those hidden from representatives (and from the patient), the
history, no export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zipfile

import httpx
import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from sqlalchemy import select

from opendmp.domain.actors import LegalRepresentative
from opendmp.domain.errors import AccessDenied
from opendmp.services.access import representatives
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import read_history
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import OPERATOR, patient_actor
from tests.record_scope import whole_database
from tests.web.test_patient_portal import (
    Account,
    deposit,
    first_sign_in,
    make_patient,
    post_page,
    signed_in,
)


async def test_the_export_holds_the_documents_a_fhir_bundle_and_the_history(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    letter = await deposit(ctx, account, title="Compte rendu exporté")
    hidden = await deposit(ctx, account, title="Annonce", invisible_to_patient=True)
    opened = await client.get(f"/patient/documents/{letter.id}")
    assert opened.status_code == 200

    exported = await post_page(client, "/patient/dossier", "/patient/dossier/export", {})

    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        names = archive.namelist()
        raw_bundle = archive.read("documents.fhir.json")
        rows = list(csv.DictReader(io.StringIO(archive.read("history.csv").decode("utf-8-sig"))))
        files = {name: archive.read(name) for name in names if name.startswith("documents/")}
    assert "metadata.json" not in names
    assert list(files) == [f"documents/0001-{letter.id}.pdf"]
    bundle = Bundle.model_validate(orjson.loads(raw_bundle))  # R4B: raises if invalid
    assert bundle.type == "collection"
    assert bundle.entry is not None and len(bundle.entry) == 1
    reference = bundle.entry[0].resource
    assert isinstance(reference, DocumentReference)
    assert reference.get_resource_type() == "DocumentReference"
    assert reference.content[0].attachment.url == f"documents/0001-{letter.id}.pdf"
    assert reference.content[0].attachment.title == "Compte rendu exporté"
    subject = reference.subject
    assert subject is not None and subject.identifier is not None
    assert subject.identifier.value == account.ins.value
    assert str(hidden.id) not in raw_bundle.decode()
    assert rows, "the history is exported"
    assert set(rows[0]) >= {
        "time",
        "who",
        "profession",
        "organisation",
        "action",
        "access_mode",
        "outcome",
    }
    read = next(row for row in rows if row["action"] == "document:document:read")
    assert (read["who_kind"], read["access_mode"], read["outcome"]) == (
        "patient",
        "normal",
        "success",
    )
    deposited = next(row for row in rows if row["action"] == "document:document:deposit")
    assert deposited["profession"] == "Médecin" and deposited["who_kind"] == "professional"
    assert dt.datetime.fromisoformat(deposited["time"]).tzinfo is not None
    assert all(str(hidden.id) not in str(row) for row in rows)
    async with ctx.uow() as uow:
        outcome, details = (
            await uow.session.execute(
                whole_database(
                    select(m.AuditEvent.outcome, m.AuditEvent.details)
                    .where(m.AuditEvent.action == "record:record:export")
                    .order_by(m.AuditEvent.id.desc())
                )
            )
        ).one()
    assert outcome == "success"
    assert orjson.loads(details or "{}")["documents"] == 1


async def _minor_with_representative(ctx: ServiceContext) -> tuple[Account, Account, list[str]]:
    minor = await make_patient(ctx, birth_date=dt.date(2015, 6, 1), given_names=("Noé",))
    shown = await deposit(ctx, minor, title="Vaccinations de Noé")
    await deposit(
        ctx, minor, title="Consultation confidentielle", invisible_to_representatives=True
    )
    await deposit(ctx, minor, title="Annonce diagnostique", invisible_to_patient=True)
    added = await representatives.add_representative(
        ctx,
        actor=OPERATOR,
        ins=minor.ins,
        relation="MTH",
        family_name="Fictif",
        given_name="Maud",
        email="maud.fictif@example.org",
    )
    credentials = await representatives.issue_representative_credentials(
        ctx, actor=OPERATOR, ins=minor.ins, representative_id=added.id
    )
    parent = Account(minor.ins, credentials.login, credentials.one_time_password)
    return minor, parent, [str(shown.id), str(added.id)]


async def test_a_representative_sees_the_minors_record_less_what_is_hidden_from_them(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    minor, parent, (shown_id, representative_id) = await _minor_with_representative(ctx)
    assert parent.login != minor.login

    await first_sign_in(client, clock, parent)

    home = await client.get("/patient")
    assert home.status_code == 200
    assert "Le DMP de Noé FICTIF" in home.text
    assert 'id="representative-banner"' in home.text
    listing = await client.get("/patient/documents")
    assert "Vaccinations de Noé" in listing.text
    assert "Consultation confidentielle" not in listing.text
    assert "Annonce diagnostique" not in listing.text
    assert "/patient/documents/ajouter" not in listing.text
    viewed = await client.get(f"/patient/documents/{shown_id}")
    assert viewed.status_code == 200, viewed.text[-3000:]
    history = await client.get("/patient/historique", params={"vues": "1"})  # own views
    assert history.status_code == 200
    assert "a consulté un document" in history.text

    # Export and visibility are the patient's: no button, and the route refuses.
    record_page = await client.get("/patient/dossier")
    assert "/patient/dossier/export" not in record_page.text
    assert 'id="export-patient-only"' in record_page.text
    refused = await post_page(client, "/patient/dossier", "/patient/dossier/export", {})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")

    # The trail names the representative, not the patient.
    entries = await read_history(ctx, actor=patient_actor(minor.ins), ins=minor.ins)
    kinds = {(e.actor_kind, e.actor_id) for e in entries if e.action == "document:document:read"}
    assert kinds == {("representative", representative_id)}
    denied = [e for e in entries if e.action == "record:record:export"]
    assert [(e.actor_kind, e.outcome) for e in denied] == [("representative", "denied")]


async def test_removing_a_representative_removes_their_account(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    minor, parent, (_shown, representative_id) = await _minor_with_representative(ctx)
    await first_sign_in(client, clock, parent)
    await representatives.remove_representative(
        ctx,
        actor=OPERATOR,
        ins=minor.ins,
        representative_id=uuid.UUID(representative_id),
    )
    gone = await client.get("/patient/documents", follow_redirects=False)
    assert gone.status_code == 303  # the session died with the account
    again = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": parent.login, "password": "correct horse battery staple"},
    )
    assert again.status_code != 303  # not the patient's login now: unknown


async def test_a_representative_cannot_issue_credentials(ctx: ServiceContext) -> None:
    minor, _parent, (_shown, representative_id) = await _minor_with_representative(ctx)
    actor = LegalRepresentative(
        representative_id=representative_id, patient_ins=str(minor.ins), relation="MTH"
    )
    with pytest.raises(AccessDenied):
        await representatives.issue_representative_credentials(
            ctx,
            actor=actor,
            ins=minor.ins,
            representative_id=uuid.UUID(representative_id),
        )
