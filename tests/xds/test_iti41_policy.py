"""An ITI-41 deposit the access policy refuses (a professional the patient blocked, with
``OPENDMP_BLOCKED_MAY_DEPOSIT=false``): ``LocalPolicyRestrictionError``, nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opendmp.app import Runtime
from tests.api.provide_support import create_record_for, state
from tests.factories import make_ins
from tests.services.document_support import grant
from tests.xds.iti41_support import (
    FAILURE,
    VIHF_PROFESSIONAL,
    Provide,
    cda_document,
    error_codes,
    provide,
    vihf_ready,
)

__all__ = ["vihf_ready"]


@pytest.fixture
def app_settings_overrides() -> dict[str, Any]:
    return {"blocked_may_deposit": False}


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
