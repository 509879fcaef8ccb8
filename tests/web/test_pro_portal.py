"""Professional portal (/pro) over ASGI on the demo data. Refusals first — not signed in, no
CSRF token, a CPE reading, a blocked professional, break-glass without justification,
regulation by a non-doctor, a pharmacist and a psychiatric synthesis, bad deposits (a
non-PDF named .pdf, a CDA for another patient, a date of the act in the future), a
non-author's changes — each with a clear message, nothing stored and its audit event; then
what may be done: find a patient, declare consent, list with the first-view rules, read,
deposit (a PDF wrapped in a CDA level 1), replace, archive, delete, change the visibility,
break-glass with its banner, "my patients", English."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import unescape

import httpx
import pytest
from sqlalchemy import func, select

from opendmp.cda.header import extract_nonxml_body, parse_header
from opendmp.cda.pdf import make_pdf
from opendmp.devtools.demo import ESTABLISHMENT, PATIENTS, PROFESSIONALS, seed_demo
from opendmp.domain.actors import Patient
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services import documents
from opendmp.services.access import authorisations as access
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.auth_support import finess_struct
from tests.factories import make_professional, submission
from tests.record_scope import whole_database
from tests.web.conftest import csrf_of

CAMILLE, JULES, LEA = PATIENTS  # Camille: care team, GP treating, pharmacist authorised
PRO = {p.key: p.actor for p in PROFESSIONALS}
PDF = make_pdf("Lettre de liaison", ["Document de test — données fictives."])


@pytest.fixture(autouse=True)
async def demo(web_app: object, ctx: ServiceContext) -> None:
    await seed_demo(ctx)


async def sign_in(client: httpx.AsyncClient, who: str) -> None:
    page = await client.get("/pro/connexion?next=/pro")
    response = await client.post(
        "/pro/connexion/demo",
        data={"csrf_token": csrf_of(page.text), "who": who, "next": "/pro"},
    )
    assert response.status_code == 303, response.text


async def open_patient(client: httpx.AsyncClient, ins: str, *, page: str = "/pro") -> str:
    home = await client.get(page)
    assert home.status_code == 200, home.text
    response = await client.post(
        "/pro/recherche", data={"csrf_token": csrf_of(home.text), "ins": ins}
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/pro/dossiers/") and ins not in location  # no INS in URLs
    return location


async def post(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, str]
) -> httpx.Response:
    got = await client.get(page)
    return await client.post(action, data={"csrf_token": csrf_of(got.text), **data})


async def upload(
    client: httpx.AsyncClient,
    base: str,
    *,
    content: bytes = PDF,
    filename: str = "lettre.pdf",
    **fields: str,
) -> httpx.Response:
    form = await client.get(f"{base}/depot")
    assert form.status_code == 200, form.text
    data = {
        "csrf_token": csrf_of(form.text),
        "type_code": "11490-0",
        "service_date": "2026-02-27",
        "practice_setting": "ETABLISSEMENT",
        "facility_type": "SA01",
        "visibility": "normal",
        "replaces": "",
        **fields,
    }
    return await client.post(
        f"{base}/depot", data=data, files={"file": (filename, content, "application/pdf")}
    )


@dataclass(frozen=True)
class Event:
    access_mode: str
    reason: str | None


async def events(
    ctx: ServiceContext, action: str, *, outcome: str | None = None, reason: str | None = None
) -> Sequence[Event]:
    """The audit events of ``action`` (oldest first)."""
    async with ctx.uow() as uow:
        query = whole_database(select(m.AuditEvent).where(m.AuditEvent.action == action))
        if outcome:
            query = query.where(m.AuditEvent.outcome == outcome)
        if reason:
            query = query.where(m.AuditEvent.reason == reason)
        rows = (await uow.session.execute(query.order_by(m.AuditEvent.id))).scalars()
        return [Event(row.access_mode, row.reason) for row in rows]


async def document_count(ctx: ServiceContext) -> int:
    async with ctx.uow() as uow:
        return int(
            (
                await uow.session.execute(whole_database(select(func.count(m.Document.id))))
            ).scalar_one()
        )


def titles(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', html)


def camille() -> Patient:
    return Patient(ins=f"{INS_NIR_TEST_OID}|{CAMILLE.ins}")


# --- refusals ---------------------------------------------------------------------------------


async def test_an_anonymous_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/pro", "/pro/mes-patients", "/pro/dossiers/abc/documents"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/pro/connexion?next=")


async def test_a_search_without_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await sign_in(client, "gp")
    response = await client.post("/pro/recherche", data={"ins": CAMILLE.ins})
    assert response.status_code == 403
    assert "Le formulaire a expiré" in response.text


async def test_a_malformed_ins_is_refused_with_a_message(client: httpx.AsyncClient) -> None:
    await sign_in(client, "gp")
    response = await post(client, "/pro", "/pro/recherche", {"ins": "123"})
    assert response.status_code == 422
    assert 'role="alert"' in response.text


async def test_an_unknown_patient_handle_is_a_clear_404(client: httpx.AsyncClient) -> None:
    await sign_in(client, "gp")
    response = await client.get("/pro/dossiers/not-a-handle")
    assert response.status_code == 404
    assert "recherchez-le à nouveau" in response.text


async def test_a_cpe_never_reads_and_its_attempt_is_audited(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "desk")  # a desk agent's home is the desk; its forms carry a token
    base = await open_patient(client, CAMILLE.ins, page="/accueil")
    response = await client.get(f"{base}/documents")
    assert response.status_code == 403
    assert "ne permet jamais de lire" in response.text
    assert "Synthèse" not in response.text
    assert await events(ctx, "document:document:search", outcome="denied", reason="cpe-never-reads")
    # The CPE is not even offered an emergency access.
    assert "/urgence" not in (await client.get(base)).text


async def test_a_blocked_professional_reads_nothing_not_even_in_an_emergency(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    ins = parse_ins(CAMILLE.ins, INS_NIR_TEST_OID)
    await access.block(ctx, actor=camille(), ins=ins, professional_idnat=PRO["nurse"].idnat)
    await sign_in(client, "nurse")
    base = await open_patient(client, CAMILLE.ins)
    page = await client.get(base)
    assert 'data-state="INTERDIT">interdite' in page.text and "FICTIVE" not in page.text
    response = await client.get(f"{base}/documents")
    assert response.status_code == 403
    assert "Le patient vous a bloqué(e)" in response.text
    assert await events(
        ctx, "document:document:search", outcome="denied", reason="blocked-by-patient"
    )


async def test_break_glass_without_justification_opens_nothing(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "physio")  # no basis on Léa's record
    base = await open_patient(client, LEA.ins)
    response = await post(
        client, base, f"{base}/urgence", {"mode": "break-glass", "justification": "  "}
    )
    assert response.status_code == 403
    assert "exige une justification écrite" in response.text
    assert 'id="emergency-banner"' not in response.text
    async with ctx.uow() as uow:
        assert (
            await uow.session.execute(whole_database(select(func.count(m.EmergencyAccess.id))))
        ).scalar_one() == 0
    refused = await events(
        ctx, "access:emergency:open", outcome="denied", reason="justification-required"
    )
    assert refused and refused[0].access_mode == "break-glass"


async def test_the_regulation_mode_is_for_doctors(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "nurse")
    base = await open_patient(client, LEA.ins)
    assert 'value="regulation"' not in (await client.get(base)).text
    response = await post(
        client, base, f"{base}/urgence", {"mode": "regulation", "justification": ""}
    )
    assert response.status_code == 403
    assert "médecins régulateurs" in response.text
    refused = await events(ctx, "access:emergency:open", reason="regulation-doctors-only")
    assert refused and refused[0].access_mode == "regulation"


async def test_a_pharmacist_cannot_see_a_psychiatric_synthesis(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page = await documents.search_documents(
        ctx,
        actor=PRO["psychiatrist"],
        ins=parse_ins(CAMILLE.ins, INS_NIR_TEST_OID),
        query=documents.DocumentQuery(type_codes=("68599-0",)),
    )
    synthesis = page.items[0].id
    await sign_in(client, "pharmacist")
    base = await open_patient(client, CAMILLE.ins)
    listed = await client.get(f"{base}/documents?tout=1")
    assert listed.status_code == 200
    assert "Synthèse psychiatrique" not in titles(listed.text)
    assert "Dispensation médicamenteuse" in titles(listed.text)
    direct = await client.get(f"{base}/documents/{synthesis}")
    assert direct.status_code == 403
    assert "Votre profession ne peut pas lire ce type de document" in direct.text
    assert await events(
        ctx, "document:document:read", outcome="denied", reason="type-not-allowed-for-profession"
    )


async def test_a_document_a_professional_may_not_know_of_answers_as_an_unknown_one(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    """docs/security.md, "Existence": deposited by another structure, of a type the
    pharmacist may not read; its pages answer exactly as an unknown id's."""
    outsider = make_professional(77, organization=finess_struct(77))
    ins = parse_ins(CAMILLE.ins, INS_NIR_TEST_OID)
    hidden = await documents.deposit_document(
        ctx,
        actor=outsider,
        ins=ins,
        submission=submission(ctx.now(), type_code="68599-0", title="Synthèse externe"),
    )
    await sign_in(client, "pharmacist")
    base = await open_patient(client, CAMILLE.ins)
    other = uuid.uuid4()
    for suffix in ("", "/contenu", "/telecharger"):
        direct = await client.get(f"{base}/documents/{hidden.id}{suffix}")
        unknown = await client.get(f"{base}/documents/{other}{suffix}")
        assert direct.status_code == unknown.status_code == 404, suffix
        mine = direct.text.replace(str(hidden.id), "ID")
        assert mine == unknown.text.replace(str(other), "ID"), suffix
        assert "Synthèse externe" not in direct.text
    assert await events(
        ctx, "document:document:read", outcome="denied", reason="type-not-allowed-for-profession"
    )


async def test_bad_deposits_store_nothing_and_are_audited(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    before = await document_count(ctx)

    fake = await upload(client, base, content=b"<html>not a pdf</html>", filename="lettre.pdf")
    assert fake.status_code == 422
    assert "n'est pas un PDF" in unescape(fake.text)

    future = await upload(client, base, service_date="2026-03-05")
    assert future.status_code == 422
    assert "dans le futur" in future.text

    other = parse_ins(JULES.ins, INS_NIR_TEST_OID)
    from opendmp.cda.level1 import AuthorHeader, OrgHeader, PatientHeader, wrap_level1

    org = OrgHeader(ESTABLISHMENT, "Centre")
    cda = wrap_level1(
        content=PDF,
        media_type="application/pdf",
        document_id=(f"2.25.{uuid.uuid4().int}", None),
        set_id=(f"2.25.{uuid.uuid4().int}", None),
        version=1,
        type_code="11490-0",
        type_display="Lettre",
        title="Lettre",
        effective_time=dt.datetime(2026, 2, 27, tzinfo=dt.UTC),
        patient=PatientHeader(other.value, other.oid, "ESSAI", "Jules", dt.date(1975, 2, 3), "M"),
        author=AuthorHeader(PRO["gp"].idnat, "DEMO", "Paul", "G15_10", None, org),
        custodian=org,
        service_start=dt.datetime(2026, 2, 27, tzinfo=dt.UTC),
        service_stop=None,
        practice_setting="ETABLISSEMENT",
        facility_type="SA01",
    )
    wrong = await upload(client, base, content=cda, filename="lettre.xml")
    assert wrong.status_code == 422
    assert "n'est pas celui de ce patient" in unescape(wrong.text)

    assert await document_count(ctx) == before
    for reason in ("not-a-pdf", "service-date-in-future", "patient-mismatch"):
        assert await events(ctx, "document:document:deposit", outcome="denied", reason=reason)


async def test_only_the_author_changes_a_document(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    ins = parse_ins(CAMILLE.ins, INS_NIR_TEST_OID)
    uploaded = await documents.deposit_patient_document(
        ctx,
        actor=camille(),
        ins=ins,
        title="Mes directives",
        type_code="EXPPAT_3",
        mime_type="application/pdf",
        content=PDF,
    )
    doc_id = uploaded.id
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    shown = await client.get(f"{base}/documents/{doc_id}")
    assert "/archiver" not in shown.text  # not offered
    response = await post(
        client,
        f"{base}/documents/{doc_id}",
        f"{base}/documents/{doc_id}/archiver",
        {"archived": "yes"},
    )
    assert response.status_code == 403
    assert "Seul l'auteur" in unescape(response.text)
    assert await events(ctx, "document:document:archive", outcome="denied", reason="not-author")


# --- what may be done -------------------------------------------------------------------------


async def test_a_professional_declares_consent_deposits_and_the_patient_sees_it(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "psychiatrist")  # a doctor outside Léa's care
    base = await open_patient(client, LEA.ins)
    page = await client.get(base)
    assert 'data-state="NON_EXISTE">aucune<' in page.text and "DEMONSTRATION" not in page.text
    refused = await client.get(f"{base}/documents")
    assert refused.status_code == 403 and "déclarez le consentement" in refused.text

    no_box = await post(client, base, f"{base}/consentement", {"treating": "yes"})
    assert no_box.status_code == 422
    declared = await post(
        client, base, f"{base}/consentement", {"consent": "yes", "treating": "yes"}
    )
    assert declared.status_code == 303
    assert declared.headers["location"] == f"{base}/documents?consentement=traitant"
    confirmed = await client.get(declared.headers["location"])
    assert "Consentement du patient enregistré" in confirmed.text
    assert "Vous êtes aussi son médecin traitant DMP." in confirmed.text
    page = await client.get(base)
    assert 'data-state="VALIDE">valide<' in page.text and "DEMONSTRATION Léa" in page.text

    deposited = await upload(client, base, title="Lettre de liaison de test")
    assert deposited.status_code == 303, deposited.text
    assert "Le document a été déposé" in (await client.get(deposited.headers["location"])).text

    listed = await client.get(f"{base}/documents")
    assert "Lettre de liaison de test" in titles(listed.text)

    ins = parse_ins(LEA.ins, INS_NIR_TEST_OID)
    seen = await documents.search_documents(
        ctx, actor=Patient(ins=str(ins)), ins=ins, query=documents.DocumentQuery()
    )
    mine = [v for v in seen.items if v.title == "Lettre de liaison de test"]
    assert len(mine) == 1 and mine[0].type_code == "11490-0"
    _, content = await documents.read_document(
        ctx, actor=Patient(ins=str(ins)), ins=ins, document_id=mine[0].id
    )
    header = parse_header(content)
    assert (header.patient.ins_value, header.patient.ins_oid) == (ins.value, ins.oid)
    assert header.patient.family_name == "DEMONSTRATION"
    assert header.authors[0].idnat == PRO["psychiatrist"].idnat
    assert header.custodian is not None and header.custodian.id is not None
    assert header.custodian.id.extension == ESTABLISHMENT
    assert header.document_id.root == mine[0].unique_id
    assert extract_nonxml_body(content) == ("application/pdf", PDF)

    mine_page = await client.get("/pro/mes-patients")
    assert "DEMONSTRATION Léa" in mine_page.text and "Médecin traitant" in mine_page.text


async def test_the_first_view_shows_two_years_of_approved_documents_and_widens(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    old = await upload(client, base, title="Compte rendu ancien", service_date="2023-01-10")
    assert old.status_code == 303
    listed = await client.get(f"{base}/documents")
    assert "Compte rendu ancien" not in titles(listed.text)
    assert "des deux dernières années" in listed.text
    widened = await client.get(f"{base}/documents?tout=1")
    assert "Compte rendu ancien" in titles(widened.text)

    # Archived: out of the first view, back when widened.
    doc_id = re.search(r'/documents/([0-9a-f-]{36})">Compte rendu ancien', widened.text)
    assert doc_id
    target = f"{base}/documents/{doc_id.group(1)}"
    await post(client, target, f"{target}/archiver", {"archived": "yes"})
    between = await client.get(f"{base}/documents?du=2023-01-01&au=2023-12-31")
    assert "Compte rendu ancien" not in titles(between.text)
    assert "Compte rendu ancien" in titles((await client.get(f"{base}/documents?tout=1")).text)

    # Filters: by type and by author.
    typed = await client.get(f"{base}/documents?type=68599-0")
    assert titles(typed.text) == ["Synthèse psychiatrique"]
    by_author = await client.get(f"{base}/documents?auteur=DEMO-PHARMACIEN")
    assert titles(by_author.text) == ["Dispensation médicamenteuse"]


async def test_replace_archive_visibility_and_delete_ones_own_document(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "gp")
    base = await open_patient(client, JULES.ins)
    first = await upload(client, base, title="Version une")
    assert first.status_code == 303
    listed = await client.get(f"{base}/documents")
    found = re.search(r'/documents/([0-9a-f-]{36})">Version une', listed.text)
    assert found
    old_id = found.group(1)
    replaced = await upload(client, base, title="Version deux", replaces=old_id)
    assert replaced.status_code == 303, replaced.text
    listed = await client.get(f"{base}/documents")
    assert "Version deux" in titles(listed.text) and "Version une" not in titles(listed.text)
    with_versions = await client.get(f"{base}/documents?versions=1")
    assert "Version une" in titles(with_versions.text) and "Version remplacée" in with_versions.text

    ins = parse_ins(JULES.ins, INS_NIR_TEST_OID)
    new = re.search(r'/documents/([0-9a-f-]{36})">Version deux', listed.text)
    assert new
    new_id = new.group(1)
    _, content = await documents.read_document(
        ctx, actor=PRO["gp"], ins=ins, document_id=uuid.UUID(new_id)
    )
    header = parse_header(content)
    assert header.version_number == 2 and header.replaces is not None

    target = f"{base}/documents/{new_id}"
    hidden = await post(
        client, target, f"{target}/visibilite", {"visibility": "hidden-from-patient"}
    )
    assert hidden.status_code == 303
    patient = Patient(ins=str(ins))
    seen = await documents.search_documents(
        ctx, actor=patient, ins=ins, query=documents.DocumentQuery()
    )
    assert all(v.title != "Version deux" for v in seen.items)
    assert "Non visible par le patient" in (await client.get(target)).text

    unconfirmed = await post(client, target, f"{target}/supprimer", {})
    assert unconfirmed.status_code == 422
    deleted = await post(client, target, f"{target}/supprimer", {"confirm": "yes"})
    assert deleted.status_code == 303
    assert (await client.get(target)).status_code == 410


async def test_a_document_is_shown_in_a_sandboxed_frame_with_strict_headers(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    listed = await client.get(f"{base}/documents")
    found = re.search(r'href="([^"]+/documents/[0-9a-f-]{36})">Synthèse psychiatrique', listed.text)
    assert found
    page = await client.get(found.group(1))
    assert '<iframe class="pdf" src="' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    content = await client.get(found.group(1) + "/contenu")
    assert content.status_code == 200
    assert content.content.startswith(b"%PDF")
    assert content.headers["content-type"] == "application/pdf"
    assert "sandbox" in content.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in content.headers["content-security-policy"]
    assert content.headers["x-frame-options"] == "SAMEORIGIN"
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["cache-control"] == "no-store"
    download = await client.get(found.group(1) + "/telecharger")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.content.startswith(b"<?xml")
    reads = await events(ctx, "document:document:read", outcome="success")
    assert len(reads) >= 3 and all(e.access_mode == "normal" for e in reads)


async def test_masked_documents_show_only_where_the_rules_allow_and_are_marked(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    # A document of the patient's own (no author structure): masking hides it from the care
    # team, not from the treating doctor, who sees it marked.
    ins = parse_ins(CAMILLE.ins, INS_NIR_TEST_OID)
    mine = await documents.deposit_patient_document(
        ctx,
        actor=camille(),
        ins=ins,
        title="Mes directives anticipées",
        type_code="EXPPAT_3",
        mime_type="application/pdf",
        content=PDF,
    )
    await documents.mask_document(ctx, actor=camille(), ins=ins, document_id=mine.id, masked=True)
    await sign_in(client, "nurse")  # care team, not treating doctor
    nurse = await client.get(f"{await open_patient(client, CAMILLE.ins)}/documents")
    assert "Mes directives anticipées" not in titles(nurse.text)
    client.cookies.clear()
    await sign_in(client, "gp")  # treating doctor: sees it, marked
    gp = await client.get(f"{await open_patient(client, CAMILLE.ins)}/documents")
    assert "Mes directives anticipées" in titles(gp.text)
    assert "Masqué aux professionnels" in gp.text


async def test_break_glass_opens_a_time_boxed_access_with_a_banner_and_audits_its_mode(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: object
) -> None:
    ctx.access = replace(ctx.access, emergency_access_duration=dt.timedelta(minutes=10))
    await sign_in(client, "physio")
    base = await open_patient(client, LEA.ins)
    response = await post(
        client,
        base,
        f"{base}/urgence",
        {"mode": "break-glass", "justification": "Patiente inconsciente"},
    )
    assert response.status_code == 303
    listed = await client.get(f"{base}/documents")
    assert listed.status_code == 200
    assert 'id="emergency-banner"' in listed.text and "bris de glace" in listed.text
    assert "<svg" in listed.text
    searches = await events(ctx, "document:document:search", outcome="success")
    assert searches[-1].access_mode == "break-glass"
    opened = await events(ctx, "access:emergency:open", outcome="success")
    assert opened and opened[0].access_mode == "break-glass"
    async with ctx.uow() as uow:
        kinds = (await uow.session.execute(select(m.Outbox.kind))).scalars().all()
    assert "emergency-access" in kinds
    # After the time box, back to normal mode: no banner, no access.
    clock.advance(minutes=11)  # type: ignore[attr-defined]
    later = await client.get(f"{base}/documents")
    assert later.status_code == 403 and 'id="emergency-banner"' not in later.text


async def test_a_samu_doctor_uses_the_regulation_mode(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "psychiatrist")
    base = await open_patient(client, LEA.ins)
    response = await post(
        client, base, f"{base}/urgence", {"mode": "regulation", "justification": ""}
    )
    assert response.status_code == 303
    listed = await client.get(f"{base}/documents")
    assert "centre de régulation" in listed.text
    searches = await events(ctx, "document:document:search", outcome="success")
    assert searches[-1].access_mode == "regulation"


async def test_a_carte_vitale_file_opens_the_patient(client: httpx.AsyncClient) -> None:
    import json

    from opendmp.domain.vitale import CardPerson, VitaleCard, card_json

    card = VitaleCard(
        CardPerson(JULES.birth_name, (JULES.given,), JULES.birth_date, ins=JULES.ins), ()
    )
    await sign_in(client, "gp")
    home = await client.get("/pro")
    picked = await client.post(
        "/pro/carte-vitale",
        data={"csrf_token": csrf_of(home.text)},
        files={"card": ("carte.json", json.dumps(card_json(card)).encode(), "application/json")},
    )
    assert picked.status_code == 200
    assert "Ouvrir le dossier de" in picked.text
    response = await client.post(
        "/pro/recherche", data={"csrf_token": csrf_of(picked.text), "ins": JULES.ins}
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "ESSAI Jules" in page.text and 'data-state="VALIDE"' in page.text  # his care team


async def test_the_portal_speaks_english(client: httpx.AsyncClient) -> None:
    client.cookies.set("opendmp_lang", "en")
    await sign_in(client, "gp")
    base = await open_patient(client, CAMILLE.ins)
    listed = await client.get(f"{base}/documents")
    assert 'lang="en"' in listed.text
    assert "approved document(s) from the last two years" in listed.text
    assert "Psychiatric summary" in listed.text
