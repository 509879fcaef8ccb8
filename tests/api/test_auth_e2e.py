"""End to end over HTTP: one professional authenticated by each mechanism — bearer token,
card certificate (proxy header, or the TLS connection), establishment certificate +
assertion — reaches the same protected route as the same actor. Refusals first."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from opendmp.app import Runtime, create_app
from opendmp.auth import pki
from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.auth.tls import with_tls_extension
from opendmp.services.directory import identity
from tests.auth_support import (
    CERT_HEADER,
    ESTABLISHMENT,
    GP,
    PSC,
    Establishment,
    Issuer,
    card,
    credential_settings,
)
from tests.conftest import wall_clock
from tests.factories import OPERATOR, make_ins

PROXY = ("10.0.0.1", 40000)
UNTRUSTED = ("192.0.2.7", 40000)
HEADER = CERT_HEADER


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.make_authority("AC OPENDMP E2E", now=now() - dt.timedelta(days=1))


@pytest.fixture
def clock() -> Callable[[], dt.datetime]:
    """The app's clock (of the ``runtime``/``app`` fixtures): the credentials are made now."""
    return wall_clock


@pytest.fixture
def app_settings_overrides(tmp_path: Path, authority: pki.Authority) -> dict[str, Any]:
    return credential_settings(tmp_path, authority, "10.0.0.0/24, 2001:db8::1")


@pytest.fixture
async def app(runtime: Runtime) -> FastAPI:
    app = create_app(runtime.settings, runtime)

    @app.get("/test/iti-67")
    async def iti67(auth: AuthContext = Depends(require_scope("ITI-67"))) -> dict[str, str]:
        return {"ok": auth.actor.actor_id}

    return app


def client(app: Any, address: tuple[str, int] = PROXY) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=address), base_url="http://dmp.test"
    )


def cert_header(cert: Any) -> dict[str, str]:
    # nginx's $ssl_client_escaped_cert: the PEM, URL-encoded.
    return {HEADER: urllib.parse.quote(pki.pem(cert).decode())}


def dev_token(app: FastAPI, **claims: Any) -> str:
    issuer = app.state.authenticator.dev
    return str(
        issuer.professional_token(
            idnat=GP,
            now=now(),
            ttl=dt.timedelta(minutes=5),
            profession="10",
            specialty="SM54",
            organization=ESTABLISHMENT,
            name="TESTPRO Dominique",
            **claims,
        )
    )


async def whoami(app: Any, headers: dict[str, str], address: tuple[str, int] = PROXY) -> Any:
    async with client(app, address) as http:
        return await http.get("/auth/whoami", headers=headers)


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


@pytest.fixture
async def hospital(runtime: Runtime, authority: pki.Authority) -> Establishment:
    hospital = Establishment(authority, now=now())
    await identity.register_establishment_key(
        runtime.ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=hospital.public_jwk()
    )
    return hospital


# --- refusals ---------------------------------------------------------------------------


async def test_a_request_without_credentials_is_refused(app: FastAPI) -> None:
    assert refusal(await whoami(app, {})) == (401, "authentication-required")


async def test_a_certificate_header_from_an_untrusted_address_is_refused(
    app: FastAPI, authority: pki.Authority
) -> None:
    cert, _ = card(authority, now=now())
    response = await whoami(app, cert_header(cert), UNTRUSTED)
    assert refusal(response) == (401, "untrusted-proxy")


async def test_a_certificate_of_another_ca_is_refused_even_from_the_proxy(app: FastAPI) -> None:
    foreign = pki.make_authority("AC OPENDMP E2E", now=now() - dt.timedelta(days=1))
    cert, _ = card(foreign, now=now())
    response = await whoami(app, cert_header(cert))
    assert refusal(response) == (401, "certificate-refused")
    assert "untrusted-issuer" in response.json()["message"]


async def test_an_expired_bearer_token_is_refused(app: FastAPI) -> None:
    token = PSC.token(now() - dt.timedelta(hours=1), aud="https://dmp.test")
    response = await whoami(app, {"Authorization": f"Bearer {token}"})
    assert refusal(response) == (401, "token-expired")


async def test_a_bearer_token_of_an_unknown_issuer_is_refused(app: FastAPI) -> None:
    stranger = Issuer("ES256", issuer="https://evil.test")
    token = stranger.token(now(), aud="opendmp")
    assert refusal(await whoami(app, {"Authorization": f"Bearer {token}"})) == (
        401,
        "unknown-issuer",
    )


async def test_a_non_bearer_authorization_is_refused(app: FastAPI) -> None:
    response = await whoami(app, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert refusal(response) == (401, "invalid-token")


async def test_a_break_glass_token_without_justification_is_refused(app: FastAPI) -> None:
    token = PSC.token(now(), aud="https://dmp.test", purpose="break-glass")
    response = await whoami(app, {"Authorization": f"Bearer {token}"})
    assert refusal(response) == (403, "justification-required")


async def test_a_token_without_the_routes_scope_is_refused(app: FastAPI) -> None:
    token = dev_token(app, scope="ITI-65")
    async with client(app) as http:
        response = await http.get("/test/iti-67", headers={"Authorization": f"Bearer {token}"})
    assert refusal(response) == (403, "insufficient-scope")


async def test_an_establishment_certificate_without_assertion_is_refused(
    app: FastAPI, hospital: Establishment
) -> None:
    response = await whoami(app, cert_header(hospital.cert))
    assert refusal(response) == (401, "assertion-required")


async def test_an_assertion_with_a_card_certificate_instead_of_the_establishments_is_refused(
    app: FastAPI, authority: pki.Authority, hospital: Establishment
) -> None:
    cert, _ = card(authority, now=now())
    headers = {**cert_header(cert), "X-DMP-Assertion": hospital.assertion(now())}
    response = await whoami(app, headers)
    assert refusal(response) == (401, "establishment-certificate-required")


async def test_a_replayed_assertion_is_refused_over_http(
    app: FastAPI, hospital: Establishment
) -> None:
    headers = {**cert_header(hospital.cert), "X-DMP-Assertion": hospital.assertion(now())}
    assert (await whoami(app, headers)).status_code == 200
    assert refusal(await whoami(app, headers)) == (401, "assertion-replayed")


async def test_a_break_glass_assertion_without_justification_is_refused_over_http(
    app: FastAPI, hospital: Establishment
) -> None:
    assertion = hospital.assertion(now(), purpose="break-glass")
    headers = {**cert_header(hospital.cert), "X-DMP-Assertion": assertion}
    assert refusal(await whoami(app, headers)) == (403, "justification-required")


# --- one professional, three mechanisms, one actor --------------------------------------


SAME_ACTOR = {
    "kind": "professional",
    "id": GP,
    "profession": "10",
    "specialty": "SM54",
    "organization": ESTABLISHMENT,
    "card_kind": "CPS",
    "access_mode": "normal",
}


def actor_part(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in SAME_ACTOR}


async def test_the_same_professional_is_the_same_actor_whatever_the_mechanism(
    app: FastAPI, authority: pki.Authority, hospital: Establishment, runtime: Runtime
) -> None:
    ins = make_ins(901)
    cert, _ = card(authority, now=now())
    bearer = await whoami(app, {"Authorization": f"Bearer {dev_token(app)}"})
    psc = await whoami(app, {"Authorization": f"Bearer {PSC.token(now(), aud='https://dmp.test')}"})
    by_card = await whoami(app, cert_header(cert))
    over_tls = await whoami(
        with_tls_extension(app, {"client_cert_chain": [pki.pem(cert).decode()]}),
        {},
        UNTRUSTED,  # the TLS layer is the server's own: no proxy involved
    )
    assertion = hospital.assertion(now(), patient_ins=str(ins))
    indirect = await whoami(app, {**cert_header(hospital.cert), "X-DMP-Assertion": assertion})
    responses = {
        "bearer": bearer,
        "psc": psc,
        "card": by_card,
        "tls": over_tls,
        "assertion": indirect,
    }
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        assert actor_part(response.json()) == SAME_ACTOR, name
    mechanisms = {name: r.json()["mechanism"] for name, r in responses.items()}
    assert mechanisms == {
        "bearer": "bearer",
        "psc": "bearer",
        "card": "certificate",
        "tls": "certificate",
        "assertion": "assertion",
    }
    assert indirect.json()["assertion_patient_ins"] == str(ins)
    assert bearer.json()["scopes"] == [
        "ITI-108",
        "ITI-65",
        "ITI-66",
        "ITI-67",
        "ITI-68",
        "ITI-78",
        "ITI-81",
    ]
    assert by_card.json()["scopes"] is None


async def test_break_glass_with_justification_reaches_the_route_as_the_access_mode(
    app: FastAPI, hospital: Establishment
) -> None:
    token = dev_token(app, purpose="break-glass", reason="arrêt cardiaque, patient inconscient")
    body = (await whoami(app, {"Authorization": f"Bearer {token}"})).json()
    assert (body["access_mode"], body["justification"]) == (
        "break-glass",
        "arrêt cardiaque, patient inconscient",
    )
    assertion = hospital.assertion(now(), purpose="regulation")
    body = (await whoami(app, {**cert_header(hospital.cert), "X-DMP-Assertion": assertion})).json()
    assert body["access_mode"] == "regulation"


async def test_a_patient_token_reaches_the_route_as_the_patient(app: FastAPI) -> None:
    ins = make_ins(902)
    token = app.state.authenticator.dev.patient_token(
        ins=str(ins), default_oid=ins.oid, now=now(), ttl=dt.timedelta(minutes=5)
    )
    body = (await whoami(app, {"Authorization": f"Bearer {token}"})).json()
    assert (body["kind"], body["id"], body["mechanism"]) == ("patient", str(ins), "bearer")


async def test_a_token_with_the_routes_scope_is_accepted(app: FastAPI) -> None:
    async with client(app) as http:
        response = await http.get(
            "/test/iti-67", headers={"Authorization": f"Bearer {dev_token(app)}"}
        )
    assert response.json() == {"ok": GP}


async def test_the_development_issuer_publishes_its_public_keys(app: FastAPI) -> None:
    async with client(app) as http:
        jwks = (await http.get("/dev-issuer/jwks.json")).json()
    assert [key["kty"] for key in jwks["keys"]] == ["EC"]
    assert all("d" not in key for key in jwks["keys"])


async def test_professionals_first_seen_are_registered_in_the_directory(
    app: FastAPI, runtime: Runtime
) -> None:
    from sqlalchemy import select

    from opendmp.storage import models as m

    await whoami(app, {"Authorization": f"Bearer {dev_token(app)}"})
    async with runtime.ctx.uow() as uow:
        row = (
            await uow.session.execute(
                select(m.Professional.profession, m.Professional.specialty).where(
                    m.Professional.idnat == GP
                )
            )
        ).one()
    assert tuple(row) == ("10", "SM54")
