"""Indirect authentication: establishment certificate + signed VIHF assertion, on a real
database (registered keys, replay register). Refusals first."""

from __future__ import annotations

import datetime as dt

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from opendmp.auth import pki
from opendmp.auth.assertions import verify_assertion
from opendmp.auth.certificates import Establishment as EstablishmentSubject
from opendmp.auth.certificates import read_subject
from opendmp.domain.actors import AccessMode, CardKind, Professional
from opendmp.domain.errors import AccessDenied, Conflict, InvalidInput, OpenDMPError
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity
from opendmp.storage import models as m
from tests.auth_support import ESTABLISHMENT, GP, NOW, OTHER_ESTABLISHMENT, Establishment
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins

AUTHORITY = pki.make_authority("AC OPENDMP TESTS", now=NOW - dt.timedelta(days=1))


@pytest.fixture
def hospital() -> Establishment:
    return Establishment(AUTHORITY)


def subject_of(establishment: Establishment) -> EstablishmentSubject:
    subject = read_subject(establishment.cert)
    assert isinstance(subject, EstablishmentSubject)
    return subject


@pytest.fixture
async def registered(ctx: ServiceContext, clock: Clock, hospital: Establishment) -> Establishment:
    clock.now = NOW
    await identity.register_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=hospital.public_jwk()
    )
    return hospital


async def check(ctx: ServiceContext, establishment: Establishment, token: str) -> object:
    return await verify_assertion(
        ctx, token, subject_of(establishment), audience="opendmp", now=ctx.now()
    )


async def refused(ctx: ServiceContext, establishment: Establishment, token: str) -> OpenDMPError:
    with pytest.raises(OpenDMPError) as caught:
        await check(ctx, establishment, token)
    return caught.value


# --- refusals ---------------------------------------------------------------------------


async def test_an_assertion_signed_by_an_unregistered_key_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    intruder = ECKey.generate_key("P-256", private=True, auto_kid=True)
    error = await refused(ctx, registered, registered.assertion(key=intruder))
    assert (error.code, error.http_status) == ("assertion-key-unknown", 401)


async def test_an_assertion_forged_under_a_registered_key_id_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    kid = registered.key.kid
    assert kid is not None
    forger = ECKey.generate_key("P-256", private=True, parameters={"kid": kid})
    error = await refused(ctx, registered, registered.assertion(key=forger))
    assert error.code == "invalid-assertion"


async def test_an_assertion_of_an_establishment_without_keys_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    # A second establishment reusing the first one's key: keys belong to one structure.
    other = Establishment(AUTHORITY, OTHER_ESTABLISHMENT)
    other.key = registered.key
    error = await refused(ctx, other, other.assertion())
    assert error.code == "assertion-key-unknown"


async def test_an_assertion_for_another_structure_than_the_certificate_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    error = await refused(ctx, registered, registered.assertion(iss=OTHER_ESTABLISHMENT))
    assert (error.code, error.http_status) == ("assertion-structure-mismatch", 403)


async def test_a_replayed_assertion_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    token = registered.assertion()
    await check(ctx, registered, token)
    error = await refused(ctx, registered, token)
    assert (error.code, error.http_status) == ("assertion-replayed", 401)


async def test_an_expired_assertion_is_refused(
    ctx: ServiceContext, clock: Clock, registered: Establishment
) -> None:
    token = registered.assertion()
    clock.advance(minutes=6, seconds=1)
    assert (await refused(ctx, registered, token)).code == "assertion-expired"


async def test_an_assertion_living_longer_than_five_minutes_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    token = registered.assertion(exp=int((NOW + dt.timedelta(minutes=30)).timestamp()))
    assert (await refused(ctx, registered, token)).code == "assertion-too-long"


async def test_an_assertion_for_another_audience_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    token = registered.assertion(aud="https://other-dmp.test")
    assert (await refused(ctx, registered, token)).code == "wrong-audience"


@pytest.mark.parametrize("missing", ["sector", "role", "homologation", "software_name", "jti"])
async def test_an_assertion_lacking_a_vihf_attribute_is_refused(
    ctx: ServiceContext, registered: Establishment, missing: str
) -> None:
    token = registered.assertion(NOW, **{missing: None})
    assert (await refused(ctx, registered, token)).code == "invalid-assertion"


async def test_an_unsigned_assertion_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    header, payload, _ = registered.assertion().split(".")
    none_header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    error = await refused(ctx, registered, f"{none_header}.{payload}.")
    assert error.code == "invalid-assertion"
    assert header != none_header


async def test_a_break_glass_assertion_without_justification_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    error = await refused(ctx, registered, registered.assertion(purpose="break-glass"))
    assert isinstance(error, AccessDenied)
    assert (error.code, error.http_status) == ("justification-required", 403)


async def test_an_assertion_signed_by_a_revoked_key_is_refused(
    ctx: ServiceContext, registered: Establishment
) -> None:
    await identity.revoke_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, kid=registered.key.kid or ""
    )
    assert (await refused(ctx, registered, registered.assertion())).code == (
        "assertion-key-unknown"
    )


async def test_a_private_key_cannot_be_registered_for_an_establishment(
    ctx: ServiceContext, hospital: Establishment
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await identity.register_establishment_key(
            ctx,
            actor=OPERATOR,
            struct_idnat=ESTABLISHMENT,
            public_jwk=hospital.key.as_dict(private=True),
        )
    assert caught.value.code == "invalid-jwk"


async def test_one_key_cannot_be_registered_twice(
    ctx: ServiceContext, registered: Establishment
) -> None:
    with pytest.raises(Conflict):
        await identity.register_establishment_key(
            ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=registered.public_jwk()
        )


# --- acceptance -------------------------------------------------------------------------


async def test_a_valid_assertion_names_the_user_acting_for_the_establishment(
    ctx: ServiceContext, registered: Establishment
) -> None:
    ins = make_ins(701)
    checked = await verify_assertion(
        ctx,
        registered.assertion(
            patient_ins=str(ins),
            purpose="break-glass",
            reason="détresse vitale, patient inconscient",
        ),
        subject_of(registered),
        audience="opendmp",
        now=ctx.now(),
    )
    assert checked.actor == Professional(
        idnat=GP,
        profession="10",
        specialty="SM54",
        organization=ESTABLISHMENT,
        card_kind=CardKind.CPS,
        name="TESTPRO Dominique",
        access_mode=AccessMode.BREAK_GLASS,
        justification="détresse vitale, patient inconscient",
    )
    assert checked.patient_ins == str(ins)
    assert (checked.software_name, checked.homologation) == ("TestDPI", "HOMOL-TEST-0001")
    async with ctx.uow() as uow:
        seen = await uow.session.scalar(select(func.count()).select_from(m.SeenAssertion))
    assert seen == 1


async def test_registering_a_key_is_audited_on_the_system_chain(
    ctx: ServiceContext, registered: Establishment
) -> None:
    async with ctx.uow() as uow:
        actions = (
            await uow.session.scalars(
                select(m.AuditEvent.action).where(m.AuditEvent.record_id.is_(None))
            )
        ).all()
    assert "auth:establishment-key:register" in actions


async def test_seen_assertions_are_forgotten_once_expired(
    ctx: ServiceContext, clock: Clock, registered: Establishment
) -> None:
    await check(ctx, registered, registered.assertion())
    clock.advance(minutes=10)
    await check(ctx, registered, registered.assertion(ctx.now()))
    async with ctx.uow() as uow:
        seen = await uow.session.scalar(select(func.count()).select_from(m.SeenAssertion))
    assert seen == 1


async def test_a_professional_first_seen_is_registered_once(ctx: ServiceContext) -> None:
    actor = Professional(idnat=GP, profession="10", organization=ESTABLISHMENT, name="A B")
    await identity.register_seen_professional(ctx, actor)
    await identity.register_seen_professional(ctx, actor)
    async with ctx.uow() as uow:
        pros = await uow.session.scalar(select(func.count()).select_from(m.Professional))
        orgs = await uow.session.scalar(select(func.count()).select_from(m.Organization))
    assert (pros, orgs) == (1, 1)
