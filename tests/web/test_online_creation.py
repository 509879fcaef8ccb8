"""Online creation by an adult (/patient/creer): refusals first — a minor, an identity the
registry does not confirm, a wrong e-mail code, a form without CSRF token, no consent —
then an adult opens their DMP with a consent captured by themself and signs in with the
password they chose."""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy import func, select

from opendmp.devtools.demo import OTHER_PEOPLE, DemoPerson, vitale_serial_of
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services.accounts import patient_accounts as accounts
from opendmp.services.accounts.sessions import Stage
from opendmp.services.core.context import ServiceContext
from opendmp.services.records.notice import current_notice
from opendmp.storage import models as m
from tests.web.conftest import csrf_of, post_form

SACHA = OTHER_PEOPLE[2]  # DEMO-ENLIGNE Sacha, adult, no record
LOU = OTHER_PEOPLE[3]  # DEMO-MINEURE Lou, born 2012: a minor
PASSWORD = "un mot de passe solide 2026"


def identity(person: DemoPerson, **overrides: str) -> dict[str, str]:
    fields = {
        "ins": person.ins,
        "birth_name": person.birth_name,
        "given_names": " ".join(person.given),
        "birth_date": person.birth_date.isoformat(),
        "sex": person.sex,
        "vitale_serial": vitale_serial_of(person.nir13),
        "email": "sacha.enligne@example.org",
    }
    fields.update(overrides)
    return fields


async def record_count(ctx: ServiceContext) -> int:
    async with ctx.uow() as uow:
        return int((await uow.session.execute(select(func.count(m.Record.id)))).scalar_one())


async def sent_codes(ctx: ServiceContext) -> list[str]:
    async with ctx.uow() as uow:
        rows = (
            await uow.session.execute(
                select(m.Outbox.payload)
                .where(m.Outbox.kind == "email-proof")
                .order_by(m.Outbox.created_at)
            )
        ).scalars()
        return [orjson.loads(row)["code"] for row in rows]


async def start(client: httpx.AsyncClient, ctx: ServiceContext) -> tuple[httpx.Response, str]:
    """Step 1 for Sacha; returns the step-2 page and the e-mailed code."""
    response = await post_form(client, "/patient/creer", "/patient/creer", identity(SACHA))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/patient/creer/confirmer"
    page = await client.get("/patient/creer/confirmer")
    assert page.status_code == 200
    return page, (await sent_codes(ctx))[-1]


def step2(page: httpx.Response, code: str, **overrides: str | None) -> dict[str, str]:
    data: dict[str, str | None] = {
        "csrf_token": csrf_of(page.text),
        "code": code,
        "notice_version": current_notice().version,
        "consent": "yes",
        "allow_regulation": "permit",
        "allow_break_glass": "permit",
        "allow_masked": "deny",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- refusals ---------------------------------------------------------------------------------


async def test_a_minor_cannot_create_a_record_online(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    response = await post_form(
        client, "/patient/creer", "/patient/creer", identity(LOU, email="lou@example.org")
    )
    assert response.status_code == 422
    assert "réservée aux personnes majeures" in response.text
    assert await sent_codes(ctx) == []
    assert await record_count(ctx) == 0


async def test_an_identity_the_registry_does_not_confirm_is_refused_without_details(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    for wrong in (
        identity(SACHA, vitale_serial="0000000000"),
        identity(SACHA, birth_date="1988-08-22"),
        identity(SACHA, ins=OTHER_PEOPLE[1].ins),
    ):
        response = await post_form(client, "/patient/creer", "/patient/creer", wrong)
        assert response.status_code == 422
        assert "ne correspond pas au référentiel" in response.text
        # A public form must not tell which trait is wrong.
        assert "Différences" not in response.text
    assert await sent_codes(ctx) == []


async def test_a_wrong_email_code_creates_nothing(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page, code = await start(client, ctx)
    wrong = "00000000" if code != "00000000" else "11111111"
    response = await client.post("/patient/creer/confirmer", data=step2(page, wrong))
    assert response.status_code == 401
    assert "code est faux" in response.text
    assert await record_count(ctx) == 0


async def test_the_confirmation_needs_its_csrf_token(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page, code = await start(client, ctx)
    data = step2(page, code)
    del data["csrf_token"]
    response = await client.post("/patient/creer/confirmer", data=data)
    assert response.status_code == 403
    # A token for the anonymous first step does not fit the journey's session either.
    first = await client.get("/patient/creer")
    response = await client.post(
        "/patient/creer/confirmer", data={**data, "csrf_token": csrf_of(first.text)}
    )
    assert response.status_code == 403
    assert await record_count(ctx) == 0


async def test_without_consent_nothing_is_created_and_the_code_is_not_asked_again(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page, code = await start(client, ctx)
    response = await client.post("/patient/creer/confirmer", data=step2(page, code, consent=None))
    assert response.status_code == 422
    assert "consentement exprès" in response.text
    assert "Adresse e-mail vérifiée" in response.text
    assert await record_count(ctx) == 0
    weak = await client.post(
        "/patient/creer/confirmer",
        data=step2(response, "", password="court", password_confirm="court"),
    )
    assert weak.status_code == 422
    assert await record_count(ctx) == 0


async def test_a_step_two_without_step_one_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/patient/creer/confirmer")
    assert response.status_code == 409
    assert "journey-expired" in response.text


# --- success ----------------------------------------------------------------------------------


async def test_an_adult_creates_their_record_and_signs_in_with_their_password(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page, code = await start(client, ctx)
    assert "sacha.enligne@example.org" in page.text
    response = await client.post("/patient/creer/confirmer", data=step2(page, code))
    assert response.status_code == 200, response.text
    assert "Votre DMP est créé" in response.text
    login = response.text.split("Votre identifiant de connexion : ")[1].split(".")[0]

    ins = parse_ins(SACHA.ins, INS_NIR_TEST_OID)
    async with ctx.uow() as uow:
        record, consent, patient = (
            await uow.session.execute(
                select(m.Record, m.Consent, m.Patient)
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
        assert record.allow_masked_in_emergency is False
        assert consent.channel == "online"
        assert consent.captured_by_kind == "patient"
        assert consent.captured_by_id == str(ins)
        assert consent.notice_sha256 == current_notice().sha256
        assert patient.email == "sacha.enligne@example.org"

    signed = await accounts.login(ctx, login=login, password=PASSWORD)
    assert signed.stage is Stage.TOTP_ENROLMENT  # the second factor comes at first sign-in
    # The journey is over: its session is gone.
    assert (await client.get("/patient/creer/confirmer")).status_code == 409
    again = await post_form(client, "/patient/creer", "/patient/creer", identity(SACHA))
    assert again.status_code == 422
    assert "déjà un DMP" in again.text
