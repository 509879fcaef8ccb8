"""Bearer tokens: what is refused (each attack), then what is accepted and how it maps."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from joserfc.jwk import RSAKey

from opendmp.auth import dev_issuer
from opendmp.auth.dependencies import AuthContext, InsufficientScope, require_scope
from opendmp.auth.tokens import TokenVerifier, check_times
from opendmp.config import load_settings
from opendmp.domain.actors import AccessMode, ActorKind, CardKind, Patient, Professional
from opendmp.domain.errors import AccessDenied, ConfigurationError, InvalidInput, Unauthenticated
from tests.auth_support import AUDIENCE, ESTABLISHMENT, GP, NOW, Issuer
from tests.factories import make_ins

ISSUER = Issuer("RS256")


@pytest.fixture(autouse=True)
def _no_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


VERIFIER = TokenVerifier([ISSUER.trusted()])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


async def refused(token: str, now: dt.datetime = NOW) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await VERIFIER.verify(token, now)
    assert caught.value.http_status == 401
    return caught.value


# --- refusals ---------------------------------------------------------------------------


async def test_a_token_signed_by_another_key_under_the_issuers_name_is_refused() -> None:
    forger = RSAKey.generate_key(2048, private=True)
    error = await refused(ISSUER.token(key=forger))
    assert error.code == "invalid-token"


async def test_a_token_whose_claims_were_altered_after_signing_is_refused() -> None:
    header, _, signature = ISSUER.token().split(".")
    altered = b64(json.dumps(ISSUER.claims(profession="21")).encode())
    assert (await refused(f"{header}.{altered}.{signature}")).code == "invalid-token"


async def test_an_expired_token_is_refused_beyond_the_clock_skew() -> None:
    token = ISSUER.token()
    assert (await refused(token, NOW + dt.timedelta(minutes=11, seconds=1))).code == (
        "token-expired"
    )


async def test_a_token_not_valid_yet_is_refused_beyond_the_clock_skew() -> None:
    later = NOW + dt.timedelta(minutes=2)
    token = ISSUER.token(nbf=int(later.timestamp()))
    assert (await refused(token)).code == "token-not-yet-valid"


async def test_a_token_issued_in_the_future_is_refused() -> None:
    token = ISSUER.token(NOW + dt.timedelta(minutes=5))
    assert (await refused(token)).code == "token-not-yet-valid"


async def test_a_token_without_expiry_is_refused() -> None:
    assert (await refused(ISSUER.token(exp=None))).code == "invalid-token"


async def test_a_token_for_another_audience_is_refused() -> None:
    assert (await refused(ISSUER.token(aud="https://other.test"))).code == "wrong-audience"


async def test_a_token_without_audience_is_refused() -> None:
    assert (await refused(ISSUER.token(aud=None))).code == "wrong-audience"


async def test_a_token_from_an_unknown_issuer_is_refused() -> None:
    stranger = Issuer("RS256", issuer="https://evil.test")
    assert (await refused(stranger.token(iss="https://evil.test"))).code == "unknown-issuer"


async def test_an_unsigned_token_alg_none_is_refused() -> None:
    token = unsigned({"alg": "none", "typ": "JWT"}, ISSUER.claims()) + "."
    error = await refused(token)
    assert error.code == "invalid-token"
    assert "not allowed" in error.message


async def test_a_token_hmac_signed_with_the_issuers_public_key_is_refused() -> None:
    public_pem = (
        RSAKey.import_key(ISSUER.key.as_dict(private=False))
        .get_op_key("verify")
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = unsigned({"alg": "HS256", "kid": ISSUER.key.kid}, ISSUER.claims())
    mac = hmac.HMAC(public_pem, hashes.SHA256())
    mac.update(signing_input.encode())
    error = await refused(f"{signing_input}.{b64(mac.finalize())}")
    assert error.code == "invalid-token"


async def test_garbage_and_oversized_tokens_are_refused_without_a_crash() -> None:
    for token in ("", "abc", "a.b.c", "x" * 20_000, "é.é.é"):
        assert (await refused(token)).code == "invalid-token"


async def test_a_token_with_an_invalid_idnat_is_refused() -> None:
    assert (await refused(ISSUER.token(sub="812345678900"))).code == "invalid-token"


async def test_a_break_glass_token_without_justification_is_refused() -> None:
    with pytest.raises(AccessDenied) as caught:
        await VERIFIER.verify(ISSUER.token(purpose="break-glass"), NOW)
    assert caught.value.code == "justification-required"
    assert caught.value.http_status == 403


async def test_a_token_with_an_unknown_purpose_is_refused() -> None:
    assert (await refused(ISSUER.token(purpose="curiosity"))).code == "invalid-token"


async def test_a_patient_token_whose_subject_is_not_an_ins_reference_is_refused() -> None:
    token = ISSUER.token(kind="patient", sub=make_ins(1).value)
    assert (await refused(token)).code == "invalid-token"


async def test_a_route_refuses_a_token_without_its_scope() -> None:
    auth = AuthContext(Patient(ins=str(make_ins(2))), "bearer", scopes=frozenset({"ITI-65"}))
    with pytest.raises(InsufficientScope) as caught:
        await require_scope("ITI-67")(auth)
    assert (caught.value.code, caught.value.http_status) == ("insufficient-scope", 403)


# --- acceptance -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
async def test_rs256_es256_and_ps256_tokens_are_accepted(alg: str) -> None:
    issuer = Issuer(alg, issuer=f"https://{alg.lower()}.test")
    verified = await TokenVerifier([issuer.trusted()]).verify(issuer.token(), NOW)
    assert verified.actor.actor_id == GP


async def test_a_token_expired_within_the_clock_skew_is_still_accepted() -> None:
    token = ISSUER.token()
    verified = await VERIFIER.verify(token, NOW + dt.timedelta(minutes=10, seconds=59))
    assert verified.actor.actor_id == GP


async def test_a_professional_token_maps_every_claim_onto_the_actor() -> None:
    verified = await VERIFIER.verify(ISSUER.token(card_kind="CPE"), NOW)
    assert verified.actor == Professional(
        idnat=GP,
        profession="10",
        specialty="SM54",
        organization=ESTABLISHMENT,
        card_kind=CardKind.CPE,
        name="TESTPRO Dominique",
    )
    assert verified.scopes == {"ITI-65", "ITI-67", "ITI-68"}
    assert verified.issuer == ISSUER.issuer


async def test_a_break_glass_token_with_justification_carries_the_access_mode() -> None:
    token = ISSUER.token(purpose="break-glass", reason="patient inconscient aux urgences")
    actor = (await VERIFIER.verify(token, NOW)).actor
    assert isinstance(actor, Professional)
    assert actor.access_mode is AccessMode.BREAK_GLASS
    assert actor.justification == "patient inconscient aux urgences"


async def test_a_regulation_token_carries_the_regulation_access_mode() -> None:
    actor = (await VERIFIER.verify(ISSUER.token(purpose="regulation"), NOW)).actor
    assert actor.access_mode is AccessMode.REGULATION


async def test_a_patient_token_maps_to_the_patient_by_ins() -> None:
    ins = make_ins(3)
    actor = (await VERIFIER.verify(ISSUER.token(kind="patient", sub=str(ins)), NOW)).actor
    assert actor == Patient(ins=str(ins), name="TESTPRO Dominique")
    assert actor.kind is ActorKind.PATIENT


async def test_a_route_accepts_a_token_with_its_scope_and_a_card_without_scopes() -> None:
    actor = Patient(ins=str(make_ins(4)))
    with_scope = AuthContext(actor, "bearer", scopes=frozenset({"ITI-67"}))
    card = AuthContext(actor, "certificate")
    assert await require_scope("ITI-67")(with_scope) is with_scope
    assert await require_scope("ITI-67")(card) is card


# --- development issuer -----------------------------------------------------------------


def test_production_refuses_the_development_issuer(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(mode="production", home=tmp_path, dev_issuer=True)
    assert "OPENDMP_DEV_ISSUER" in caught.value.message


def test_the_development_issuer_is_on_in_demo_and_on_request_only() -> None:
    assert load_settings(mode="demo").dev_issuer_enabled
    assert not load_settings(mode="development").dev_issuer_enabled
    assert load_settings(mode="development", dev_issuer=True).dev_issuer_enabled


@pytest.mark.parametrize("text", ["0s", "13h", "ten minutes", "-5m"])
def test_a_token_lifetime_outside_one_second_to_twelve_hours_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        dev_issuer.parse_ttl(text)


def test_the_development_issuer_keeps_its_key_private_and_reuses_it(tmp_path: Path) -> None:
    key = dev_issuer.load_or_create_key(tmp_path)
    path = tmp_path / dev_issuer.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert dev_issuer.load_or_create_key(tmp_path).kid == key.kid


async def test_development_tokens_verify_and_publish_only_the_public_key(tmp_path: Path) -> None:
    issuer = dev_issuer.DevIssuer(
        dev_issuer.load_or_create_key(tmp_path), base_url="http://dmp.test/", audience=AUDIENCE
    )
    assert issuer.issuer == "http://dmp.test/dev-issuer"
    assert "d" not in issuer.jwks()["keys"][0]
    verifier = TokenVerifier([issuer.trusted()])
    token = issuer.professional_token(
        idnat=GP, now=NOW, ttl=dt.timedelta(minutes=10), profession="10"
    )
    verified = await verifier.verify(token, NOW)
    assert verified.actor.actor_id == GP
    assert "ITI-67" in verified.scopes
    ins = make_ins(5)
    patient_token = issuer.patient_token(
        ins=str(ins), default_oid=ins.oid, now=NOW, ttl=dt.timedelta(minutes=1)
    )
    assert (await verifier.verify(patient_token, NOW)).actor == Patient(ins=str(ins))
    with pytest.raises(AccessDenied):
        issuer.professional_token(
            idnat=GP, now=NOW, ttl=dt.timedelta(minutes=1), purpose="break-glass"
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", 10**30),
        ("exp", 253402300799),  # 9999-12-31T23:59:59Z: no room left for the clock skew
        ("exp", float("inf")),
        ("exp", float("nan")),
        ("nbf", -(10**30)),
        ("iat", float("-inf")),
    ],
)
def test_a_time_claim_out_of_the_calendar_is_refused_as_unauthenticated(
    name: str, value: float
) -> None:
    # Issue 12: a validly signed token with such an exp raised OverflowError (a 500).
    claims = {"exp": NOW.timestamp() + 600, name: value}
    with pytest.raises(Unauthenticated) as refused:
        check_times(claims, NOW)
    assert refused.value.code == "token-time-out-of-range"
