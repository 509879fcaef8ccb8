"""ITI-57 through a real SOAP 1.2 request (raw httpx, a signed VIHF in wsse:Security) on
SQLite and PostgreSQL: the author archives a document, the archive shows in FHIR; a VIHF for
another patient gets a Failure RegistryResponse and changes nothing."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from opendmp.app import Runtime
from opendmp.domain.actors import Professional
from opendmp.domain.identifiers import Ins
from opendmp.services.directory import identity
from opendmp.services.documents import DocumentView
from opendmp.services.records import lifecycle as records
from opendmp.xds import ebrim
from opendmp.xds import namespaces as ns
from opendmp.xds.transactions import ITI57
from tests.api.fhir_read_support import auth, body_of, deposit, entry_id, patient
from tests.auth_support import ESTABLISHMENT, GP, NOW
from tests.conftest import Clock
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import document_row, grant
from tests.vihf_support import SIGNER, signed
from tests.xds.iti57_support import new_version, status_request, update_request
from tests.xds.soap_support import SOAP_TYPE, envelope

# The professional the VIHF names (tests/vihf_support.py), author of the documents.
VIHF_AUTHOR = Professional(
    idnat=GP,
    profession="10",
    specialty="SM54",
    organization=ESTABLISHMENT,
    name="TESTPRO Dominique",
)
RS = f"{{{ns.RS}}}"


@pytest.fixture
async def ins(runtime: Runtime, clock: Clock) -> Ins:
    """A record where the VIHF's professional is authorised; the establishment's VIHF key
    trusted; the clock at the VIHFs' issue time."""
    clock.now = NOW
    await identity.register_establishment_key(
        runtime.ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    ins = make_ins()
    await records.create_record(runtime.ctx, actor=OPERATOR, request=new_record(ins, NOW))
    await grant(runtime.ctx, ins, VIHF_AUTHOR)
    return ins


async def post(
    http: httpx.AsyncClient, request: etree._Element, patient_ins: Ins
) -> etree._Element:
    """The ITI-57 exchange; the RegistryResponse."""
    vihf = etree.tostring(signed(patient_ins=str(patient_ins))).decode()
    security = f'<wsse:Security xmlns:wsse="{ns.WSSE}">{vihf}</wsse:Security>'
    body = envelope(
        etree.tostring(request).decode(),
        ITI57.action,
        message_id="urn:uuid:57",
        headers=security,
    )
    response = await http.post(ITI57.path, content=body, headers={"Content-Type": SOAP_TYPE})
    assert response.status_code == 200, response.text
    found = etree.fromstring(response.content).find(f".//{RS}RegistryResponse")
    assert found is not None
    return found


def errors_of(response: etree._Element) -> list[str]:
    return [str(e.get("errorCode")) for e in response.iter(f"{RS}RegistryError")]


async def authored(runtime: Runtime, ins: Ins) -> DocumentView:
    return await deposit(runtime.ctx, ins, actor=VIHF_AUTHOR)


async def test_the_author_archives_over_soap_and_fhir_shows_it(
    http: httpx.AsyncClient, runtime: Runtime, ins: Ins
) -> None:
    doc = await authored(runtime, ins)
    response = await post(http, status_request(ins, doc.entry_uuid, ebrim.DMP_ARCHIVED), ins)
    assert response.get("status") == ebrim.RESPONSE_SUCCESS, etree.tostring(response)
    row = await document_row(runtime.ctx, doc.id)
    assert row.archived and row.version == 2
    read = await http.get(
        f"/fhir/DocumentReference/{row.entry_uuid.removeprefix('urn:uuid:')}",
        headers=auth(runtime.ctx, patient(ins)),
    )
    assert read.status_code == 200, read.text
    archived = [e for e in body_of(read).get("extension", []) if "archived" in e["url"].lower()]
    assert archived and archived[0]["valueBoolean"] is True
    assert entry_id(doc) != row.entry_uuid.removeprefix("urn:uuid:")


async def test_a_vihf_for_another_patient_is_a_failure_and_changes_nothing(
    http: httpx.AsyncClient, runtime: Runtime, ins: Ins
) -> None:
    doc = await authored(runtime, ins)
    request = update_request(ins, new_version(doc, ins, ["INVISIBLE_PATIENT"]), "1")
    response = await post(http, request, make_ins())
    assert response.get("status") == ebrim.RESPONSE_FAILURE
    assert errors_of(response) == ["XDSPatientIdDoesNotMatch"]
    row = await document_row(runtime.ctx, doc.id)
    assert (row.version, row.invisible_to_patient) == (1, False)


async def test_a_refused_version_is_a_failure_with_its_code(
    http: httpx.AsyncClient, runtime: Runtime, ins: Ins
) -> None:
    doc = await authored(runtime, ins)
    request = update_request(ins, new_version(doc, ins, ["INVISIBLE_PATIENT"]), "7")
    response = await post(http, request, ins)
    assert errors_of(response) == ["XDSMetadataVersionError"]
    assert (await document_row(runtime.ctx, doc.id)).version == 1
