"""The portal's delegation pages (docs/portals.md, "Caregivers") over ASGI: the link without
a session says how to sign in; bad invitations and unknown codes get a readable message and
change nothing; a caregiver's session is refused, in words, what the patient did not give
and what is never a caregiver's (closing the record); the patient's revocation ends the
switch at the caregiver's next page. The whole journey in a browser:
test_delegation_browser.py."""

from __future__ import annotations

import json
from html import unescape
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.web.conftest import csrf_of
from tests.web.test_patient_portal import (
    PASSWORD,
    first_sign_in,
    make_patient,
    post_page,
    signed_in,
    status_of,
)


async def invitation_link(ctx: ServiceContext) -> str:
    async with ctx.sessions() as session:
        payload = (
            await session.execute(
                select(m.Outbox.payload).where(m.Outbox.kind == "delegation-invitation")
            )
        ).scalar_one()
    return urlsplit(str(json.loads(payload)["link"])).path


async def invite(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    data = {
        "role": "caregiver",
        "email": "camille.testaidant@example.org",
        "rights": "documents",
        "from": "2026-03-01",
        "to": "2026-03-31",
        **overrides,
    }
    return await post_page(client, "/patient/aidants", "/patient/aidants/inviter", data)


async def test_the_link_without_a_session_says_how_to_sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/patient/invitation/abc")
    assert page.status_code == 200
    assert 'href="/patient/connexion?next=/patient/invitation/abc"' in page.text
    assert 'href="/patient/creer"' in page.text


async def test_bad_invitations_are_refused_in_words_and_write_nothing(
    client: httpx.AsyncClient, ctx: ServiceContext, clock: Clock
) -> None:
    await signed_in(client, ctx, clock)
    for overrides, words in (
        ({"email": "nobody"}, "L'adresse e-mail n'est pas valide."),
        ({"rights": ""}, "Choisissez au moins un droit."),
        ({"from": "2026-02-01"}, "La date de début ne peut pas être passée."),
        ({"to": "demain"}, "La date de fin n'est pas valide."),
    ):
        response = await invite(client, **overrides)
        assert response.status_code == 400, overrides
        assert words in unescape(response.text)
    async with ctx.sessions() as session:
        invitations = select(m.Outbox.id).where(m.Outbox.kind == "delegation-invitation")
        assert (await session.execute(invitations)).first() is None
    unknown = await client.get("/patient/invitation/not-a-code")
    assert unknown.status_code == 404
    assert "Aucune invitation ne correspond à ce lien." in unescape(unknown.text)


async def test_a_caregiver_session_gets_its_rights_only_and_loses_them_on_revocation(
    client: httpx.AsyncClient, web_app: FastAPI, ctx: ServiceContext, clock: Clock
) -> None:
    patient = await signed_in(client, ctx, clock)
    assert (await invite(client)).status_code == 303
    link = await invitation_link(ctx)
    transport = httpx.ASGITransport(app=web_app, client=("192.0.2.11", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as relative:
        await first_sign_in(relative, clock, await make_patient(ctx, email="r@example.org"))
        page = await relative.get(link)
        assert "Alex FICTIF vous invite à devenir son aidant" in unescape(page.text)
        accepted = await post_page(relative, link, link, {"answer": "accept"})
        assert accepted.headers["location"] == "/patient/aidants?fait=invitation-accepted"
        listing = await relative.get("/patient/aidants")
        delegation = listing.text.split('name="delegation" value="', 1)[1].split('"', 1)[0]
        switched = await post_page(
            relative, "/patient/aidants", "/patient/agir-pour", {"delegation": delegation}
        )
        assert switched.status_code == 303
        home = await relative.get("/patient")
        assert 'id="acting-banner"' in home.text and "Le DMP de Alex FICTIF" in unescape(home.text)
        assert (await relative.get("/patient/documents")).status_code == 200
        choices = await relative.get("/patient/choix")
        assert choices.status_code == 403
        assert "La personne ne vous a pas donné ce droit." in unescape(choices.text)
        closing = await relative.post(
            "/patient/dossier/fermer",
            data={"csrf_token": csrf_of(home.text), "confirm": "yes", "password": PASSWORD},
        )
        assert closing.status_code == 403
        assert "Vous ne pouvez pas faire cette action." in unescape(closing.text)
        assert (await status_of(ctx, patient.ins)).value == "active"
        revoke_page = await client.get("/patient/aidants")
        revoke_action = revoke_page.text.split('action="/patient/aidants/', 1)[1].split('"', 1)[0]
        revoked = await post_page(
            client, "/patient/aidants", f"/patient/aidants/{revoke_action}", {}
        )
        assert revoked.headers["location"] == "/patient/aidants?fait=delegation-revoked"
        history = unescape((await client.get("/patient/historique")).text)
        assert "Alex FICTIF (aidant), en votre nom" in history
        assert "a accepté une délégation" in history and "Le titulaire du DMP" not in history
        after = await relative.get("/patient")
        assert 'id="acting-banner"' not in after.text
        assert "Alex FICTIF" in unescape(after.text)  # their own record (same synthetic name)
