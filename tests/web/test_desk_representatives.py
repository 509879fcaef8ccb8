"""Admission desk (/accueil): a legal representative recorded on documentary evidence for an
existing, active record, their first login and one-time password shown once (docs/rules.md
§3.7), and for a record created or reactivated a moment ago; bad input re-shows the page
with a readable message and records nothing; a closed record offers no such form and
refuses the post."""

from __future__ import annotations

from html import unescape

import httpx
from sqlalchemy import select

from opendmp.devtools.demo import OTHER_PEOPLE
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.domain.records import ClosureReason
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.factories import OPERATOR, new_record
from tests.record_scope import whole_database
from tests.web.conftest import csrf_of, post_form, sign_in
from tests.web.test_desk import post_consent

ALIX = OTHER_PEOPLE[0]
IDENTITY = {
    "ins": ALIX.ins,
    "birth_name": ALIX.birth_name,
    "given_names": " ".join(ALIX.given),
    "birth_date": ALIX.birth_date.isoformat(),
    "sex": ALIX.sex,
}
MOTHER = {"relation": "MTH", "family_name": "Fictive", "given_name": "Dominique", "email": ""}


async def existing_record(ctx: ServiceContext) -> None:
    ins = parse_ins(ALIX.ins, INS_NIR_TEST_OID)
    request = new_record(
        ins,
        ctx.now(),
        birth_name=ALIX.birth_name,
        given_names=ALIX.given,
        birth_date=ALIX.birth_date,
    )
    await records.create_record(ctx, actor=OPERATOR, request=request)


async def representatives(ctx: ServiceContext) -> list[m.Representative]:
    async with ctx.sessions() as session:
        rows = await session.execute(whole_database(select(m.Representative)))
        return list(rows.scalars())


async def checked(client: httpx.AsyncClient) -> httpx.Response:
    await sign_in(client)
    page = await post_form(client, "/accueil", "/accueil/identite", IDENTITY)
    assert page.status_code == 200, page.text
    return page


async def test_the_desk_records_a_representative_and_shows_their_credentials_once(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await existing_record(ctx)
    page = await checked(client)
    assert "Ajouter un représentant légal" in page.text
    response = await client.post(
        "/accueil/representant", data={"csrf_token": csrf_of(page.text), **MOTHER}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    text = unescape(response.text)
    assert "Dominique FICTIVE (Mère) est enregistré(e)" in text
    (row,) = await representatives(ctx)
    assert (row.relation, row.family_name, row.given_name) == ("MTH", "FICTIVE", "Dominique")
    async with ctx.sessions() as session:
        account = await session.get(m.Account, row.account_id)
    assert account is not None and account.login in text and account.must_change_password


async def test_a_bad_representative_is_refused_with_a_message_and_nothing_recorded(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    await existing_record(ctx)
    page = await checked(client)
    response = await client.post(
        "/accueil/representant",
        data={"csrf_token": csrf_of(page.text), **MOTHER, "relation": "COUSIN", "email": "x@"},
    )
    assert response.status_code == 422
    assert "Vérifiez le lien, le nom, le prénom" in unescape(response.text)
    assert await representatives(ctx) == []


async def closed_and_checked(client: httpx.AsyncClient, ctx: ServiceContext) -> httpx.Response:
    """Alix's record, closed, and the desk's page after her identity check."""
    await existing_record(ctx)
    ins = parse_ins(ALIX.ins, INS_NIR_TEST_OID)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)
    return await checked(client)


async def test_a_closed_record_gets_no_representative_at_the_desk(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page = await closed_and_checked(client, ctx)
    assert "Ajouter un représentant légal" not in page.text
    response = await client.post(
        "/accueil/representant", data={"csrf_token": csrf_of(page.text), **MOTHER}
    )
    assert response.status_code == 409
    assert await representatives(ctx) == []


async def create_at_the_desk(client: httpx.AsyncClient) -> httpx.Response:
    """Sign in, check Alix (no record), consent and create: the page after creation."""
    page = await checked(client)
    assert "Ajouter un représentant légal" not in page.text  # nothing to represent yet
    response = await post_consent(client, page)
    assert response.status_code == 303
    created = await client.get("/accueil/cree")
    assert created.status_code == 200
    return created


async def test_a_record_created_a_moment_ago_gets_its_representative_at_once(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    created = await create_at_the_desk(client)
    assert "Ajouter un représentant légal" in created.text and 'name="letter_id"' in created.text
    # Refused: the same page again, with the message and what was typed; nothing recorded.
    refused = await client.post(
        "/accueil/representant",
        data={
            "csrf_token": csrf_of(created.text),
            **MOTHER,
            "relation": "COUSIN",
            "retour": "cree",
        },
    )
    assert refused.status_code == 422
    text = unescape(refused.text)
    assert "Vérifiez le lien, le nom, le prénom" in text and "a été créé" in text
    assert 'value="Dominique"' in refused.text and await representatives(ctx) == []
    added = await client.post(
        "/accueil/representant",
        data={"csrf_token": csrf_of(created.text), **MOTHER, "retour": "cree"},
    )
    assert added.status_code == 200, added.text
    assert "Dominique FICTIVE (Mère) est enregistré(e)" in unescape(added.text)
    (row,) = await representatives(ctx)
    assert row.relation == "MTH"
    # The record exists now: the consent cannot be posted a second time.
    again = await client.post(
        "/accueil/creer",
        data={"csrf_token": csrf_of(created.text), "consent": "yes", "email": "a@example.org"},
    )
    assert again.status_code == 409


async def test_a_reactivated_record_gets_its_representative_at_once(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    page = await closed_and_checked(client, ctx)
    reactivated = await client.post("/accueil/reactiver", data={"csrf_token": csrf_of(page.text)})
    assert reactivated.status_code == 200
    assert "Ajouter un représentant légal" in reactivated.text
    added = await client.post(
        "/accueil/representant",
        data={"csrf_token": csrf_of(reactivated.text), **MOTHER, "retour": "reactive"},
    )
    assert added.status_code == 200 and len(await representatives(ctx)) == 1


async def test_once_the_next_person_is_checked_the_form_left_open_adds_nobody(
    client: httpx.AsyncClient, ctx: ServiceContext
) -> None:
    created = await create_at_the_desk(client)
    other = OTHER_PEOPLE[1]
    following = await post_form(
        client,
        "/accueil",
        "/accueil/identite",
        {
            "ins": other.ins,
            "birth_name": other.birth_name,
            "given_names": " ".join(other.given),
            "birth_date": other.birth_date.isoformat(),
            "sex": other.sex,
        },
    )
    assert following.status_code == 200, following.text
    assert (await client.get("/accueil/cree")).status_code == 303
    stale = await client.post(
        "/accueil/representant",
        data={"csrf_token": csrf_of(created.text), **MOTHER, "retour": "cree"},
    )
    assert stale.status_code == 409 and await representatives(ctx) == []
