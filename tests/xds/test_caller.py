"""``xds.caller.caller``: the VIHF of the ``wsse:Security`` header, verified by auth/vihf.py,
is who calls an XDS.b transaction (docs/xds.md, "Authentication"); a missing, forged or
replayed VIHF is a Sender fault with HTTP 401 and the refusal's code."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from opendmp.app import Runtime
from opendmp.auth.vihf import VihfIdentity
from opendmp.services.directory import identity
from opendmp.xds import api
from opendmp.xds import namespaces as ns
from opendmp.xds.api import XdsCall
from opendmp.xds.caller import caller
from opendmp.xds.registry_response import registry_reply
from opendmp.xds.soap import SoapReply
from opendmp.xds.transactions import ITI18
from tests.auth_support import ESTABLISHMENT, GP, NOW
from tests.conftest import Clock
from tests.factories import OPERATOR
from tests.vihf_support import SIGNER, signed
from tests.xds.soap_support import SOAP_TYPE, dmp, envelope, fault_of

QUERY = f"<query:AdhocQueryRequest xmlns:query='{ns.QUERY}'/>"


@pytest.fixture
async def callers(
    runtime: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> list[VihfIdentity]:
    """ITI-18 answered by a handler that only authenticates; the demo establishment's VIHF
    key registered, the clock at the VIHFs' issue time."""
    clock.now = NOW
    await identity.register_establishment_key(
        runtime.ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    seen: list[VihfIdentity] = []

    async def authenticated(call: XdsCall) -> SoapReply:
        seen.append(await caller(call))
        return registry_reply()

    monkeypatch.setitem(api.HANDLERS, ITI18.action, authenticated)
    return seen


def _with_vihf(assertion: etree._Element | None) -> bytes:
    security = ""
    if assertion is not None:
        held = etree.tostring(assertion).decode()
        security = f'<wsse:Security xmlns:wsse="{ns.WSSE}">{held}</wsse:Security>'
    return envelope(QUERY, ITI18.action, message_id="urn:uuid:7", headers=security)


async def _post(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post(ITI18.path, content=body, headers={"Content-Type": SOAP_TYPE})


async def test_a_signed_vihf_is_the_caller(
    http: httpx.AsyncClient, callers: list[VihfIdentity]
) -> None:
    response = await _post(http, _with_vihf(signed()))
    assert response.status_code == 200, response.text
    (who,) = callers
    assert who.actor.idnat == GP
    assert who.vihf.structure == ESTABLISHMENT


async def test_no_vihf_is_a_401_fault(http: httpx.AsyncClient, callers: list[VihfIdentity]) -> None:
    response = await _post(http, _with_vihf(None))
    assert response.status_code == 401
    fault = fault_of(response)
    assert fault.subcode == dmp("vihf-missing")
    assert fault.relates_to == "urn:uuid:7"
    assert callers == []


async def test_a_replayed_vihf_is_refused(
    http: httpx.AsyncClient, callers: list[VihfIdentity]
) -> None:
    body = _with_vihf(signed())
    assert (await _post(http, body)).status_code == 200
    again = await _post(http, body)
    assert again.status_code == 401
    assert fault_of(again).subcode == dmp("vihf-replayed")
    assert len(callers) == 1


async def test_a_tampered_vihf_is_refused(
    http: httpx.AsyncClient, callers: list[VihfIdentity]
) -> None:
    forged = GP[:-1] + ("1" if GP[-1] != "1" else "2")
    body = _with_vihf(signed()).replace(GP.encode(), forged.encode())
    assert forged.encode() in body
    response = await _post(http, body)
    assert response.status_code == 401
    assert fault_of(response).code == f"{{{ns.SOAP12}}}Sender"
    assert callers == []
