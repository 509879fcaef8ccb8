"""Patient portal (/patient), over ASGI on both databases. Refusals first — no session,
wrong password, lockout, an unfinished sign-in, no CSRF token, another record's document,
an INVISIBLE_PATIENT document, a hostile CDA, closing with a wrong password — then the
first sign-in (one-time password → new password → TOTP with a QR code) and every page."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from html import unescape

import httpx
import orjson
import pyotp
from sqlalchemy import select

from opendmp.domain.actors import AccessMode
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import RecordStatus
from opendmp.services.access.authorisations import list_access
from opendmp.services.access.emergency import open_emergency_access
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentView, deposit_document, read_document
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import (
    OPERATOR,
    make_ins,
    make_professional,
    new_record,
    patient_actor,
    store_foreign_event,
    submission,
)
from tests.record_scope import document_by_id, whole_database
from tests.web.conftest import csrf_of

PASSWORD = "correct horse battery staple"
DOCTOR = make_professional(31, organization="1750100125")
NURSE = make_professional(32, profession="60", specialty=None)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
_SECRET = re.compile(r'data-secret="([A-Z2-7]+)"')


@dataclass
class Account:
    ins: Ins
    login: str
    one_time: str
    secret: str = ""


async def make_patient(ctx: ServiceContext, **overrides: object) -> Account:
    ins = make_ins()
    view = await records.create_record(
        ctx, actor=OPERATOR, request=new_record(ins, ctx.now(), **overrides)
    )
    assert view.credentials is not None
    login, one_time = view.credentials
    return Account(ins, login, one_time)


async def deposit(
    ctx: ServiceContext,
    account: Account,
    title: str = "Compte rendu",
    content: bytes = PDF,
    **overrides: object,
) -> DocumentView:
    return await deposit_document(
        ctx,
        actor=DOCTOR,
        ins=account.ins,
        submission=submission(ctx.now(), content, title=title, **overrides),
    )


async def post_page(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, str]
) -> httpx.Response:
    got = await client.get(page)
    assert got.status_code == 200, got.text
    return await client.post(action, data={"csrf_token": csrf_of(got.text), **data})


async def replace_one_time_password(client: httpx.AsyncClient, account: Account) -> None:
    """Sign in with the one-time password and choose ``PASSWORD``: the session then waits at
    the TOTP enrolment."""
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": account.login, "password": account.one_time},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/patient/mot-de-passe"
    response = await post_page(
        client,
        "/patient/mot-de-passe",
        "/patient/mot-de-passe",
        {
            "old_password": account.one_time,
            "new_password": PASSWORD,
            "new_password_confirm": PASSWORD,
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/patient/double-authentification"


async def first_sign_in(client: httpx.AsyncClient, clock: Clock, account: Account) -> None:
    """One-time password → new password → TOTP enrolment (the secret read from the page)."""
    await replace_one_time_password(client, account)
    page = await client.get("/patient/double-authentification")
    assert page.status_code == 200
    found = _SECRET.search(page.text)
    assert found, "the TOTP secret is shown for manual entry"
    account.secret = found.group(1)
    response = await client.post(
        "/patient/double-authentification",
        data={
            "csrf_token": csrf_of(page.text),
            "secret": account.secret,
            "code": pyotp.TOTP(account.secret).at(clock.now),
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/patient?fait=totp"


async def signed_in(client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock) -> Account:
    account = await make_patient(ctx)
    await first_sign_in(client, clock, account)
    return account


async def csrf_from(client: httpx.AsyncClient, page: str) -> str:
    got = await client.get(page)
    assert got.status_code == 200, got.text
    return csrf_of(got.text)


async def status_of(ctx: ServiceContext, ins: Ins) -> RecordStatus:
    return (await records.show_record(ctx, actor=patient_actor(ins), ins=ins)).status


# --- refusals ----------------------------------------------------------------------------------


async def test_without_a_session_every_page_sends_to_the_sign_in(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/patient", "/patient/documents", "/patient/historique", "/patient/dossier"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/patient/connexion?next={path}"
    posted = await client.post(f"/patient/documents/{uuid.uuid4()}/masquer", data={"masque": "1"})
    assert posted.status_code == 303
    assert posted.headers["location"] == "/patient/connexion?next=/patient"
    content = await client.get(f"/patient/documents/{uuid.uuid4()}/contenu")
    assert content.status_code == 303


async def test_a_wrong_password_is_refused_with_a_clear_message(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    account = await make_patient(ctx)
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": account.login, "password": "not the password"},
    )
    assert response.status_code == 401
    assert "Identifiant, mot de passe ou code incorrect" in response.text
    assert 'role="alert"' in response.text
    assert "opendmp_session" not in response.headers.get("set-cookie", "")
    assert (await client.get("/patient")).status_code == 303


async def test_a_locked_account_says_when_to_try_again(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await make_patient(ctx)
    wrong = {"login": account.login, "password": "not the password"}
    for _ in range(5):  # the 5th failure locks for 1 minute
        response = await post_page(client, "/patient/connexion", "/patient/connexion", wrong)
        assert response.status_code == 401
    clock.advance(seconds=61)  # the lock and the rate window pass
    response = await post_page(client, "/patient/connexion", "/patient/connexion", wrong)
    assert response.status_code == 401  # 6th failure: locked for 2 minutes
    right = {"login": account.login, "password": account.one_time}
    response = await post_page(client, "/patient/connexion", "/patient/connexion", right)
    assert response.status_code == 429
    assert "votre compte est bloqué pendant 2 min" in response.text
    until = (clock.now + dt.timedelta(minutes=2)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert f"Réessayez après {until:%H:%M}" in response.text
    assert "opendmp_session" not in response.headers.get("set-cookie", "")


async def test_a_session_with_the_one_time_password_cannot_see_documents(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    account = await make_patient(ctx)
    doc = await deposit(ctx, account, title="Résultat confidentiel")
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": account.login, "password": account.one_time},
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "opendmp_session=" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    for path in ("/patient/documents", f"/patient/documents/{doc.id}", "/patient/historique"):
        refused = await client.get(path)
        assert refused.status_code == 303, path
        assert refused.headers["location"].startswith("/patient/mot-de-passe?next=")
        assert "Résultat confidentiel" not in refused.text
    content = await client.get(f"/patient/documents/{doc.id}/contenu")
    assert content.status_code == 303
    assert b"%PDF" not in content.content
    # Nor can it skip the enrolment step.
    enrol = await client.get("/patient/double-authentification")
    assert enrol.status_code == 303
    assert enrol.headers["location"].startswith("/patient/mot-de-passe")


async def test_a_post_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    signin = await client.post("/patient/connexion", data={"login": "x", "password": "y"})
    assert signin.status_code == 403
    assert "csrf-failed" in signin.text
    account = await signed_in(client, ctx, clock)
    doc = await deposit(ctx, account)
    for action, data in (
        (f"/patient/documents/{doc.id}/masquer", {"masque": "1"}),
        ("/patient/professionnels/bloquer", {"kind": "professional", "idnat": DOCTOR.idnat}),
        ("/patient/dossier/fermer", {"password": PASSWORD, "confirm": "yes"}),
        ("/patient/deconnexion-partout", {}),
    ):
        response = await client.post(action, data=data)
        assert response.status_code == 403, action
        assert "Le formulaire a expiré" in response.text
        forged = await client.post(action, data={**data, "csrf_token": "0" * 64})
        assert forged.status_code == 403, action
    view, _ = await read_document(
        ctx, actor=patient_actor(account.ins), ins=account.ins, document_id=doc.id
    )
    assert not view.masked_by_patient
    assert await status_of(ctx, account.ins) is RecordStatus.ACTIVE
    assert (await client.get("/patient")).status_code == 200  # still signed in


async def test_another_patients_document_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    other = await make_patient(ctx)
    theirs = await deposit(ctx, other, title="Document de quelqu'un d'autre")
    await signed_in(client, ctx, clock)
    for suffix in ("", "/contenu", "/telecharger"):
        response = await client.get(f"/patient/documents/{theirs.id}{suffix}")
        assert response.status_code == 404, suffix
        assert "Document de quelqu'un d'autre" not in response.text
        assert b"%PDF" not in response.content
    csrf = await csrf_from(client, "/patient/documents")
    response = await client.post(
        f"/patient/documents/{theirs.id}/masquer", data={"csrf_token": csrf, "masque": "1"}
    )
    assert response.status_code == 404
    view, _ = await read_document(
        ctx, actor=patient_actor(other.ins), ins=other.ins, document_id=theirs.id
    )
    assert not view.masked_by_patient
    assert (await client.get("/patient/documents/not-an-id")).status_code == 404


async def test_a_document_hidden_from_the_patient_never_appears(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    await deposit(ctx, account, title="Lettre visible")
    hidden = await deposit(ctx, account, title="Annonce diagnostique", invisible_to_patient=True)
    listing = await client.get("/patient/documents")
    assert "Lettre visible" in listing.text
    assert "Annonce diagnostique" not in listing.text
    assert "1 document(s) trouvé(s)" in listing.text
    response = await client.get(f"/patient/documents/{hidden.id}")
    assert response.status_code in {403, 404}
    assert "Annonce diagnostique" not in response.text
    history = await client.get("/patient/historique")
    assert str(hidden.id) not in history.text


async def test_a_document_hidden_from_the_patient_answers_as_an_unknown_one(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    """docs/security.md, "Existence": the same page, refusal audited with its reason."""
    account = await signed_in(client, ctx, clock)
    hidden = await deposit(ctx, account, title="Annonce diagnostique", invisible_to_patient=True)
    unknown = uuid.uuid4()

    def same(response: httpx.Response, other: httpx.Response) -> bool:
        text = response.text.replace(str(hidden.id), "ID")
        return (response.status_code, text) == (
            other.status_code,
            other.text.replace(str(unknown), "ID"),
        )

    for suffix in ("", "/contenu", "/telecharger"):
        response = await client.get(f"/patient/documents/{hidden.id}{suffix}")
        other = await client.get(f"/patient/documents/{unknown}{suffix}")
        assert response.status_code == 404, suffix
        assert same(response, other), suffix
    csrf = await csrf_from(client, "/patient/documents")
    posted = await client.post(
        f"/patient/documents/{hidden.id}/masquer", data={"csrf_token": csrf, "masque": "1"}
    )
    other = await client.post(
        f"/patient/documents/{unknown}/masquer", data={"csrf_token": csrf, "masque": "1"}
    )
    assert posted.status_code == 404
    assert same(posted, other)
    async with ctx.sessions() as session:
        row = await document_by_id(session, hidden.id)
        assert row is not None and not row.masked_by_patient
        denied = (
            (
                await session.execute(
                    whole_database(
                        select(m.AuditEvent.reason).where(
                            m.AuditEvent.target_document_id == hidden.id,
                            m.AuditEvent.outcome == "denied",
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
    assert denied and set(denied) == {"invisible-to-patient"}


HOSTILE_CDA = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:x="http://www.w3.org/1999/xhtml">
  <title>CR avec surprise</title>
  <component><structuredBody>
    <component><section>
      <title>Motif <script>alert('titre')</script></title>
      <text>
        <paragraph>Texte &lt;script&gt;alert(1)&lt;/script&gt; normal</paragraph>
        <script>alert(2)</script>
        <x:script>alert(3)</x:script>
        <x:img src="x" onerror="alert(4)"/>
        <paragraph onclick="alert(5)" styleCode="Bold">gras</paragraph>
        <linkHtml href="javascript:alert(6)">cliquez ici</linkHtml>
        <table border="1" onmouseover="alert(7)"><tbody><tr>
          <td colspan="2" style="background:url(javascript:alert(8))">cellule</td>
        </tr></tbody></table>
      </text>
    </section></component>
  </structuredBody></component>
</ClinicalDocument>"""


async def test_a_level_3_cda_carrying_script_is_shown_escaped(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    doc = await deposit(
        ctx,
        account,
        title="CR structuré",
        content=HOSTILE_CDA,
        mime_type="text/xml",
        format_code="urn:asip:ci-sis:ldl-ses:2017",
    )
    response = await client.get(f"/patient/documents/{doc.id}")
    assert response.status_code == 200
    html = response.text
    main = html[html.index('<div class="cda"') :]
    assert "<script" not in main.lower()
    assert "javascript:" not in main
    assert "onerror" not in main and "onclick" not in main and "onmouseover" not in main
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in main  # text stays text
    assert "<strong><p>gras</p></strong>" in main or "<p>gras</p>" in main
    assert '<td colspan="2">cellule</td>' in main
    assert "cliquez ici" in main
    # The content route never serves it inline.
    assert (await client.get(f"/patient/documents/{doc.id}/contenu")).status_code == 400


async def test_closing_with_a_wrong_password_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    response = await post_page(
        client,
        "/patient/dossier",
        "/patient/dossier/fermer",
        {"password": "not my password", "confirm": "yes"},
    )
    assert response.status_code == 401
    assert "Mot de passe incorrect : rien n'a été fait." in unescape(response.text)
    unconfirmed = await post_page(
        client, "/patient/dossier", "/patient/dossier/fermer", {"password": PASSWORD}
    )
    assert unconfirmed.status_code == 400
    assert "Cochez la case" in unconfirmed.text
    assert await status_of(ctx, account.ins) is RecordStatus.ACTIVE


async def test_an_upload_of_the_wrong_type_or_size_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    csrf = await csrf_from(client, "/patient/documents/ajouter")
    fake_pdf = await client.post(
        "/patient/documents/ajouter",
        data={"csrf_token": csrf, "title": "Faux PDF", "type": "DOCPAT01"},
        files={
            "file": ("lettre.pdf", b"<html><script>alert(1)</script></html>", "application/pdf")
        },
    )
    assert fake_pdf.status_code == 422
    assert "le contenu est vérifié, pas l&#39;extension" in fake_pdf.text
    html = await client.post(
        "/patient/documents/ajouter",
        data={"csrf_token": csrf, "title": "Page", "type": "DOCPAT01"},
        files={"file": ("page.html", b"<html></html>", "text/html")},
    )
    assert html.status_code == 422
    wrong_type = await client.post(
        "/patient/documents/ajouter",
        data={"csrf_token": csrf, "title": "Lettre", "type": "11490-0"},
        files={"file": ("lettre.pdf", PDF, "application/pdf")},
    )
    assert wrong_type.status_code == 422
    too_large = await client.post(
        "/patient/documents/ajouter",
        data={"csrf_token": csrf, "title": "Gros", "type": "DOCPAT01"},
        files={"file": ("gros.pdf", PDF + b"0" * (20 * 1024 * 1024), "application/pdf")},
    )
    assert too_large.status_code == 413
    assert "dépasse 20 Mo" in too_large.text
    listing = await client.get("/patient/documents")
    assert "0 document(s) trouvé(s)" in listing.text
    del account


# --- successes ---------------------------------------------------------------------------------


async def test_first_sign_in_enrols_totp_with_a_qr_code(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await make_patient(ctx)
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": account.login, "password": account.one_time},
    )
    assert response.headers["location"] == "/patient/mot-de-passe"
    page = await client.get("/patient/mot-de-passe")
    assert "Mot de passe provisoire" in page.text
    weak = await client.post(
        "/patient/mot-de-passe",
        data={
            "csrf_token": csrf_of(page.text),
            "old_password": account.one_time,
            "new_password": "aaaa",
            "new_password_confirm": "aaaa",
        },
    )
    assert weak.status_code == 400
    assert "12 caractères au moins" in weak.text
    await client.post(
        "/patient/mot-de-passe",
        data={
            "csrf_token": csrf_of(page.text),
            "old_password": account.one_time,
            "new_password": PASSWORD,
            "new_password_confirm": PASSWORD,
        },
    )
    enrol = await client.get("/patient/double-authentification")
    assert enrol.status_code == 200
    assert "<svg" in enrol.text and 'class="segno"' in enrol.text
    assert "<script" not in enrol.text
    secret = _SECRET.search(enrol.text)
    assert secret
    wrong = await client.post(
        "/patient/double-authentification",
        data={"csrf_token": csrf_of(enrol.text), "secret": secret.group(1), "code": "000000"},
    )
    assert wrong.status_code == 401
    assert "Code incorrect" in wrong.text
    assert secret.group(1) in wrong.text  # the same secret, shown again
    right = await client.post(
        "/patient/double-authentification",
        data={
            "csrf_token": csrf_of(wrong.text),
            "secret": secret.group(1),
            "code": pyotp.TOTP(secret.group(1)).at(clock.now),
        },
    )
    assert right.status_code == 303
    home = await client.get("/patient?fait=totp")
    assert home.status_code == 200
    assert "Bonjour Alex FICTIF" in home.text
    assert "la double authentification est activée" in home.text
    # Sign out, then the next sign-in asks for the code (on the form or on its own page).
    await post_page(client, "/patient", "/patient/deconnexion", {})
    assert (await client.get("/patient")).status_code == 303
    clock.advance(seconds=30)
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": account.login, "password": PASSWORD},
    )
    assert response.headers["location"] == "/patient/code"
    code_page = await client.get("/patient/code")
    response = await client.post(
        "/patient/code",
        data={
            "csrf_token": csrf_of(code_page.text),
            "code": pyotp.TOTP(secret.group(1)).at(clock.now),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/patient"
    clock.advance(seconds=30)
    await post_page(client, "/patient", "/patient/deconnexion", {})
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {
            "login": account.login,
            "password": PASSWORD,
            "code": pyotp.TOTP(secret.group(1)).at(clock.now),
            "next": "/patient/historique",
        },
    )
    assert response.headers["location"] == "/patient/historique"


async def test_documents_are_listed_filtered_sorted_and_paged(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    for n in range(21):
        clock.advance(seconds=20)  # under the 15-minute idle timeout in all
        await deposit(ctx, account, title=f"Compte rendu numéro {n:02d}")
    clock.advance(seconds=20)
    await deposit(ctx, account, title="Ordonnance de kiné", type_code="57833-6")
    listing = await client.get("/patient/documents")
    assert listing.status_code == 200
    assert "22 document(s) trouvé(s)" in listing.text
    assert "<caption" in listing.text and 'scope="col"' in listing.text
    assert listing.text.index("Ordonnance de kiné") < listing.text.index("numéro 20")
    next_link = re.search(r'href="(\?[^"]*page=[^"]+)" rel="next"', listing.text)
    assert next_link, "a next page link"
    second = await client.get("/patient/documents" + next_link.group(1).replace("&amp;", "&"))
    assert "numéro 00" in second.text and "numéro 20" not in second.text
    by_title = await client.get("/patient/documents", params={"titre": "KINÉ"})
    assert "1 document(s)" in by_title.text or "Ordonnance de kiné" in by_title.text
    by_title = await client.get("/patient/documents", params={"titre": "numéro 1"})
    assert "10 document(s) trouvé(s)" in by_title.text
    by_type = await client.get("/patient/documents", params={"type": "57833-6"})
    assert "1 document(s) trouvé(s)" in by_type.text
    oldest = await client.get("/patient/documents", params={"tri": "date"})
    assert oldest.text.index("numéro 00") < oldest.text.index("numéro 01")
    by_author = await client.get("/patient/documents", params={"auteur": "TESTPRO31"})
    assert "22 document(s)" in by_author.text
    nobody = await client.get("/patient/documents", params={"auteur": "PERSONNE"})
    assert "0 document(s)" in nobody.text
    future = await client.get("/patient/documents", params={"du": "2030-01-01"})
    assert "0 document(s)" in future.text
    today = clock.now.date().isoformat()
    dated = await client.get("/patient/documents", params={"du": today, "au": today})
    assert "22 document(s)" in dated.text
    bad = await client.get("/patient/documents", params={"du": "pas une date"})
    assert bad.status_code == 422
    assert "critère de recherche" in bad.text


async def test_a_pdf_is_shown_in_a_frame_sandboxed_by_strict_headers(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    doc = await deposit(ctx, account, title="Lettre de sortie")
    page = await client.get(f"/patient/documents/{doc.id}")
    assert page.status_code == 200
    assert f'<iframe src="/patient/documents/{doc.id}/contenu"' in page.text
    assert 'data-sandboxed-by="csp"' in page.text
    assert "Content-Security-Policy" in page.headers
    content = await client.get(f"/patient/documents/{doc.id}/contenu")
    assert content.status_code == 200
    assert content.content == PDF
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["content-disposition"].startswith("inline")
    download = await client.get(f"/patient/documents/{doc.id}/telecharger")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.content == PDF
    # Each look is an audited consultation.
    async with ctx.uow() as uow:
        reads = (
            await uow.session.execute(
                whole_database(
                    select(m.AuditEvent.id).where(
                        m.AuditEvent.action == "document:document:read",
                        m.AuditEvent.target_document_id == doc.id,
                    )
                )
            )
        ).all()
    assert len(reads) == 3


async def test_a_level_1_cda_shows_what_it_carries(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    body = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody>'
        '<text mediaType="application/pdf" representation="B64">'
        + base64.b64encode(PDF).decode()
        + "</text></nonXMLBody></component></ClinicalDocument>"
    ).encode()
    pdf_doc = await deposit(ctx, account, title="CDA PDF", content=body, mime_type="text/xml")
    page = await client.get(f"/patient/documents/{pdf_doc.id}")
    assert "<iframe src=" in page.text
    assert (await client.get(f"/patient/documents/{pdf_doc.id}/contenu")).content == PDF
    inner = await client.get(f"/patient/documents/{pdf_doc.id}/telecharger?contenu=1")
    assert inner.content == PDF
    text = (
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody>'
        b'<text mediaType="text/plain">Bonjour &lt;b&gt;docteur&lt;/b&gt;</text>'
        b"</nonXMLBody></component></ClinicalDocument>"
    )
    text_doc = await deposit(ctx, account, title="CDA texte", content=text, mime_type="text/xml")
    page = await client.get(f"/patient/documents/{text_doc.id}")
    assert "Bonjour &lt;b&gt;docteur&lt;/b&gt;" in page.text
    image = await deposit(
        ctx, account, title="Radio", content=PNG, mime_type="image/png", format_code="x"
    )
    page = await client.get(f"/patient/documents/{image.id}")
    assert f'<img src="/patient/documents/{image.id}/contenu"' in page.text
    assert (await client.get(f"/patient/documents/{image.id}/contenu")).content == PNG


async def test_masking_and_masking_new_documents_by_default(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    doc = await deposit(ctx, account, title="Compte rendu psy")
    csrf = await csrf_from(client, "/patient/documents")
    masked = await client.post(
        f"/patient/documents/{doc.id}/masquer",
        data={"csrf_token": csrf, "masque": "1", "retour": "/patient/documents?titre=psy"},
    )
    assert masked.status_code == 303
    assert masked.headers["location"] == "/patient/documents?titre=psy&fait=masked"
    page = await client.get(masked.headers["location"])
    assert "Masqué aux professionnels" in page.text
    assert "le document est masqué aux professionnels" in page.text
    view, _ = await read_document(
        ctx, actor=patient_actor(account.ins), ins=account.ins, document_id=doc.id
    )
    assert view.masked_by_patient
    await client.post(
        f"/patient/documents/{doc.id}/masquer",
        data={"csrf_token": csrf, "masque": "0", "retour": f"/patient/documents/{doc.id}"},
    )
    view, _ = await read_document(
        ctx, actor=patient_actor(account.ins), ins=account.ins, document_id=doc.id
    )
    assert not view.masked_by_patient
    # Mask new documents by default, then a new deposit arrives masked.
    response = await post_page(
        client,
        "/patient/choix",
        "/patient/choix/notifications",
        {"on_access": "1", "mask_new_documents": "1"},
    )
    assert response.headers["location"] == "/patient/choix?fait=notifications"
    page = await client.get("/patient/choix")
    assert re.search(r'name="mask_new_documents" value="1" checked', page.text)
    assert not re.search(r'name="on_new_document" value="1" checked', page.text)
    fresh = await deposit(ctx, account, title="Nouveau")
    assert fresh.masked_by_patient


async def test_emergency_choices_are_saved(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    response = await post_page(
        client,
        "/patient/choix",
        "/patient/choix/urgence",
        {"allow_regulation": "permit", "allow_break_glass": "deny", "allow_masked": "deny"},
    )
    assert response.headers["location"] == "/patient/choix?fait=emergency"
    view = await records.show_record(ctx, actor=patient_actor(account.ins), ins=account.ins)
    assert view.emergency.allow_regulation
    assert not view.emergency.allow_break_glass
    assert not view.emergency.allow_masked_in_emergency
    page = await client.get("/patient/choix")
    assert re.search(r'name="allow_break_glass" value="deny" checked', page.text)


async def test_the_history_words_every_trace_and_shows_a_foreign_code_as_such(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    """Labels come from the audit vocabulary (audit/vocabulary.py); a code another version
    stored is listed with a visible generic label, not hidden, and the page still renders."""
    account = await signed_in(client, ctx, clock)
    await store_foreign_event(ctx, account.ins, "record:record:teleport")
    page = await client.get("/patient/historique")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "a créé le DMP" in text
    assert "a fait une action non répertoriée (record:record:teleport)" in text


async def test_the_history_shows_accesses_highlights_emergencies_and_takes_reports(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    doc = await deposit(ctx, account, title="Bilan")
    rescuer = dataclasses.replace(
        make_professional(33, organization="1750100125"),
        access_mode=AccessMode.BREAK_GLASS,
        justification="patient inconscient aux urgences",
    )
    await open_emergency_access(ctx, actor=rescuer, ins=account.ins)
    await read_document(ctx, actor=rescuer, ins=account.ins, document_id=doc.id)
    page = await client.get("/patient/historique")
    assert page.status_code == 200
    assert "<caption" in page.text
    assert "TESTPRO33 Dominique" in page.text
    assert "URGENCE — bris de glace" in page.text  # words, not only a colour
    assert 'class="emergency-row"' in page.text
    assert "a consulté un document" in page.text
    assert "TESTPRO31 Dominique" in page.text  # the deposit
    only = await client.get("/patient/historique", params={"pro": rescuer.idnat})
    assert "TESTPRO31 Dominique" not in only.text.split("<table")[1]
    assert "TESTPRO33 Dominique" in only.text
    none = await client.get("/patient/historique", params={"au": "2000-01-01"})
    assert "Aucun événement" in none.text
    event = re.search(r'name="event" value="(\d+)"', only.text)
    assert event
    response = await client.post(
        "/patient/historique/signaler",
        data={
            "csrf_token": csrf_of(only.text),
            "event": event.group(1),
            "comment": "Je n'étais pas aux urgences",
            "retour": f"/patient/historique?pro={rescuer.idnat}",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("fait=reported")
    async with ctx.uow() as uow:
        reported = (
            await uow.session.execute(
                whole_database(
                    select(m.AuditEvent.details).where(
                        m.AuditEvent.action == "record:access:reported"
                    )
                )
            )
        ).scalar_one()
    assert reported is not None
    assert orjson.loads(reported)["event_id"] == int(event.group(1))


async def test_my_professionals_block_unblock_remove_and_treating_doctors(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    from opendmp.services.access.authorisations import declare_authorization

    account = await signed_in(client, ctx, clock)
    await declare_authorization(ctx, actor=DOCTOR, ins=account.ins)
    page = await client.get("/patient/professionnels")
    assert page.status_code == 200
    assert "TESTPRO31 Dominique" in page.text and "Votre autorisation" in page.text
    target = {"kind": "professional", "idnat": DOCTOR.idnat}
    response = await post_page(
        client, "/patient/professionnels", "/patient/professionnels/bloquer", target
    )
    assert response.headers["location"] == "/patient/professionnels?fait=blocked"
    page = await client.get(response.headers["location"])
    assert "BLOQUÉ" in page.text and "Débloquer" in page.text
    entries = await list_access(ctx, actor=patient_actor(account.ins), ins=account.ins)
    assert entries[0].state.value == "INTERDIT"
    await post_page(client, "/patient/professionnels", "/patient/professionnels/debloquer", target)
    await post_page(
        client,
        "/patient/professionnels",
        "/patient/professionnels/medecin-traitant",
        {**target, "on": "1"},
    )
    page = await client.get("/patient/professionnels")
    assert "Médecin traitant DMP" in page.text
    await post_page(client, "/patient/professionnels", "/patient/professionnels/retirer", target)
    await post_page(
        client,
        "/patient/professionnels",
        "/patient/professionnels/medecin-traitant",
        {**target, "on": "0"},
    )
    entries = await list_access(ctx, actor=patient_actor(account.ins), ins=account.ins)
    assert entries == []
    # An establishment, blocked ahead of any access; a bad identifier says so.
    response = await post_page(
        client,
        "/patient/professionnels",
        "/patient/professionnels/bloquer",
        {"kind": "organization", "idnat": "1750100125"},
    )
    assert response.status_code == 303
    bad = await post_page(
        client,
        "/patient/professionnels",
        "/patient/professionnels/bloquer",
        {"kind": "professional", "idnat": "12"},
    )
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text
    not_doctor = await post_page(
        client,
        "/patient/professionnels",
        "/patient/professionnels/medecin-traitant",
        {"kind": "professional", "idnat": "899700000000"[:-1] + "9", "on": "1"},
    )
    assert not_doctor.status_code >= 400


async def test_a_patient_adds_their_own_document(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    page = await client.get("/patient/documents/ajouter")
    assert 'enctype="multipart/form-data"' in page.text
    response = await client.post(
        "/patient/documents/ajouter",
        data={"csrf_token": csrf_of(page.text), "title": "Mes directives", "type": "EXPPAT_1"},
        files={"file": ("directives.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 303, response.text
    shown = await client.get(response.headers["location"])
    assert "Mes directives" in shown.text and "votre document a été ajouté" in shown.text
    text = await client.post(
        "/patient/documents/ajouter",
        data={"csrf_token": csrf_of(page.text), "title": "Note", "type": "DOCPAT01"},
        files={"file": ("note.bin", b"\x89PNG\r\n\x1a\n" + b"1" * 10, "application/octet-stream")},
    )
    assert text.status_code == 303  # no useful declared type: the bytes say PNG
    listing = await client.get("/patient/documents")
    assert "2 document(s)" in listing.text and "Vous" in listing.text
    del account


async def test_export_close_destruction_and_reactivation(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    await deposit(ctx, account, title="Compte rendu exporté")
    exported = await post_page(client, "/patient/dossier", "/patient/dossier/export", {})
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    assert exported.headers["content-disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert any(name.endswith(".pdf") for name in archive.namelist())
    page = await client.get("/patient/dossier")
    assert "10 ans" in page.text
    closed = await post_page(
        client,
        "/patient/dossier",
        "/patient/dossier/fermer",
        {"password": PASSWORD, "confirm": "yes", "text": "Je déménage"},
    )
    assert closed.headers["location"] == "/patient/dossier?fait=closed"
    assert await status_of(ctx, account.ins) is RecordStatus.CLOSED
    async with ctx.uow() as uow:
        reason = (await uow.session.execute(select(m.Record.closure_reason))).scalar_one()
    assert reason == "FERMETURE_DEMANDE_PATIENT"
    documents = await client.get("/patient/documents")
    assert documents.status_code == 403
    assert "Votre DMP est fermé" in documents.text
    home = await client.get("/patient")
    assert "Votre DMP est fermé" in home.text
    requested = await post_page(
        client, "/patient/dossier", "/patient/dossier/destruction", {"confirm": "yes"}
    )
    assert requested.headers["location"] == "/patient/dossier?fait=destruction"
    page = await client.get("/patient/dossier")
    assert "Destruction demandée" in page.text
    reactivated = await post_page(
        client,
        "/patient/dossier",
        "/patient/dossier/reactiver",
        {"allow_regulation": "permit", "allow_break_glass": "permit", "allow_masked": "deny"},
    )
    assert reactivated.headers["location"] == "/patient?fait=reactivated"
    assert await status_of(ctx, account.ins) is RecordStatus.ACTIVE
    listing = await client.get("/patient/documents")
    assert "Compte rendu exporté" in listing.text


async def test_password_reset_by_an_emailed_code(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    await post_page(client, "/patient", "/patient/deconnexion", {})
    response = await post_page(
        client, "/patient/mot-de-passe-oublie", "/patient/mot-de-passe-oublie", {"login": "inconnu"}
    )
    assert response.status_code == 303  # the same answer for an unknown login
    response = await post_page(
        client,
        "/patient/mot-de-passe-oublie",
        "/patient/mot-de-passe-oublie",
        {"login": account.login},
    )
    assert response.status_code == 303
    async with ctx.uow() as uow:
        payload = (
            await uow.session.execute(
                select(m.Outbox.payload).where(m.Outbox.kind == "password-reset")
            )
        ).scalar_one()
    code = str(orjson.loads(payload)["code"])
    page = await client.get(response.headers["location"])
    assert account.login in page.text
    new = "another long passphrase here"
    wrong = await client.post(
        "/patient/mot-de-passe-oublie/code",
        data={
            "csrf_token": csrf_of(page.text),
            "login": account.login,
            "code": "00000000",
            "new_password": new,
            "new_password_confirm": new,
        },
    )
    assert wrong.status_code == 401
    assert "Ce code est faux" in wrong.text
    done = await client.post(
        "/patient/mot-de-passe-oublie/code",
        data={
            "csrf_token": csrf_of(page.text),
            "login": account.login,
            "code": code,
            "new_password": new,
            "new_password_confirm": new,
        },
    )
    assert done.headers["location"] == "/patient/connexion?fait=reset"
    clock.advance(seconds=30)
    response = await post_page(
        client,
        "/patient/connexion",
        "/patient/connexion",
        {"login": account.login, "password": new, "code": pyotp.TOTP(account.secret).at(clock.now)},
    )
    assert response.headers["location"] == "/patient"


async def test_sign_out_everywhere_ends_every_session(
    client: httpx.AsyncClient, web_app: object, ctx: ServiceContext, clock: Clock
) -> None:
    account = await signed_in(client, ctx, clock)
    transport = httpx.ASGITransport(app=web_app, client=("192.0.2.11", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as other:
        clock.advance(seconds=30)
        await post_page(
            other,
            "/patient/connexion",
            "/patient/connexion",
            {
                "login": account.login,
                "password": PASSWORD,
                "code": pyotp.TOTP(account.secret).at(clock.now),
            },
        )
        assert (await other.get("/patient")).status_code == 200
        page = await client.get("/patient/compte")
        assert account.login in page.text
        response = await client.post(
            "/patient/deconnexion-partout", data={"csrf_token": csrf_of(page.text)}
        )
        assert response.headers["location"] == "/patient/connexion?fait=signed-out-all"
        assert (await other.get("/patient")).status_code == 303
    assert (await client.get("/patient")).status_code == 303


async def test_pages_are_in_english_on_request(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await signed_in(client, ctx, clock)
    await client.get("/langue?lang=en&next=/patient")
    page = await client.get("/patient/documents")
    assert '<html lang="en">' in page.text
    assert "My documents" in page.text and "Mes documents" not in page.text
    history = await client.get("/patient/historique")
    assert "Access history" in history.text


def test_every_wording_the_pages_compose_exists_in_both_languages() -> None:
    from opendmp.domain.actors import AccessMode as Mode
    from opendmp.services.access.authorisations import AccessBasis, AccessState
    from opendmp.web.i18n import catalogue
    from opendmp.web.patient.catalogue import DONE_KEYS
    from opendmp.web.patient.documents import SORTS

    keys = [f"patient.done.{key}" for key in DONE_KEYS]
    keys += [f"patient.docs.sort.{sort}" for sort in SORTS]
    keys += [f"patient.history.mode.{mode.value}" for mode in Mode]
    keys += [f"patient.pros.basis.{basis.value}" for basis in AccessBasis]
    keys += [f"patient.pros.state.{state.value}" for state in AccessState]
    keys += [f"patient.record.status.{status.value}" for status in RecordStatus]
    wording = catalogue()
    for key in keys:
        assert key in wording, key
        assert wording[key].get("fr") and wording[key].get("en"), key
    for key, entry in wording.items():
        if key.startswith("patient."):
            assert entry.get("fr") and entry.get("en"), key
