"""Helpers for the ITI-65 / ITI-105 API tests (their app is the ``runtime``/``app`` fixtures
of tests/conftest.py, on both databases): bearer tokens from a trusted issuer, the public
example bundles adapted to a test INS, CI-SIS CDA documents wrapped into bundles, and
counters proving that a refusal changed nothing."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fhir.resources.R4B import get_fhir_model_class

from opendmp.app import Runtime, build_runtime, create_app
from opendmp.cda.header import parse_header
from opendmp.domain.identifiers import INS_NIR_TEST_OID, Ins, parse_ins
from opendmp.services.records import lifecycle as records
from opendmp.storage.migrate import upgrade
from tests.auth_support import PSC
from tests.conftest import app_settings, wall_clock
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import document_counts

TESTDATA = Path("/work/shared/testdata")
IHE_BUNDLE = TESTDATA / "oehf-ipf/mhd-examples/test.json"
ANS = TESTDATA / "ans-pdsm4dmp/examples"
ANS_ITI65 = ANS / "Bundle-example-td2-iti65-lot-soumission.json"
ANS_REPLACE = ANS / "Bundle-example-td2-1-remplacement.json"
ANS_ITI105 = ANS / "DocumentReference-example-td2-iti105-publication-simplifiee.json"
CDA_DIR = TESTDATA / "ans-cisis-cda/ExemplesCDA"
CISIS_INS = parse_ins("279035121518989", INS_NIR_TEST_OID)  # the CI-SIS examples' patient
ANS_EXAMPLE_INS = ("urn:oid:1.2.250.1.213.1.4.8", "123456789012345")  # not a valid INS

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def make_runtime(home: Path, **overrides: Any) -> Runtime:
    """A runtime on a database of its own (``database_url`` in ``overrides``), migrated: for
    the fault tests that stop that database; other tests take the ``runtime`` fixture."""
    rt = build_runtime(app_settings(home, **overrides), create_key=True)
    await upgrade(rt.engine)
    return rt


def make_app(rt: Runtime) -> FastAPI:
    return create_app(rt.settings, rt)


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 40000)),
        base_url="http://dmp.test",
    )


def bearer(scope: str = "ITI-65 ITI-105 ITI-67", **claims: Any) -> dict[str, str]:
    token = PSC.token(now(), aud="https://dmp.test", scope=scope, **claims)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(name="clock")
def clock_fixture() -> Callable[[], dt.datetime]:
    """The app's clock (of the ``runtime``/``app`` fixtures): the tokens are minted now."""
    return wall_clock


@pytest.fixture(name="ins")
async def ins_fixture(runtime: Runtime) -> Ins:
    """A new record, with no access granted to anyone."""
    ins = make_ins()
    await create_record_for(runtime, ins)
    return ins


async def create_record_for(rt: Runtime, ins: Ins, **overrides: Any) -> None:
    await records.create_record(rt.ctx, actor=OPERATOR, request=new_record(ins, now(), **overrides))


def ins_subject(ins: Ins) -> dict[str, Any]:
    return {"identifier": {"system": ins.system, "value": ins.value}}


# --- what a refusal must leave unchanged ------------------------------------------------------


async def state(rt: Runtime) -> tuple[int, int, int, list[str]]:
    """(documents, submission sets, superseded documents, blob files)."""
    docs, sets, superseded = await document_counts(rt.ctx)
    blobs = sorted(
        str(p.relative_to(rt.settings.blob_dir))
        for p in rt.settings.blob_dir.rglob("*")
        if p.is_file()
    )
    return docs, sets, superseded, blobs


# --- FHIR checks --------------------------------------------------------------------------------


def valid_fhir(body: bytes, content_type: str = FHIR_JSON) -> dict[str, Any]:
    """Validate a response body with the R4B model of its resourceType; return it as JSON."""
    if content_type.startswith(FHIR_XML):
        from lxml import etree

        name = etree.QName(etree.fromstring(body)).localname
        model = get_fhir_model_class(name).model_validate_xml(body)
        data: dict[str, Any] = orjson.loads(model.model_dump_json(exclude_none=True))
        return data
    data = orjson.loads(body)
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    return data


def codes_of(outcome: dict[str, Any]) -> set[str]:
    return {
        c["code"]
        for i in outcome.get("issue", [])
        for c in (i.get("details") or {}).get("coding", [])
    }


def to_xml(resource: dict[str, Any]) -> bytes:
    xml = get_fhir_model_class(resource["resourceType"]).model_validate(resource).model_dump_xml()
    return xml.encode() if isinstance(xml, str) else xml


# --- content ----------------------------------------------------------------------------------


def sha1_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha1(content).digest()).decode()  # noqa: S324 - XDS hash


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def cda(
    *,
    unique_id: str,
    ins: Ins,
    type_code: str = "11488-4",
    effective: str = "20260612100000+0200",
    author_idnat: str = "801234567897",
    service_start: str | None = "20260612100000+0200",
    title: str = "Compte rendu de consultation",
) -> bytes:
    """A small CDA R2 header (level 1, text body) for the given metadata."""
    root, _, extension = unique_id.partition("^")
    ext = f' extension="{extension}"' if extension else ""
    event = (
        f"""<documentationOf><serviceEvent><effectiveTime><low value="{service_start}"/>
      </effectiveTime></serviceEvent></documentationOf>"""
        if service_start
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <id root="{root}"{ext}/>
  <code code="{type_code}" codeSystem="2.16.840.1.113883.6.1"/>
  <title>{title}</title>
  <effectiveTime value="{effective}"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <recordTarget><patientRole>
    <id root="{ins.oid}" extension="{ins.value}"/>
    <patient><name><family qualifier="BR">FICTIF</family><given>Alex</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19800115"/></patient>
  </patientRole></recordTarget>
  <author><time value="{effective}"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="{author_idnat}"/>
    <assignedPerson><name><family>TESTPRO</family><given>Dominique</given></name></assignedPerson>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1750000011"/><name>Centre de test</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  {event}
  <component><nonXMLBody><text mediaType="text/plain">Synthetic test document.</text>
  </nonXMLBody></component>
</ClinicalDocument>
""".encode()


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def with_ins(resource: dict[str, Any], ins: Ins) -> dict[str, Any]:
    """The ANS examples name the invalid INS 123456789012345 (OID .8): use a test INS."""
    text = orjson.dumps(resource).decode()
    text = text.replace(ANS_EXAMPLE_INS[1], ins.value).replace(
        f"{ANS_EXAMPLE_INS[0]}|{ins.value}", f"{ins.system}|{ins.value}"
    )
    data: dict[str, Any] = orjson.loads(text)
    for item in _walk(data):
        if item.get("system") == ANS_EXAMPLE_INS[0] and item.get("value") == ins.value:
            item["system"] = ins.system
    return data


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def entries_of(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def set_content(bundle: dict[str, Any], content: bytes, doc_index: int = 0) -> None:
    """Put ``content`` in the Binary the ``doc_index``-th DocumentReference points at."""
    doc = entries_of(bundle, "DocumentReference")[doc_index]["resource"]
    att = doc["content"][0]["attachment"]
    binary = next(e for e in bundle["entry"] if e.get("fullUrl") == att["url"])
    binary["resource"]["data"] = b64(content)
    att["size"] = len(content)
    att["hash"] = sha1_b64(content)


def ihe_bundle(ins: Ins) -> dict[str, Any]:
    """The IHE example; its subject ``Patient/ex-patient`` is not an INS: use ``ins``."""
    bundle = load(IHE_BUNDLE)
    for entry in bundle["entry"]:
        if "subject" in entry["resource"]:
            entry["resource"]["subject"] = ins_subject(ins)
    return bundle


def ans_iti65(ins: Ins, *, real_cda: bool = True) -> dict[str, Any]:
    """The ANS ITI-65 example for ``ins``; its Binary (an empty ``<ClinicalDocument/>``,
    with no header) is replaced by a CDA header matching the metadata when ``real_cda``."""
    bundle = with_ins(load(ANS_ITI65), ins)
    if real_cda:
        set_content(
            bundle,
            cda(unique_id="1.2.250.1.213.1.4.8.99999.2", ins=ins, author_idnat="899700218896"),
        )
    return bundle


def ans_replacement(ins: Ins, old_entry_id: str) -> dict[str, Any]:
    bundle = with_ins(load(ANS_REPLACE), ins)
    set_content(
        bundle,
        cda(
            unique_id="1.2.250.1.213.1.4.8.99999.3",
            ins=ins,
            effective="20260612110000+0200",
            service_start="20260612110000+0200",
            author_idnat="899700218896",
        ),
    )
    doc = entries_of(bundle, "DocumentReference")[0]["resource"]
    doc["relatesTo"][0]["target"]["reference"] = f"DocumentReference/{old_entry_id}"
    patch = entries_of(bundle, "Parameters")[0]
    patch["request"]["url"] = f"DocumentReference/{old_entry_id}"
    return bundle


def ans_iti105(ins: Ins) -> dict[str, Any]:
    doc = with_ins(load(ANS_ITI105), ins)
    content = cda(unique_id="1.2.250.1.213.1.4.8.99999.1", ins=ins, author_idnat="899700218896")
    doc["content"][0]["attachment"]["data"] = b64(content)
    return doc


def _fhir_time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def cisis_document_entries(name: str, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(DocumentReference entry, Binary entry) for a CI-SIS example, metadata from its header."""
    content = (CDA_DIR / name).read_bytes()
    header = parse_header(content)
    unique_id = header.document_id.root
    binary_url = f"urn:uuid:{uuid.uuid4()}"
    doc_url = f"urn:uuid:{uuid.uuid4()}"
    author = header.authors[0]
    period = {"start": _fhir_time(header.service_start)}
    if header.service_stop:
        period["end"] = _fhir_time(header.service_stop)
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "contained": [
            {
                "resourceType": "Practitioner",
                "id": "author",
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": author.idnat}],
            }
        ],
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{unique_id}"},
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": header.code.code}]},
        "subject": ins_subject(CISIS_INS),
        "date": _fhir_time(header.effective_time),
        "author": [{"reference": "#author"}],
        "securityLabel": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                        "code": "N",
                    }
                ]
            }
        ],
        "content": [
            {
                "attachment": {
                    "contentType": "text/xml",
                    "language": "fr-FR",
                    "url": binary_url,
                    "size": len(content),
                    "hash": sha1_b64(content),
                    "title": header.title or name,
                    "creation": _fhir_time(header.effective_time),
                },
                "format": {
                    "system": "urn:oid:1.3.6.1.4.1.19376.1.2.3",
                    "code": "urn:ihe:iti:xds-sd:pdf:2008",
                },
            }
        ],
        "context": {"period": period},
    }
    return (
        {
            "fullUrl": doc_url,
            "resource": doc,
            "request": {"method": "POST", "url": "DocumentReference"},
        },
        {
            "fullUrl": binary_url,
            "resource": {"resourceType": "Binary", "contentType": "text/xml", "data": b64(content)},
            "request": {"method": "POST", "url": "Binary"},
        },
    )


def cisis_bundle(*names: str) -> dict[str, Any]:
    """A Minimal ITI-65 bundle wrapping CI-SIS CDA documents, metadata from their headers."""
    docs, binaries = [], []
    for n, name in enumerate(names):
        doc, binary = cisis_document_entries(name, n)
        docs.append(doc)
        binaries.append(binary)
    submission = {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": {
            "resourceType": "List",
            "meta": {
                "profile": [
                    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.SubmissionSet"
                ]
            },
            "extension": [
                {
                    "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                    "valueIdentifier": {"value": "urn:oid:1.2.250.1.71.4.2.2.1750000011"},
                }
            ],
            "identifier": [
                {
                    "use": "usual",
                    "system": "urn:ietf:rfc:3986",
                    "value": f"urn:oid:2.25.{uuid.uuid4().int}",
                }
            ],
            "status": "current",
            "mode": "working",
            "code": {
                "coding": [
                    {
                        "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                        "code": "submissionset",
                    }
                ]
            },
            "subject": ins_subject(CISIS_INS),
            "date": now().isoformat(),
            "entry": [{"item": {"reference": d["fullUrl"]}} for d in docs],
        },
        "request": {"method": "POST", "url": "List"},
    }
    return {
        "resourceType": "Bundle",
        "meta": {
            "profile": [
                "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.ProvideBundle"
            ]
        },
        "type": "transaction",
        "entry": [submission, *docs, *binaries],
    }


def clone(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
