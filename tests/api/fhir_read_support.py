"""Harness for the FHIR read/search/update API tests (ITI-66, ITI-67, ITI-68, PATCH): the
real app over ASGI on the test database (SQLite, and PostgreSQL when
``OPENDMP_TEST_DATABASE_URL`` is set: the ``runtime``/``app`` fixtures of tests/conftest.py),
the controllable clock, bearer tokens from a trusted issuer for the actors below, deposits
through the services, and FHIR validation of every body with the R4B models.

The fixtures ``runtime`` and ``app`` are in tests/conftest.py, ``http`` and ``ins`` in
tests/api/conftest.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from opendmp.domain.actors import Actor, Patient, Professional
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentView
from opendmp.storage import models as m
from tests.api.provide_support import FHIR_JSON, FHIR_XML, codes_of, valid_fhir
from tests.auth_support import PSC, finess_struct
from tests.conftest import Clock
from tests.factories import make_professional, submission
from tests.services.document_support import counted_statements, record_events

HOSPITAL = finess_struct(1)
OTHER_HOSPITAL = finess_struct(2)
AUTHOR = make_professional(21, organization=HOSPITAL)  # doctor, author of the documents
DOCTOR = make_professional(23, organization=OTHER_HOSPITAL)  # authorised doctor elsewhere
TREATING = make_professional(24)  # médecin traitant of the record
PHARMACIST = make_professional(25, profession="21", specialty=None)
BLOCKED = make_professional(26)
STRANGER = make_professional(27)  # no access basis
ALL_SCOPES = "ITI-65 ITI-66 ITI-67 ITI-68"
PSYCHIATRIC_SYNTHESIS = "68599-0"
CONTENT = b"%PDF-1.4 synthetic document for FICTIF Alex"


def token(ctx: ServiceContext, actor: Actor, *, scope: str = ALL_SCOPES, **claims: Any) -> str:
    if isinstance(actor, Patient):
        base: dict[str, Any] = {
            "kind": "patient",
            "sub": actor.ins,
            "profession": None,
            "specialty": None,
            "organization": None,
            "name": "FICTIF Alex",
        }
    else:
        assert isinstance(actor, Professional)
        base = {
            "sub": actor.idnat,
            "profession": actor.profession,
            "specialty": actor.specialty,
            "organization": actor.organization,
            "name": actor.name,
        }
    base.update(claims)
    return PSC.token(ctx.now(), aud="https://dmp.test", scope=scope, **base)


def auth(ctx: ServiceContext, actor: Actor, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(ctx, actor, **claims)}"}


def patient(ins: Ins) -> Patient:
    return Patient(ins=str(ins))


async def deposit(
    ctx: ServiceContext,
    ins: Ins,
    *,
    actor: Actor = AUTHOR,
    content: bytes = CONTENT,
    advance: float = 60,
    **overrides: Any,
) -> DocumentView:
    """Deposit through the service, then move the clock (distinct deposit times)."""
    view = await documents.deposit_document(
        ctx, actor=actor, ins=ins, submission=submission(ctx.now(), content, **overrides)
    )
    clock = ctx.clock
    if isinstance(clock, Clock):
        clock.advance(seconds=advance)
    return view


async def fhir_search(
    http: httpx.AsyncClient,
    ctx: ServiceContext,
    params: dict[str, str],
    *,
    path: str,
    actor: Actor = AUTHOR,
    post: bool = False,
    **headers: str,
) -> httpx.Response:
    """A search of ``path`` (``/fhir/<type>``) as ``actor``: GET, or form-encoded POST to
    ``<path>/_search``."""
    sent = {**auth(ctx, actor), **headers}
    if post:
        return await http.post(f"{path}/_search", data=params, headers=sent)
    return await http.get(path, params=params, headers=sent)


def entry_id(view: DocumentView) -> str:
    return view.entry_uuid.removeprefix("urn:uuid:")


def ins_token(ins: Ins) -> str:
    return f"{ins.system}|{ins.value}"


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The response body validated with the R4B model of its resourceType."""
    return valid_fhir(response.content, response.headers.get("content-type", FHIR_JSON))


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]


def ids_of(bundle: dict[str, Any]) -> list[str]:
    return [r["id"] for r in resources(bundle, "DocumentReference")]


async def events(ctx: ServiceContext, ins: Ins, action: str | None = None) -> list[m.AuditEvent]:
    return [e for e in await record_events(ctx, ins) if action is None or e.action == action]


__all__ = [
    "ALL_SCOPES",
    "AUTHOR",
    "BLOCKED",
    "CONTENT",
    "DOCTOR",
    "FHIR_JSON",
    "FHIR_XML",
    "PHARMACIST",
    "PSYCHIATRIC_SYNTHESIS",
    "STRANGER",
    "TREATING",
    "auth",
    "body_of",
    "codes_of",
    "counted_statements",
    "deposit",
    "entry_id",
    "events",
    "fhir_search",
    "ids_of",
    "ins_token",
    "patient",
    "resources",
    "token",
]
