"""The XDS.b flow end to end on a real server (uvicorn, real HTTP; both databases): an
unmodified zeep client, built from the served ``?wsdl`` alone and carrying VIHFs of
``auth/vihf_issuer.py`` (what ``opendmp vihf`` prints), deposits a CDA document with ITI-41;
ITI-67 (FHIR) finds it with the same metadata; ITI-43 and ITI-68 give its bytes back; masked
with ITI-57, FHIR shows it masked; a document deposited with ITI-65 comes back through
ITI-43; ITI-18 FindDocuments finds the ITI-41 deposit as ITI-67 does.

The client functions are those of docs/examples/xds_provide_and_retrieve.py (zeep's plugin
interface adds the VIHF and the ebRIM objects: docs/xds.md, "ITI-41")."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import MasterKey
from opendmp.config import Settings
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity
from opendmp.services.documents import read_document_metadata
from opendmp.services.documents.lookup import locate_documents_by_identifier
from opendmp.services.records import lifecycle as records
from opendmp.xds import ebrim
from opendmp.xds import namespaces as ns
from tests.api.provide_support import ans_iti65
from tests.auth_support import ESTABLISHMENT, PSC
from tests.conftest import app_settings
from tests.factories import OPERATOR, new_record
from tests.live_server import free_port, live_server
from tests.services.document_support import grant
from tests.vihf_support import PATIENT, SIGNER, signed
from tests.xds.helpers import submission_set_view, submit_request
from tests.xds.iti18_support import find_documents, zeep_find_documents
from tests.xds.iti41_support import SUCCESS, VIHF_PROFESSIONAL, cda_document
from tests.xds.iti57_support import new_version, update_request
from tests.xds.test_iti57_zeep import RegistryObjects, update

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "xds_provide_and_retrieve.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("xds_provide_and_retrieve", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _example()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return app_settings(tmp_path, host="127.0.0.1", port=free_port(), cookie_secure=False)


@pytest.fixture
async def prepared(ctx: ServiceContext) -> ServiceContext:
    """The establishment's VIHF key, the patient's record and the GP's authorisation,
    written on the database and keys the server will use."""
    ctx.clock = _now
    await identity.register_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    await records.create_record(ctx, actor=OPERATOR, request=new_record(PATIENT, _now()))
    await grant(ctx, PATIENT, VIHF_PROFESSIONAL)
    return ctx


@pytest.fixture
def server(
    prepared: ServiceContext,
    settings: Settings,
    engine: AsyncEngine,
    blob_root: Path,
    master_key: MasterKey,
) -> Iterator[str]:
    with live_server(settings, engine, blob_root, master_key) as url:
        yield url


def _bearer() -> dict[str, str]:
    token = PSC.token(_now(), aud="https://dmp.test", scope="ITI-65 ITI-67 ITI-68")
    return {"Authorization": f"Bearer {token}"}


def _vihf() -> Any:
    return signed(_now())


async def _fhir(server: str, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        return await http.get(path, params=params, headers=_bearer())


async def test_provide_find_and_retrieve(server: str, settings: Settings) -> None:
    view, content = cda_document()
    objects = list(submit_request(PATIENT, submission_set_view(), [view])[0])
    answer = client.provide_and_register(server, _vihf(), objects, {view.entry_uuid: content})
    assert answer.status == SUCCESS, answer

    found = await _fhir(
        server,
        "/fhir/DocumentReference",
        **{"patient.identifier": f"{PATIENT.system}|{PATIENT.value}", "status": "current"},
    )
    assert found.status_code == 200, found.text
    (entry,) = found.json()["entry"]
    reference = entry["resource"]
    assert reference["masterIdentifier"]["value"] == f"urn:oid:{view.unique_id}"
    attachment = reference["content"][0]["attachment"]
    assert attachment["contentType"] == view.mime_type
    assert attachment["size"] == len(content)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(content).digest()).decode()  # noqa: S324
    assert attachment["title"] == view.title
    assert reference["type"]["coding"][0]["code"] == view.type_code
    assert reference["context"]["facilityType"]["coding"][0]["code"] == view.facility_type
    assert reference["context"]["practiceSetting"]["coding"][0]["code"] == view.practice_setting

    security = etree.Element(f"{{{ns.WSSE}}}Security", nsmap={"wsse": ns.WSSE})
    security.append(_vihf())
    listed = zeep_find_documents(server, security, find_documents(PATIENT))
    assert listed.status_code == 200, listed.text
    entries = list(etree.fromstring(listed.content).iter(f"{{{ns.RIM}}}ExtrinsicObject"))
    assert len(entries) == 1
    (unique_id,) = [
        x.get("value")
        for x in entries[0].iter(f"{{{ns.RIM}}}ExternalIdentifier")
        if x.get("identificationScheme") == ebrim.DE_UNIQUE_ID
    ]
    assert unique_id == view.unique_id

    retrieved = client.retrieve(
        server, _vihf(), settings.xds_repository_unique_id, [view.unique_id]
    )
    assert retrieved.RegistryResponse.status == SUCCESS
    (document,) = retrieved.DocumentResponse
    assert (document.DocumentUniqueId, document.Document) == (view.unique_id, content)

    # attachment.url names the configured base URL: the same path on the test server.
    raw = await _fhir(server, httpx.URL(attachment["url"]).path)
    assert raw.status_code == 200
    assert raw.content == content


async def test_an_iti65_deposit_is_retrieved_with_iti43(server: str, settings: Settings) -> None:
    bundle = ans_iti65(PATIENT)
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        response = await http.post(
            "/fhir", json=bundle, headers={**_bearer(), "Content-Type": "application/fhir+json"}
        )
    assert response.status_code == 200, response.text
    binary = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
    content = base64.b64decode(binary["resource"]["data"])
    reference = next(
        e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
    )
    unique_id = reference["resource"]["masterIdentifier"]["value"].removeprefix("urn:oid:")
    retrieved = client.retrieve(server, _vihf(), settings.xds_repository_unique_id, [unique_id])
    assert retrieved.RegistryResponse.status == SUCCESS
    (document,) = retrieved.DocumentResponse
    assert document.Document == content


async def test_the_documented_script_runs(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lxml import etree

    files = []
    for name in ("v41.xml", "v43.xml"):
        (tmp_path / name).write_bytes(etree.tostring(_vihf()))
        files.append(str(tmp_path / name))
    client.main(*files, server)
    printed = capsys.readouterr().out
    assert "ITI-41: Success" in printed
    assert "ITI-43: Success application/pdf" in printed


async def test_an_iti41_document_masked_with_iti57_is_masked_in_fhir(
    server: str, prepared: ServiceContext
) -> None:
    view, content = cda_document()
    objects = list(submit_request(PATIENT, submission_set_view(), [view])[0])
    answer = client.provide_and_register(server, _vihf(), objects, {view.entry_uuid: content})
    assert answer.status == SUCCESS, answer
    (where,) = await locate_documents_by_identifier(
        prepared, unique_ids=[view.unique_id], ins=PATIENT
    )
    stored = await read_document_metadata(
        prepared, actor=VIHF_PROFESSIONAL, ins=PATIENT, document_id=where.document_id
    )

    request = update_request(PATIENT, new_version(stored, PATIENT, ["MASQUE_PS"]), "1")
    updated = update(server, RegistryObjects(), request, PATIENT)
    assert updated.status == SUCCESS

    shown = await _fhir(server, f"/fhir/DocumentReference/{where.document_id}")
    assert shown.status_code == 200, shown.text
    labels = {c["code"] for label in shown.json()["securityLabel"] for c in label["coding"]}
    assert "MASQUE_PS" in labels
