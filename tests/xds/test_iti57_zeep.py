"""ITI-57 with zeep against a real server (``server``: uvicorn, real HTTP), the client
built from the served ``/xds/iti57?wsdl`` alone, the VIHF in its SOAP header: the author
masks a document at the patient's request, and a stale PreviousVersion is a Failure; on
SQLite and PostgreSQL.

zeep does not build the ``rim:Identifiable`` substitution group of a RegistryObjectList from
Python values, so a zeep ``Plugin`` (its documented hook on the outgoing envelope) puts the
ebRIM objects into the ``lcm:SubmitObjectsRequest`` zeep serialised."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import zeep
from lxml import etree

from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity
from opendmp.services.records import lifecycle as records
from opendmp.xds import namespaces as ns
from opendmp.xds.transactions import ITI57
from tests.api.fhir_read_support import deposit
from tests.auth_support import ESTABLISHMENT
from tests.conftest import wall_clock
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import document_row, grant
from tests.vihf_support import SIGNER, signed
from tests.xds.iti57_support import new_version, update_request
from tests.xds.test_iti57_soap import VIHF_AUTHOR

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


class RegistryObjects(zeep.Plugin):
    """Replaces the content of the outgoing ``lcm:SubmitObjectsRequest`` by ``request``'s."""

    def __init__(self) -> None:
        self.request: etree._Element | None = None

    def egress(
        self, envelope: etree._Element, http_headers: Any, operation: Any, binding_options: Any
    ) -> tuple[etree._Element, Any]:
        target = envelope.find(f".//{{{ns.LCM}}}SubmitObjectsRequest")
        assert target is not None and self.request is not None
        target[:] = [copy.deepcopy(child) for child in self.request]
        return envelope, http_headers


@pytest.fixture
async def ins(ctx: ServiceContext) -> Ins:
    """A record where the VIHF's professional is authorised; the establishment's key trusted."""
    await identity.register_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    await grant(ctx, ins, VIHF_AUTHOR)
    return ins


def update(server: str, plugin: RegistryObjects, request: etree._Element, ins: Ins) -> Any:
    """One ITI-57 call by zeep with a fresh VIHF for ``ins``; the RegistryResponse."""
    client = zeep.Client(wsdl=f"{server}{ITI57.path}?wsdl", plugins=[plugin])  # type: ignore[no-untyped-call]
    security = etree.Element(f"{{{ns.WSSE}}}Security", nsmap={"wsse": ns.WSSE})
    security.append(signed(now=wall_clock(), patient_ins=str(ins)))
    plugin.request = request
    return client.service.DocumentRegistry_UpdateDocumentSet(
        RegistryObjectList={}, _soapheaders=[security]
    )


async def test_zeep_masks_with_iti57_and_a_stale_version_is_a_failure(
    server: str, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins, actor=VIHF_AUTHOR)
    plugin = RegistryObjects()
    answer = update(
        server, plugin, update_request(ins, new_version(doc, ins, ["MASQUE_PS"]), "1"), ins
    )
    assert answer.status == SUCCESS
    row = await document_row(ctx, doc.id)
    assert row.masked_by_patient and row.version == 2
    stale = update(server, plugin, update_request(ins, new_version(doc, ins, ["N"]), "1"), ins)
    assert stale.status == FAILURE
    assert [e.errorCode for e in stale.RegistryErrorList.RegistryError] == [
        "XDSMetadataVersionError"
    ]
    assert (await document_row(ctx, doc.id)).masked_by_patient
