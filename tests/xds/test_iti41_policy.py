"""ITI-41 / ITI-43 under settings of their own: a deposit the access policy refuses (a
professional the patient blocked, with ``OPENDMP_BLOCKED_MAY_DEPOSIT=false``) is
``LocalPolicyRestrictionError`` with nothing stored; beyond
``OPENDMP_MAX_DOCUMENTS_PER_SUBMISSION``, a request is a fault (as the transport's bounds
are), nothing stored or read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opendmp.app import Runtime
from opendmp.xds.transactions import ITI41, ITI43
from tests.api.provide_support import create_record_for, state
from tests.factories import make_ins
from tests.services.document_support import grant
from tests.vihf_support import PATIENT
from tests.xds.iti41_support import (
    FAILURE,
    VIHF_PROFESSIONAL,
    Provide,
    cda_document,
    error_codes,
    provide,
    retrieve_request,
    vihf_ready,
)
from tests.xds.soap_support import SOAP_TYPE, dmp, fault_of

__all__ = ["vihf_ready"]


@pytest.fixture
def app_settings_overrides() -> dict[str, Any]:
    return {"blocked_may_deposit": False, "max_documents_per_submission": 1}


async def test_a_blocked_professional_deposits_nothing(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    ins = make_ins(906)
    await create_record_for(vihf_ready, ins)
    await grant(vihf_ready.ctx, ins, VIHF_PROFESSIONAL, state="blocked")
    before = await state(vihf_ready)
    request = Provide(ins, [cda_document(ins)], caller_patient=ins)
    answer = await provide(http, request.mtom())
    assert (answer.get("status"), error_codes(answer)) == (FAILURE, ["LocalPolicyRestrictionError"])
    assert await state(vihf_ready) == before


async def test_more_documents_than_the_bound_is_a_fault(
    http: httpx.AsyncClient, vihf_ready: Runtime
) -> None:
    before = await state(vihf_ready)
    body, content_type = Provide(PATIENT, [cda_document(), cda_document()]).inline()
    response = await http.post(ITI41.path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert fault_of(response).subcode == dmp("too-many-documents")
    assert await state(vihf_ready) == before
    wanted = retrieve_request(("1.2.3", "1.2.3.1"), ("1.2.3", "1.2.3.2"))
    response = await http.post(ITI43.path, content=wanted, headers={"Content-Type": SOAP_TYPE})
    assert response.status_code == 422
    assert fault_of(response).subcode == dmp("too-many-documents")
