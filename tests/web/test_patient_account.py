"""The patient's account over ASGI, on both databases: the TOTP key of the enrolment page
survives a reload (until it expires), the forgotten login is e-mailed to the account's
address without telling whether an account has it, the e-mail address changes only with
the code sent to the new address, and the portal's refusals are French, below the menu,
without the services' English."""

from __future__ import annotations

import re

import httpx
import orjson
from sqlalchemy import select

from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.web.conftest import csrf_of
from tests.web.test_patient_portal import (
    make_patient,
    post_page,
    replace_one_time_password,
    signed_in,
)
from tests.web.test_site import ENGLISH, alert_text

_SECRET = re.compile(r'data-secret="([A-Z2-7]+)"')
ADDRESS = "alex.fictif@example.org"  # the factories' patient address


async def outbox(ctx: ServiceContext, kind: str) -> list[tuple[str, dict[str, str]]]:
    async with ctx.uow() as uow:
        rows = (
            await uow.session.execute(
                select(m.Outbox.recipient, m.Outbox.payload)
                .where(m.Outbox.kind == kind)
                .order_by(m.Outbox.created_at)
            )
        ).all()
    return [(recipient, orjson.loads(payload)) for recipient, payload in rows]


async def patient_email(ctx: ServiceContext) -> list[str | None]:
    async with ctx.uow() as uow:
        return list((await uow.session.execute(select(m.Patient.email))).scalars())


async def test_the_totp_key_survives_a_reload_until_it_expires(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await replace_one_time_password(client, await make_patient(ctx))

    async def shown() -> str:
        page = await client.get("/patient/double-authentification")
        found = _SECRET.search(page.text)
        assert page.status_code == 200 and found
        return found.group(1)

    first = await shown()
    for _ in range(2):  # reloaded: the QR code already scanned still works
        clock.advance(minutes=10)
        assert await shown() == first
    clock.advance(minutes=11)
    assert await shown() != first  # more than 30 minutes: a new key


async def test_a_forgotten_login_is_e_mailed_to_the_account_address_only(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    account = await make_patient(ctx)
    page = await client.get("/patient/connexion")
    assert 'href="/patient/identifiant-oublie"' in page.text

    for typed in ("personne@example.org", ADDRESS.upper()):
        response = await post_page(
            client, "/patient/identifiant-oublie", "/patient/identifiant-oublie", {"email": typed}
        )
        # The same answer whether an account has the address or not.
        assert response.status_code == 303
        assert response.headers["location"] == "/patient/identifiant-oublie?envoye=1"
    [(recipient, payload)] = await outbox(ctx, "login-reminder")
    assert recipient == ADDRESS and payload["login"] == account.login
    done = await client.get("/patient/identifiant-oublie?envoye=1")
    assert "si un espace patient utilise cette adresse" in done.text

    invalid = await post_page(
        client, "/patient/identifiant-oublie", "/patient/identifiant-oublie", {"email": "pas-une"}
    )
    assert invalid.status_code == 400
    assert not ENGLISH.search(alert_text(invalid.text))
    # Three reminders an hour per address at most.
    for _ in range(2):
        await post_page(
            client, "/patient/identifiant-oublie", "/patient/identifiant-oublie", {"email": ADDRESS}
        )
    limited = await post_page(
        client, "/patient/identifiant-oublie", "/patient/identifiant-oublie", {"email": ADDRESS}
    )
    assert limited.status_code == 429
    assert len(await outbox(ctx, "login-reminder")) == 3


async def test_the_e_mail_address_changes_only_with_the_code_sent_to_the_new_one(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await signed_in(client, ctx, clock)
    page = await client.get("/patient/compte")
    assert ADDRESS in page.text
    early = await client.post(
        "/patient/compte/email/code", data={"csrf_token": csrf_of(page.text), "code": "12345678"}
    )
    assert early.status_code == 409 and await patient_email(ctx) == [ADDRESS]

    sent = await client.post(
        "/patient/compte/email",
        data={"csrf_token": csrf_of(page.text), "email": "alex.neuf@example.org"},
    )
    assert sent.status_code == 303
    [(recipient, payload)] = await outbox(ctx, "email-change")
    assert recipient == "alex.neuf@example.org"
    page = await client.get("/patient/compte")
    assert "alex.neuf@example.org" in page.text and 'id="email-code"' in page.text

    wrong = "00000000" if payload["code"] != "00000000" else "11111111"
    refused = await client.post(
        "/patient/compte/email/code", data={"csrf_token": csrf_of(page.text), "code": wrong}
    )
    assert refused.status_code == 401 and await patient_email(ctx) == [ADDRESS]
    assert await outbox(ctx, "email-changed") == []
    # The alert sits below the portal's menu, in French only.
    assert refused.text.index('class="pmenu"') < refused.text.index('role="alert"')
    assert not ENGLISH.search(alert_text(refused.text))

    changed = await client.post(
        "/patient/compte/email/code",
        data={"csrf_token": csrf_of(page.text), "code": payload["code"]},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/patient/compte?fait=email-changed"
    assert await patient_email(ctx) == ["alex.neuf@example.org"]
    # The old address is told, with the time only (no code, no health data).
    assert await outbox(ctx, "email-changed") == [(ADDRESS, {"at": clock().isoformat()})]
    again = await client.post(
        "/patient/compte/email/code",
        data={"csrf_token": csrf_of(page.text), "code": payload["code"]},
    )
    assert again.status_code == 409  # used: nothing is pending any more
    assert len(await outbox(ctx, "email-changed")) == 1


async def test_refusals_are_french_without_developer_text_and_optional_is_said_once(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await signed_in(client, ctx, clock)
    for idnat in ("1234", "19999999999", "ABC"):
        response = await post_page(
            client,
            "/patient/professionnels",
            "/patient/professionnels/bloquer",
            {"kind": "professional", "idnat": idnat},
        )
        assert response.status_code in (400, 422), response.text
        message = alert_text(response.text)
        assert message and not ENGLISH.search(message), message
        assert response.text.index('class="pmenu"') < response.text.index('role="alert"')
    record = await client.get("/patient/dossier")
    assert "(facultatif) <span" not in record.text
    assert 'Pourquoi <span class="opt">(facultatif)</span>' in record.text
