"""Admission desk (/accueil): refusals first — no sign-in, no CSRF token, an identity the
registry does not know, no consent, no contact channel — then a desk agent (CPE) creates a
record with a traced consent and hands over the welcome letter, downloadable once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import unescape

import httpx
from sqlalchemy import func, select

from opendmp.devtools.demo import DESK, ESTABLISHMENT, OTHER_PEOPLE, PATIENTS
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.domain.records import ClosureReason
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from opendmp.services.records.notice import current_notice
from opendmp.storage import models as m
from opendmp.web import i18n
from tests.factories import OPERATOR, new_record
from tests.web.conftest import csrf_of, post_form, sign_in

ALIX = OTHER_PEOPLE[0]  # DEMO-NOUVELLE Alix Marie, 1985-03-12, no record yet
IDENTITY = {
    "ins": ALIX.ins,
    "birth_name": ALIX.birth_name,
    "given_names": " ".join(ALIX.given),
    "birth_date": ALIX.birth_date.isoformat(),
    "sex": ALIX.sex,
}


async def record_count(ctx: ServiceContext) -> int:
    async with ctx.uow() as uow:
        return int((await uow.session.execute(select(func.count(m.Record.id)))).scalar_one())


async def consent_page(client: httpx.AsyncClient, identity: dict[str, str]) -> httpx.Response:
    response = await post_form(client, "/accueil", "/accueil/identite", identity)
    assert response.status_code == 200, response.text
    return response


async def post_consent(client: httpx.AsyncClient, page: httpx.Response) -> httpx.Response:
    """The consent form of ``page`` posted as the person agreed: the record is created."""
    return await client.post(
        "/accueil/creer",
        data={
            "csrf_token": csrf_of(page.text),
            "notice_version": current_notice().version,
            "consent": "yes",
            "allow_regulation": "permit",
            "allow_break_glass": "deny",
            "allow_masked": "deny",
            "email": "alix.nouvelle@example.org",
        },
    )


# --- refusals ---------------------------------------------------------------------------------


async def test_an_anonymous_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/accueil")
    assert response.status_code == 303
    assert response.headers["location"] == "/pro/connexion?next=/accueil"
    posted = await client.post("/accueil/creer", data={"consent": "yes"})
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/pro/connexion")


async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client)
    response = await client.post("/accueil/identite", data=IDENTITY)
    assert response.status_code == 403
    assert "csrf-failed" in response.text
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("text/html")
    forged = await client.post("/accueil/identite", data={**IDENTITY, "csrf_token": "0" * 64})
    assert forged.status_code == 403


async def test_the_sign_in_form_needs_its_csrf_token_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/pro/connexion/demo", data={"who": "desk"})
    assert response.status_code == 403
    assert "opendmp_staff" not in response.headers.get("set-cookie", "")


async def test_card_sign_in_without_a_card_certificate_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await post_form(client, "/pro/connexion", "/pro/connexion/carte", {})
    assert response.status_code == 401
    assert "Aucun certificat de carte" in response.text
    assert (await client.get("/accueil")).status_code == 303


async def test_an_identity_the_registry_does_not_confirm_is_refused(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client)
    wrong = {**IDENTITY, "birth_date": "1985-03-13"}
    response = await post_form(client, "/accueil", "/accueil/identite", wrong)
    assert response.status_code == 422
    assert "ne correspond pas au référentiel" in response.text
    assert "date de naissance" in response.text
    unknown = {**IDENTITY, "ins": PATIENTS[0].ins, "birth_name": "INCONNU"}
    response = await post_form(client, "/accueil", "/accueil/identite", unknown)
    assert response.status_code == 422
    assert "nom de naissance" in response.text
    assert await record_count(ctx) == 0


async def test_without_the_consent_box_nothing_is_created(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client)
    page = await consent_page(client, IDENTITY)
    assert current_notice().sha256 in page.text
    response = await client.post(
        "/accueil/creer",
        data={
            "csrf_token": csrf_of(page.text),
            "notice_version": current_notice().version,
            "email": "alix@example.org",
        },
    )
    assert response.status_code == 422
    assert "consentement exprès" in response.text
    assert 'role="alert"' in response.text
    assert await record_count(ctx) == 0


async def test_without_a_contact_channel_nothing_is_created(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client)
    page = await consent_page(client, IDENTITY)
    response = await client.post(
        "/accueil/creer",
        data={
            "csrf_token": csrf_of(page.text),
            "notice_version": current_notice().version,
            "consent": "yes",
        },
    )
    assert response.status_code == 422
    assert "moyen de contact" in response.text
    assert await record_count(ctx) == 0


async def test_the_consent_form_cannot_be_posted_without_a_checked_identity(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client)
    response = await post_form(
        client, "/accueil", "/accueil/creer", {"consent": "yes", "email": "a@example.org"}
    )
    assert response.status_code == 409
    assert "journey-expired" in response.text
    assert await record_count(ctx) == 0


# --- success ----------------------------------------------------------------------------------


async def test_a_desk_agent_creates_the_record_and_prints_the_letter_once(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await sign_in(client, "desk")  # a CPE card: may create, never reads
    page = await consent_page(client, IDENTITY)
    for header, value in {
        "content-security-policy": "default-src 'self'; frame-ancestors 'none'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }.items():
        assert page.headers[header] == value
    response = await post_consent(client, page)
    assert response.status_code == 303
    assert response.headers["location"] == "/accueil/cree"

    ins = parse_ins(ALIX.ins, INS_NIR_TEST_OID)
    async with ctx.uow() as uow:
        record, consent = (
            await uow.session.execute(
                select(m.Record, m.Consent)
                .join(m.Patient, m.Patient.id == m.Record.patient_id)
                .join(
                    m.Consent,
                    (m.Consent.record_id == m.Record.id)
                    & (m.Consent.id == m.Record.creation_consent_id),
                )
                .where(m.Patient.ins_value == ins.value)
            )
        ).one()
        assert record.status == "active"
        assert (record.allow_regulation, record.allow_break_glass) == (True, False)
        assert record.allow_masked_in_emergency is False
        assert consent.channel == "desk"
        assert consent.captured_by_kind == "professional"
        assert consent.captured_by_id == DESK.actor.idnat
        assert consent.place == ESTABLISHMENT
        assert consent.notice_version == current_notice().version
        assert consent.notice_sha256 == current_notice().sha256

    created = await client.get("/accueil/cree")
    assert created.status_code == 200
    assert "DEMO-NOUVELLE" in created.text
    letter_id = created.text.split('name="letter_id" value="')[1].split('"')[0]
    download = {"csrf_token": csrf_of(created.text), "letter_id": letter_id}
    first = await client.post("/accueil/lettre", data=download)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/pdf"
    assert first.headers["cache-control"] == "no-store"
    assert "attachment" in first.headers["content-disposition"]
    assert first.content.startswith(b"%PDF")
    second = await client.post("/accueil/lettre", data=download)
    assert second.status_code == 410
    assert "une seule fois" in second.text
    again = await client.get("/accueil/cree")
    assert 'name="letter_id"' not in again.text


async def test_the_letter_cannot_be_taken_from_another_session(
    client: httpx.AsyncClient, web_app: object, ctx: ServiceContext
) -> None:
    await sign_in(client)
    page = await consent_page(client, IDENTITY)
    await client.post(
        "/accueil/creer",
        data={
            "csrf_token": csrf_of(page.text),
            "notice_version": current_notice().version,
            "consent": "yes",
            "mobile": "+33 6 00 00 00 00",
        },
    )
    created = await client.get("/accueil/cree")
    letter_id = created.text.split('name="letter_id" value="')[1].split('"')[0]
    transport = httpx.ASGITransport(app=web_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as other:
        await sign_in(other, "nurse")
        home = await other.get("/accueil")
        stolen = await other.post(
            "/accueil/lettre", data={"csrf_token": csrf_of(home.text), "letter_id": letter_id}
        )
    assert stolen.status_code == 410
    mine = await client.post(
        "/accueil/lettre", data={"csrf_token": csrf_of(created.text), "letter_id": letter_id}
    )
    assert mine.status_code == 200


async def read_card(client: httpx.AsyncClient, card: Mapping[str, object]) -> httpx.Response:
    home = await client.get("/accueil")
    return await client.post(
        "/accueil/carte",
        data={"csrf_token": csrf_of(home.text)},
        files={"card": ("carte.json", json.dumps(card).encode(), "application/json")},
    )


async def test_a_one_person_card_is_not_said_to_cover_several(client: httpx.AsyncClient) -> None:
    jules = PATIENTS[1]
    insured = {
        "nir": jules.ins,
        "birth_name": jules.birth_name,
        "given_names": [jules.given],
        "birth_date": jules.birth_date.isoformat(),
        "birth_rank": 1,
    }
    await sign_in(client)
    response = await read_card(
        client,
        {
            "format": "opendmp-vitale/1",
            "serial": "1234567890",
            "insured": insured,
            "beneficiaries": [],
        },
    )
    assert response.status_code == 200
    assert "La carte porte une seule personne." in unescape(response.text)
    assert "plusieurs personnes" not in response.text


async def test_a_card_file_lists_the_people_it_covers(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    card = {
        "format": "opendmp-vitale/1",
        "serial": "1234567890",
        "insured": {
            "nir": PATIENTS[1].ins,
            "birth_name": PATIENTS[1].birth_name,
            "given_names": [PATIENTS[1].given],
            "birth_date": PATIENTS[1].birth_date.isoformat(),
            "birth_rank": 1,
        },
        "beneficiaries": [
            {
                "ins": None,
                "birth_name": ALIX.birth_name,
                "given_names": list(ALIX.given[:1]),
                "birth_date": ALIX.birth_date.isoformat(),
                "birth_rank": 1,
            }
        ],
    }
    await sign_in(client)
    home = await client.get("/accueil")
    response = await read_card(client, card)
    assert response.status_code == 200
    assert "La carte couvre plusieurs personnes." in response.text
    assert "DEMO-NOUVELLE Alix" in response.text
    assert "ESSAI Jules" in response.text
    assert "INS non connu de la carte" in response.text
    # Pick the beneficiary: the registry finds her INS from her traits.
    forms = response.text.split("<form")[1:]
    chosen = next(f for f in forms if "DEMO-NOUVELLE" in f)
    fields = dict(
        (part.split('name="')[1].split('"')[0], part.split('value="')[1].split('"')[0])
        for part in chosen.split("<input")[1:]
    )
    picked = await client.post("/accueil/identite", data=fields)
    assert picked.status_code == 200
    assert ALIX.ins in picked.text
    assert "Information et consentement" in picked.text

    broken = await client.post(
        "/accueil/carte",
        data={"csrf_token": csrf_of(home.text)},
        files={"card": ("carte.json", b"{not json", "application/json")},
    )
    assert broken.status_code == 422
    assert "Carte Vitale" in broken.text


async def test_a_closed_record_is_offered_for_reactivation(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    ins = parse_ins(ALIX.ins, INS_NIR_TEST_OID)
    await records.create_record(
        ctx,
        actor=OPERATOR,
        request=new_record(
            ins,
            ctx.now(),
            birth_name=ALIX.birth_name,
            given_names=ALIX.given,
            birth_date=ALIX.birth_date,
        ),
    )
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    await sign_in(client)
    page = await consent_page(client, IDENTITY)
    assert "DMP fermé" in page.text
    response = await client.post(
        "/accueil/reactiver",
        data={"csrf_token": csrf_of(page.text), "allow_break_glass": "deny"},
    )
    assert response.status_code == 200
    assert "réactivé" in response.text
    view = await records.show_record(ctx, actor=OPERATOR, ins=ins)
    assert view.status.value == "active"
    assert view.emergency.allow_break_glass is False


async def test_the_pages_switch_to_english_and_keep_french_by_default(
    client: httpx.AsyncClient,
) -> None:
    french = await client.get("/pro/connexion")
    assert '<html lang="fr">' in french.text
    assert 'href="#main"' in french.text
    switched = await client.get("/langue?lang=en&next=/pro/connexion")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/pro/connexion"
    english = await client.get("/pro/connexion")
    assert '<html lang="en">' in english.text
    assert "Professional sign-in" in english.text
    outside = await client.get("/langue?lang=en&next=//evil.example/")
    assert outside.headers["location"] == "/accueil"


def test_every_wording_exists_in_french_and_in_english() -> None:
    for key, entry in i18n.catalogue().items():
        assert entry.get("fr") is not None, key
        assert "en" in entry, key
    assert i18n.t("desk.created", "en", name="X") == "X's DMP was created."
    assert i18n.t("no.such.key", "fr") == "no.such.key"
