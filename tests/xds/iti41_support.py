"""Building ITI-41 / ITI-43 requests as a client would (a VIHF in ``wsse:Security``, the
documents inline or as MTOM parts), and reading their answers, for the transaction tests."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lxml import etree

from opendmp.app import Runtime
from opendmp.domain.identifiers import Ins
from opendmp.services.directory import identity
from opendmp.services.documents.views import DocumentView
from opendmp.xds import namespaces as ns
from opendmp.xds.transactions import ITI41, ITI43
from tests.api.provide_support import cda, create_record_for, state
from tests.auth_support import ESTABLISHMENT, GP, NOW
from tests.conftest import Clock
from tests.factories import OPERATOR, make_professional
from tests.services.document_support import grant
from tests.vihf_support import PATIENT, SIGNER, signed
from tests.xds.helpers import document_view, submission_set_view, submit_request
from tests.xds.soap_support import SOAP_TYPE, Part, envelope, mtom

# The CDA's effectiveTime and service start, the day before the tests' clock (NOW).
CDA_EFFECTIVE = "20260228100000+0100"
CDA_TIME = dt.datetime(2026, 2, 28, 9, 0, tzinfo=dt.UTC)
XDSB = f"{{{ns.XDSB}}}"
RS = f"{{{ns.RS}}}"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
# The professional of tests/vihf_support.py's VIHFs (GP, at ESTABLISHMENT).
VIHF_PROFESSIONAL = make_professional(11, organization=ESTABLISHMENT)


@pytest.fixture
async def vihf_ready(runtime: Runtime, clock: Clock) -> Runtime:
    """The clock at the VIHFs' issue time, the test establishment's VIHF key registered and
    the record of the VIHFs' patient open, its professional authorised by the patient."""
    clock.now = NOW
    await identity.register_establishment_key(
        runtime.ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    await create_record_for(runtime, PATIENT)
    await grant(runtime.ctx, PATIENT, VIHF_PROFESSIONAL)
    return runtime


def cda_document(
    ins: Ins = PATIENT, unique_id: str | None = None, **overrides: object
) -> tuple[DocumentView, bytes]:
    """A CDA document and its view, the metadata matching the CDA header (author: the VIHF's
    professional)."""
    unique_id = unique_id or f"1.2.250.1.999.1.{uuid.uuid4().int % 10**12}"
    content = cda(
        unique_id=unique_id,
        ins=ins,
        type_code="11488-4",
        author_idnat=GP,
        effective=CDA_EFFECTIVE,
        service_start=CDA_EFFECTIVE,
    )
    values: dict[str, object] = dict(
        unique_id=unique_id,
        type_code="11488-4",
        title="Compte rendu de consultation",
        format_code="urn:ihe:iti:xds:2017:mimeTypeSufficient",
        author_idnat=GP,
        mime_type="text/xml",
        creation_time=CDA_TIME,
        service_start=CDA_TIME,
        service_stop=CDA_TIME + dt.timedelta(minutes=30),
    )
    values.update(overrides)
    return document_view(content, **values), content


def security(patient: Ins = PATIENT, **vihf: Any) -> str:
    assertion = etree.tostring(signed(patient_ins=str(patient), **vihf)).decode()
    return f'<wsse:Security xmlns:wsse="{ns.WSSE}">{assertion}</wsse:Security>'


@dataclass
class Provide:
    """An ITI-41 request: ``documents`` (view, bytes) submitted for ``ins``."""

    ins: Ins
    documents: list[tuple[DocumentView, bytes]]
    caller_patient: Ins = PATIENT

    def submit_objects(self) -> etree._Element:
        return submit_request(self.ins, submission_set_view(), [v for v, _ in self.documents])

    def body(self, holders: list[str], objects: etree._Element | None = None) -> str:
        objects = self.submit_objects() if objects is None else objects
        held = "".join(
            f'<xdsb:Document id="{view.entry_uuid}">{holder}</xdsb:Document>'
            for (view, _), holder in zip(self.documents, holders, strict=True)
        )
        return (
            f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{ns.XDSB}"'
            f' xmlns:xop="{ns.XOP}">{etree.tostring(objects).decode()}{held}'
            "</xdsb:ProvideAndRegisterDocumentSetRequest>"
        )

    def inline(self, objects: etree._Element | None = None) -> tuple[bytes, str]:
        holders = [base64.b64encode(content).decode() for _, content in self.documents]
        return self._envelope(self.body(holders, objects)), SOAP_TYPE

    def mtom(self, objects: etree._Element | None = None) -> tuple[bytes, str]:
        cids = [f"doc{n}@test" for n in range(len(self.documents))]
        holders = [f'<xop:Include href="cid:{cid}"/>' for cid in cids]
        parts = [
            Part(content, cid, view.mime_type)
            for (view, content), cid in zip(self.documents, cids, strict=True)
        ]
        return mtom(self._envelope(self.body(holders, objects)), parts)

    def _envelope(self, body: str) -> bytes:
        return envelope(
            body,
            ITI41.action,
            message_id=f"urn:uuid:{uuid.uuid4()}",
            headers=security(self.caller_patient),
        )


async def post(
    http: httpx.AsyncClient, path: str, body: bytes, content_type: str
) -> etree._Element:
    """POST a SOAP request; the answer's Body element (asserting HTTP 200, no fault)."""
    response = await http.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    (answer,) = root.find(f"{{{ns.SOAP12}}}Body")  # type: ignore[misc]
    return answer


async def provide(http: httpx.AsyncClient, request: tuple[bytes, str]) -> etree._Element:
    return await post(http, ITI41.path, *request)


def error_codes(response: etree._Element) -> list[str]:
    return [str(e.get("errorCode")) for e in response.iter(f"{RS}RegistryError")]


def retrieve_request(*wanted: tuple[str, str], patient: Ins = PATIENT, **vihf: Any) -> bytes:
    items = "".join(
        f"<xdsb:DocumentRequest><xdsb:RepositoryUniqueId>{repo}</xdsb:RepositoryUniqueId>"
        f"<xdsb:DocumentUniqueId>{uid}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"
        for repo, uid in wanted
    )
    body = (
        f'<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{ns.XDSB}">{items}'
        "</xdsb:RetrieveDocumentSetRequest>"
    )
    return envelope(
        body,
        ITI43.action,
        message_id=f"urn:uuid:{uuid.uuid4()}",
        headers=security(patient, **vihf),
    )


async def unchanged(runtime: Runtime, before: object) -> None:
    """Nothing stored since ``before`` (rows and blob files)."""
    assert await state(runtime) == before
