"""ITI-18 through the SOAP transport (docs/xds.md, "ITI-18"): a raw SOAP 1.2 request with a
signed VIHF, answered with a schema-valid AdhocQueryResponse; query errors in its
RegistryErrorList, a policy refusal a fault (audited); and a zeep client built from the
served WSDL. On both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime
from opendmp.blobs import MasterKey
from opendmp.config import load_settings
from opendmp.domain.actors import Professional
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity
from opendmp.xds import namespaces as ns
from opendmp.xds import stored_query as sq
from opendmp.xds.metadata_out import patient_cx
from opendmp.xds.transactions import ITI18
from tests.auth_support import ESTABLISHMENT, GP, NOW, idnat
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins
from tests.live_server import free_port, live_server
from tests.services.document_support import AUTHOR, deposit, grant, last_event, new_patient_record
from tests.vihf_support import SIGNER, signed
from tests.xds.iti18_support import (
    APPROVED,
    adhoc,
    find_documents,
    listed,
    quoted,
    zeep_find_documents,
)
from tests.xds.soap_support import SOAP_TYPE, dmp, envelope, fault_of

VIHF_GP = Professional(
    idnat=GP,
    profession="10",
    specialty="SM54",
    organization=ESTABLISHMENT,
    name="TESTPRO Dominique",
)
SCHEMA = Path(__file__).parents[2] / "src/opendmp/xds/wsdl/schema/ebRS30/query.xsd"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
R = f"{{{ns.RIM}}}"
MESSAGE_ID = "urn:uuid:0c4c9a2e-5f2b-4b1e-9a59-6b4bd1f1a001"


async def patient_with_a_document(ctx: ServiceContext) -> tuple[Ins, str]:
    await identity.register_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, AUTHOR)
    await grant(ctx, ins, VIHF_GP)
    return ins, (await deposit(ctx, ins)).entry_uuid


async def post(
    http: httpx.AsyncClient, request: etree._Element, vihf_patient: Ins, **vihf: Any
) -> httpx.Response:
    assertion = etree.tostring(signed(patient_ins=str(vihf_patient), **vihf)).decode()
    security = f'<wsse:Security xmlns:wsse="{ns.WSSE}">{assertion}</wsse:Security>'
    body = envelope(
        etree.tostring(request).decode(),
        ITI18.action,
        message_id=MESSAGE_ID,
        headers=security,
    )
    return await http.post(ITI18.path, content=body, headers={"Content-Type": SOAP_TYPE})


def query_response(content: bytes) -> etree._Element:
    """The AdhocQueryResponse of a SOAP answer, valid against the served schema."""
    root = etree.fromstring(content)
    assert root.findtext(f"{{{ns.SOAP12}}}Header/{{{ns.WSA}}}Action") == ITI18.response_action
    body = root.find(f"{{{ns.SOAP12}}}Body/{{{ns.QUERY}}}AdhocQueryResponse")
    assert body is not None, content
    etree.XMLSchema(etree.parse(str(SCHEMA))).assertValid(body)
    return body


def response_of(answer: httpx.Response) -> etree._Element:
    assert answer.status_code == 200, answer.text
    relates_to = etree.fromstring(answer.content).findtext(
        f"{{{ns.SOAP12}}}Header/{{{ns.WSA}}}RelatesTo"
    )
    assert relates_to == MESSAGE_ID
    return query_response(answer.content)


def errors_of(response: etree._Element) -> list[str]:
    return [str(e.get("errorCode")) for e in response.iter(f"{{{ns.RS}}}RegistryError")]


async def test_find_documents_over_soap(
    runtime: Runtime, clock: Clock, http: httpx.AsyncClient
) -> None:
    clock.now = NOW
    ins, entry_uuid = await patient_with_a_document(runtime.ctx)

    response = response_of(await post(http, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins))

    assert response.get("status") == SUCCESS and errors_of(response) == []
    [found] = response.iter(f"{R}ExtrinsicObject")
    assert found.get("id") == entry_uuid
    refs = response_of(
        await post(
            http,
            adhoc(sq.FIND_DOCUMENTS, find_documents(ins), return_type="ObjectRef"),
            ins,
        )
    )
    assert [o.get("id") for o in refs.iter(f"{R}ObjectRef")] == [entry_uuid]


async def test_get_all_answers_schema_valid_packages_and_associations(
    runtime: Runtime, clock: Clock, http: httpx.AsyncClient
) -> None:
    clock.now = NOW
    ins, entry_uuid = await patient_with_a_document(runtime.ctx)
    params = {
        "$patientId": quoted(patient_cx(ins)),
        "$XDSDocumentEntryStatus": listed([APPROVED]),
        "$XDSSubmissionSetStatus": listed([APPROVED]),
    }

    response = response_of(await post(http, adhoc(sq.GET_ALL, params), ins))

    [package] = response.iter(f"{R}RegistryPackage")
    [member] = response.iter(f"{R}Association")
    assert (member.get("sourceObject"), member.get("targetObject")) == (
        package.get("id"),
        entry_uuid,
    )


async def test_a_patient_without_a_record_is_an_empty_success(
    runtime: Runtime, clock: Clock, http: httpx.AsyncClient
) -> None:
    clock.now = NOW
    await patient_with_a_document(runtime.ctx)
    nobody = make_ins()

    response = response_of(
        await post(http, adhoc(sq.FIND_DOCUMENTS, find_documents(nobody)), nobody)
    )

    assert response.get("status") == SUCCESS and errors_of(response) == []
    listed = response.find(f"{R}RegistryObjectList")
    assert listed is not None and len(listed) == 0


async def test_query_errors_are_answered_in_the_registry_error_list(
    runtime: Runtime, clock: Clock, http: httpx.AsyncClient
) -> None:
    clock.now = NOW
    ins, _ = await patient_with_a_document(runtime.ctx)
    no_patient = find_documents(ins)
    del no_patient["$XDSDocumentEntryPatientId"]

    cases = {
        sq.PATIENT_ID_DOES_NOT_MATCH: (adhoc(sq.FIND_DOCUMENTS, find_documents(make_ins())), ins),
        sq.MISSING_PARAM: (adhoc(sq.FIND_DOCUMENTS, no_patient), ins),
        sq.UNKNOWN_STORED_QUERY: (adhoc("urn:uuid:958f3006-baad-4929-a4de-ff1114824431", {}), ins),
    }
    for code, (request, vihf_patient) in cases.items():
        response = response_of(await post(http, request, vihf_patient))
        assert response.get("status") == FAILURE
        assert errors_of(response) == [code]
        assert list(response.iter(f"{R}ExtrinsicObject")) == []


async def test_an_unauthorised_professional_gets_an_audited_refusal(
    runtime: Runtime, clock: Clock, http: httpx.AsyncClient
) -> None:
    clock.now = NOW
    ins, _ = await patient_with_a_document(runtime.ctx)
    stranger = idnat(99)

    answer = await post(http, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins, idnat=stranger)

    assert answer.status_code == 403
    assert fault_of(answer).subcode == dmp("not-authorized")
    denied = await last_event(runtime.ctx, ins)
    assert (denied.action, denied.outcome) == ("document:document:search", "denied")


# --- zeep, from the served WSDL, against a real server ----------------------------------


@pytest.fixture
def server(engine: AsyncEngine, tmp_path: Path, master_key: MasterKey) -> Iterator[str]:
    settings = load_settings(
        home=tmp_path,
        mode="development",
        host="127.0.0.1",
        port=free_port(),
        cookie_secure=False,
        run_worker_in_process=False,
    )
    with live_server(settings, engine, tmp_path / "blobs", master_key) as url:
        yield url


async def test_zeep_runs_find_documents_from_the_served_wsdl(
    server: str, ctx: ServiceContext
) -> None:
    ins, entry_uuid = await patient_with_a_document(ctx)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    security = etree.Element(f"{{{ns.WSSE}}}Security", nsmap={"wsse": ns.WSSE})
    security.append(signed(now, patient_ins=str(ins)))
    params = find_documents(ins)
    answer = zeep_find_documents(server, security, params)

    assert answer.status_code == 200, answer.text
    response = query_response(answer.content)
    assert response.get("status") == SUCCESS
    assert [e.get("id") for e in response.iter(f"{R}ExtrinsicObject")] == [entry_uuid]
