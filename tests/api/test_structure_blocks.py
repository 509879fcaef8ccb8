"""A patient's block on a structure holds for every professional OpenDMP knows to act for
it, whatever the credential carries (docs/security.md, "Facts from credentials").

The attack: a professional of a blocked establishment signs in with a credential that omits
the structure (a development token without ``--organization``, an OIDC token without the
structure claim, a card certificate without it) or names another structure (an assertion
signed by a second establishment), and reads everything. Every authentication path is
tried, over HTTP, on the test database (SQLite, and PostgreSQL when
``OPENDMP_TEST_DATABASE_URL`` is set), with the link to the structure known either from the
directory (a membership) or from an earlier structure-bound credential.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from opendmp.auth import pki
from opendmp.domain.actors import CardKind, Patient, Professional
from opendmp.domain.identifiers import Ins
from opendmp.services.access import blocks
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.api.fhir_read_support import ins_token
from tests.auth_support import (
    CERT_HEADER,
    ESTABLISHMENT,
    GP,
    NOW,
    OTHER_ESTABLISHMENT,
    PSC,
    Establishment,
    card,
    credential_settings,
    idnat,
)
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import grant

PROXY = ("10.0.0.1", 40000)
HEADER = CERT_HEADER
SEARCH = "/fhir/DocumentReference"
COLLEAGUE = idnat(12)  # authorised too, never seen acting for the blocked structure
GP_ACTOR = Professional(GP, "10", "SM54", name="TESTPRO Dominique")


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.make_authority("AC OPENDMP BLOCKS", now=NOW - dt.timedelta(days=1))


@pytest.fixture
def app_settings_overrides(tmp_path: Path, authority: pki.Authority) -> dict[str, Any]:
    return credential_settings(tmp_path, authority, "10.0.0.0/24")


@pytest.fixture
async def establishments(ctx: ServiceContext, authority: pki.Authority) -> dict[str, Establishment]:
    found = {}
    for struct in (ESTABLISHMENT, OTHER_ESTABLISHMENT):
        found[struct] = Establishment(authority, struct, now=NOW)
        await identity.register_establishment_key(
            ctx, actor=OPERATOR, struct_idnat=struct, public_jwk=found[struct].public_jwk()
        )
    return found


@pytest.fixture
async def ins(ctx: ServiceContext) -> Ins:
    """A record on which GP and COLLEAGUE are authorised; the patient blocked ESTABLISHMENT."""
    ins = make_ins(4242)
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    await grant(ctx, ins, GP_ACTOR)
    await grant(ctx, ins, Professional(COLLEAGUE, "10", "SM54", name="TESTPRO Camille"))
    await blocks.block(ctx, actor=Patient(ins=str(ins)), ins=ins, organization_idnat=ESTABLISHMENT)
    return ins


async def declare_member(ctx: ServiceContext, pro: str, struct: str) -> None:
    """The directory links ``pro`` to ``struct`` (as an operator's import would)."""
    async with ctx.sessions() as session, session.begin():
        row = await ensure_professional(session, Professional(pro, "10"), now=ctx.now())
        org = await ensure_organization(session, struct, name=None, now=ctx.now())
        session.add(m.Membership(professional_id=row.id, organization_id=org.id, care_team=True))


# --- the credentials -------------------------------------------------------------------------

Credential = Callable[[FastAPI, pki.Authority, dict[str, Establishment], Ins], dict[str, str]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cert_header(cert: Any) -> dict[str, str]:
    return {HEADER: urllib.parse.quote(pki.pem(cert).decode())}


def dev_token(app: FastAPI, organization: str | None, who: str = GP) -> dict[str, str]:
    token = app.state.authenticator.dev.professional_token(
        idnat=who,
        now=NOW,
        ttl=dt.timedelta(minutes=5),
        profession="10",
        specialty="SM54",
        organization=organization,
        name="TESTPRO Dominique",
    )
    return bearer(str(token))


def dev_without_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    return dev_token(app, None)


def oidc_without_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    return bearer(PSC.token(NOW, aud="https://dmp.test", sub=GP, organization=None))


def oidc_other_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    return bearer(PSC.token(NOW, aud="https://dmp.test", sub=GP, organization=OTHER_ESTABLISHMENT))


def card_without_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    cert, _ = card(ca, organization=None, now=NOW)
    return cert_header(cert)


def assertion_of_another_establishment(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    other = est[OTHER_ESTABLISHMENT]
    return {
        **cert_header(other.cert),
        "X-DMP-Assertion": other.assertion(NOW, patient_ins=str(ins)),
    }


def card_of_the_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    cert, _ = card(ca, organization=ESTABLISHMENT, now=NOW)
    return cert_header(cert)


def assertion_of_the_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    own = est[ESTABLISHMENT]
    return {**cert_header(own.cert), "X-DMP-Assertion": own.assertion(NOW, patient_ins=str(ins))}


def dev_of_the_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    return dev_token(app, ESTABLISHMENT)


def oidc_of_the_structure(
    app: FastAPI, ca: pki.Authority, est: dict[str, Establishment], ins: Ins
) -> dict[str, str]:
    return bearer(PSC.token(NOW, aud="https://dmp.test", sub=GP, organization=ESTABLISHMENT))


EVASIVE = [
    dev_without_structure,
    oidc_without_structure,
    oidc_other_structure,
    card_without_structure,
    assertion_of_another_establishment,
]
STRUCTURE_BOUND = [
    dev_of_the_structure,
    oidc_of_the_structure,
    card_of_the_structure,
    assertion_of_the_structure,
]


async def search(http: httpx.AsyncClient, ins: Ins, headers: dict[str, str]) -> tuple[int, str]:
    response = await http.get(
        SEARCH, params={"patient.identifier": ins_token(ins), "status": "current"}, headers=headers
    )
    if response.status_code == 200:
        return 200, ""
    codes = {c["code"] for i in response.json()["issue"] for c in i["details"].get("coding", [])}
    return response.status_code, ",".join(sorted(codes))


BLOCKED = (403, "blocked-by-patient")


@pytest.mark.parametrize("credential", EVASIVE, ids=lambda c: c.__name__)
async def test_a_credential_omitting_the_structure_does_not_escape_the_directorys_link(
    ctx: ServiceContext,
    app: FastAPI,
    http: httpx.AsyncClient,
    authority: pki.Authority,
    establishments: dict[str, Establishment],
    ins: Ins,
    credential: Credential,
) -> None:
    await declare_member(ctx, GP, ESTABLISHMENT)
    headers = credential(app, authority, establishments, ins)
    assert await search(http, ins, headers) == BLOCKED
    # Lifting the block gives the same credential its access back: the block did it.
    await blocks.unblock(
        ctx, actor=Patient(ins=str(ins)), ins=ins, organization_idnat=ESTABLISHMENT
    )
    assert await search(http, ins, credential(app, authority, establishments, ins)) == (200, "")


# Each structure-bound path once first, each evasive one once after (not the 20 pairs).
LEARNT = [(STRUCTURE_BOUND[n % len(STRUCTURE_BOUND)], then) for n, then in enumerate(EVASIVE)]


@pytest.mark.parametrize(
    ("first", "then"), LEARNT, ids=[f"{a.__name__}-{b.__name__}" for a, b in LEARNT]
)
async def test_a_structure_once_named_by_a_credential_binds_the_professional_for_blocks(
    app: FastAPI,
    http: httpx.AsyncClient,
    authority: pki.Authority,
    establishments: dict[str, Establishment],
    ins: Ins,
    first: Credential,
    then: Credential,
) -> None:
    # No membership declared: OpenDMP learns the link from the structure-bound credential.
    assert await search(http, ins, first(app, authority, establishments, ins)) == BLOCKED
    assert await search(http, ins, then(app, authority, establishments, ins)) == BLOCKED


async def test_the_block_does_not_spill_over_to_professionals_not_known_to_the_structure(
    app: FastAPI, http: httpx.AsyncClient, ins: Ins
) -> None:
    assert await search(http, ins, dev_token(app, None, who=COLLEAGUE)) == (200, "")
    assert await search(http, ins, dev_token(app, OTHER_ESTABLISHMENT, who=COLLEAGUE)) == (
        200,
        "",
    )


async def test_a_learnt_link_is_not_a_care_team_membership(
    ctx: ServiceContext, app: FastAPI, http: httpx.AsyncClient, ins: Ins
) -> None:
    await search(http, ins, dev_token(app, OTHER_ESTABLISHMENT))
    async with ctx.sessions() as session:
        links = (
            await session.execute(
                select(m.Organization.struct_idnat, m.Membership.care_team)
                .join(m.Membership, m.Membership.organization_id == m.Organization.id)
                .join(m.Professional, m.Professional.id == m.Membership.professional_id)
                .where(m.Professional.idnat == GP)
            )
        ).all()
        count = (await session.execute(select(func.count()).select_from(m.Membership))).scalar()
    assert [tuple(link) for link in links] == [(OTHER_ESTABLISHMENT, False)]
    assert count == 1


# --- profession, specialty, card kind --------------------------------------------------------


async def test_an_omitted_specialty_is_the_directorys_and_a_cpe_stays_a_cpe(
    ctx: ServiceContext, app: FastAPI, http: httpx.AsyncClient
) -> None:
    nurse_cpe = idnat(31)
    await http.get("/auth/whoami", headers=dev_token(app, None, who=GP))
    cpe = app.state.authenticator.dev.professional_token(
        idnat=nurse_cpe,
        now=NOW,
        ttl=dt.timedelta(minutes=5),
        profession="60",
        card_kind=CardKind.CPE.value,
        organization=ESTABLISHMENT,
    )
    assert (await http.get("/auth/whoami", headers=bearer(str(cpe)))).json()["card_kind"] == "CPE"
    no_kind = app.state.authenticator.dev.professional_token(
        idnat=nurse_cpe, now=NOW, ttl=dt.timedelta(minutes=5), profession="60"
    )
    body = (await http.get("/auth/whoami", headers=bearer(str(no_kind)))).json()
    assert body["card_kind"] == "CPE"
    no_specialty = PSC.token(NOW, aud="https://dmp.test", sub=GP, specialty=None)
    body = (await http.get("/auth/whoami", headers=bearer(no_specialty))).json()
    assert (body["profession"], body["specialty"]) == ("10", "SM54")
    other_profession = PSC.token(
        NOW, aud="https://dmp.test", sub=GP, profession="21", specialty=None
    )
    body = (await http.get("/auth/whoami", headers=bearer(other_profession))).json()
    assert (body["profession"], body["specialty"]) == ("21", None)
