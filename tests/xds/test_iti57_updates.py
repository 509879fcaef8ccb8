"""ITI-57 Update Document Set (DMP TD3.3a–d) through ``xds.iti57.update_document_set`` on
SQLite and PostgreSQL: each update kind, the same state and audit as the FHIR PATCH, the mask
seen by FHIR readers, and refusals with their ITI TF-3 code and nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from lxml import etree

from opendmp.app import Runtime
from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.fhir.mapping import IS_ARCHIVED_URL
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentView
from opendmp.services.records import lifecycle as records
from opendmp.xds import ebrim
from opendmp.xds.iti57 import update_document_set
from opendmp.xds.metadata_in import XdsMetadataError
from tests.api.fhir_read_support import (
    AUTHOR,
    BLOCKED,
    DOCTOR,
    FHIR_JSON,
    auth,
    body_of,
    deposit,
    entry_id,
    events,
    ids_of,
    ins_token,
    patient,
)
from tests.factories import OPERATOR, make_ins, new_record
from tests.services.document_support import document_row, grant
from tests.xds.helpers import R
from tests.xds.iti57_support import codes_of, new_version, status_request, update_request


@pytest.fixture(name="ctx")
def app_ctx(runtime: Runtime) -> ServiceContext:
    """The app's own service context (``runtime`` of tests/conftest.py: both databases); the
    ``http`` client of that app is tests/xds/conftest.py's."""
    return runtime.ctx


@pytest.fixture(name="ins")
async def record(ctx: ServiceContext) -> Ins:
    """A record where AUTHOR and DOCTOR are authorised and BLOCKED is blocked."""
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    for professional in (AUTHOR, DOCTOR):
        await grant(ctx, ins, professional)
    await grant(ctx, ins, BLOCKED, state="blocked")
    return ins


UPDATE_ACTIONS = {
    AuditAction.DOCUMENT_MASK.value,
    AuditAction.DOCUMENT_SET_VISIBILITY.value,
    AuditAction.DOCUMENT_ARCHIVE.value,
    AuditAction.DOCUMENT_DELETE.value,
}
STATE = (
    "masked_by_patient",
    "invisible_to_patient",
    "invisible_to_representatives",
    "archived",
    "status",
    "version",
    "entry_uuid",
)


async def iti57(
    ctx: ServiceContext, actor: Actor, ins: Ins, request: etree._Element
) -> DocumentView | None:
    return await update_document_set(ctx, actor=actor, vihf_patient=str(ins), request=request)


async def state(ctx: ServiceContext, doc: DocumentView) -> dict[str, Any]:
    row = await document_row(ctx, doc.id)
    return {name: getattr(row, name) for name in STATE}


async def update_events(ctx: ServiceContext, ins: Ins, doc: DocumentView) -> list[Any]:
    return [
        (e.action, e.outcome, e.reason, orjson.loads(e.details or "{}"))
        for e in await events(ctx, ins)
        if e.target_document_id == doc.id and e.action in UPDATE_ACTIONS
    ]


async def refused(
    ctx: ServiceContext, actor: Actor, ins: Ins, request: etree._Element, vihf: str | None = None
) -> XdsMetadataError:
    with pytest.raises(XdsMetadataError) as caught:
        await update_document_set(ctx, actor=actor, vihf_patient=vihf or str(ins), request=request)
    return caught.value


# --- each update kind -----------------------------------------------------------------------


async def test_a_professional_masks_at_the_patients_request_and_the_author_unmasks(
    ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    masked = await iti57(
        ctx, DOCTOR, ins, update_request(ins, new_version(doc, ins, ["MASQUE_PS"]), "1")
    )
    assert masked is not None and masked.masked_by_patient and masked.version == 2
    assert masked.entry_uuid != doc.entry_uuid and "MASQUE_PS" in codes_of(masked, ins)
    cleared = await iti57(  # the masking professional no longer sees it: the author unmasks
        ctx, AUTHOR, ins, update_request(ins, new_version(masked, ins, ["N"]), "2")
    )
    assert cleared is not None and not cleared.masked_by_patient and cleared.version == 3
    assert [e[:2] for e in await update_events(ctx, ins, doc)] == [
        (AuditAction.DOCUMENT_MASK.value, "success")
    ] * 2


@pytest.mark.parametrize(
    ("codes", "column"),
    [
        (["INVISIBLE_PATIENT"], "invisible_to_patient"),
        (["N", "INVISIBLE_REPRESENTANTS_LEGAUX"], "invisible_to_representatives"),
    ],
)
async def test_the_author_sets_the_visibility(
    ctx: ServiceContext, ins: Ins, codes: list[str], column: str
) -> None:
    doc = await deposit(ctx, ins)
    view = await iti57(ctx, AUTHOR, ins, update_request(ins, new_version(doc, ins, codes), "1"))
    assert view is not None and getattr(view, column) and view.version == 2
    assert (await state(ctx, doc))[column] is True
    assert codes_of(view, ins) >= set(codes) - {"N"}


async def test_the_author_archives_unarchives_and_deletes(ctx: ServiceContext, ins: Ins) -> None:
    doc = await deposit(ctx, ins)
    archived = await iti57(
        ctx, AUTHOR, ins, status_request(ins, doc.entry_uuid, ebrim.DMP_ARCHIVED)
    )
    assert archived is not None and archived.archived and archived.version == 2
    assert ebrim.DMP_ARCHIVED in codes_of(archived, ins)
    # by its lid this time, from the status it has now
    back = await iti57(
        ctx,
        AUTHOR,
        ins,
        status_request(ins, f"urn:uuid:{doc.id}", ebrim.APPROVED, original=ebrim.DMP_ARCHIVED),
    )
    assert back is not None and not back.archived and back.version == 3
    gone = await iti57(ctx, AUTHOR, ins, status_request(ins, back.entry_uuid, ebrim.DMP_DELETED))
    assert gone is None
    assert (await state(ctx, doc))["status"] == "deleted"
    assert [e[0] for e in await update_events(ctx, ins, doc)] == [
        AuditAction.DOCUMENT_ARCHIVE.value,
        AuditAction.DOCUMENT_ARCHIVE.value,
        AuditAction.DOCUMENT_DELETE.value,
    ]


async def test_an_unchanged_version_is_no_new_version(ctx: ServiceContext, ins: Ins) -> None:
    doc = await deposit(ctx, ins)
    view = await iti57(ctx, AUTHOR, ins, update_request(ins, new_version(doc, ins, ["N"]), "1"))
    assert view is not None and view.version == 1
    assert await update_events(ctx, ins, doc) == []


# --- one store: the FHIR PATCH and ITI-57 do the same ------------------------------------------

JSON_PATCH = "application/json-patch+json"
DMP_SYSTEM = "urn:oid:1.2.250.1.213.1.1.4.13"


def add_label(code: str) -> list[dict[str, Any]]:
    """The JSON Patch adding the DMP confidentiality code ``code``."""
    coding = {"system": DMP_SYSTEM, "code": code}
    return [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [coding]}}]


def with_codes(*codes: str) -> Any:
    """The ITI-57 request of a new version with ``codes``."""
    return lambda doc, ins: update_request(ins, new_version(doc, ins, codes), "1")


KINDS = {
    "mask": (DOCTOR, add_label("MASQUE_PS"), with_codes("MASQUE_PS")),
    "visibility": (AUTHOR, add_label("INVISIBLE_PATIENT"), with_codes("INVISIBLE_PATIENT")),
    "archive": (
        AUTHOR,
        {  # a FHIRPath Patch: the extension is there (false) already
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "replace"},
                        {
                            "name": "path",
                            "valueString": "DocumentReference.extension"
                            f".where(url='{IS_ARCHIVED_URL}').value",
                        },
                        {"name": "value", "valueBoolean": True},
                    ],
                }
            ],
        },
        lambda doc, ins: status_request(ins, doc.entry_uuid, ebrim.DMP_ARCHIVED),
    ),
    "delete": (
        AUTHOR,
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
        lambda doc, ins: status_request(ins, doc.entry_uuid, ebrim.DMP_DELETED),
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_the_fhir_patch_and_iti57_leave_the_same_state_and_audit(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, kind: str
) -> None:
    actor, operations, request = KINDS[kind]
    by_fhir, by_xds = await deposit(ctx, ins), await deposit(ctx, ins)
    response = await http.patch(
        f"/fhir/DocumentReference/{entry_id(by_fhir)}",
        content=orjson.dumps(operations),
        headers={
            **auth(ctx, actor, scope="ITI-57 ITI-67"),
            "Content-Type": FHIR_JSON if isinstance(operations, dict) else JSON_PATCH,
        },
    )
    assert response.status_code == 200, response.text
    await iti57(ctx, actor, ins, request(by_xds, ins))
    fhir_state, xds_state = await state(ctx, by_fhir), await state(ctx, by_xds)
    assert fhir_state.pop("entry_uuid") != xds_state.pop("entry_uuid")
    assert fhir_state == xds_state and fhir_state["version"] == 2
    assert await update_events(ctx, ins, by_fhir) == await update_events(ctx, ins, by_xds)
    assert len(await update_events(ctx, ins, by_xds)) == 1


async def search_ids(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins, actor: Actor
) -> list[str]:
    response = await http.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": ins_token(ins), "status": "current"},
        headers=auth(ctx, actor),
    )
    assert response.status_code == 200, response.text
    return ids_of(body_of(response))


async def test_a_mask_set_with_iti57_shows_in_fhir_and_vice_versa(
    http: httpx.AsyncClient, ctx: ServiceContext, ins: Ins
) -> None:
    doc = await deposit(ctx, ins)
    masked = await iti57(
        ctx, DOCTOR, ins, update_request(ins, new_version(doc, ins, ["MASQUE_PS"]), "1")
    )
    assert masked is not None
    assert entry_id(masked) not in await search_ids(http, ctx, ins, DOCTOR)  # ITI-67
    read = await http.get(f"/fhir/DocumentReference/{entry_id(masked)}", headers=auth(ctx, DOCTOR))
    assert read.status_code == 404  # ITI-68's metadata read: as an unknown id
    as_patient = await http.get(
        f"/fhir/DocumentReference/{entry_id(masked)}", headers=auth(ctx, patient(ins))
    )
    assert as_patient.status_code == 200, as_patient.text
    labels = {c["code"] for s in body_of(as_patient)["securityLabel"] for c in s["coding"]}
    assert "MASQUE_PS" in labels and body_of(as_patient)["meta"]["versionId"] == "2"
    # vice versa: the patient unmasks with FHIR; ITI-57 sees version 3, unmasked
    response = await http.patch(
        f"/fhir/DocumentReference/{entry_id(masked)}",
        content=orjson.dumps(
            [
                {
                    "op": "replace",
                    "path": "/securityLabel",
                    "value": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                    "code": "N",
                                }
                            ]
                        }
                    ],
                }
            ]
        ),
        headers={
            **auth(ctx, patient(ins), scope="ITI-57"),
            "Content-Type": "application/json-patch+json",
        },
    )
    assert response.status_code == 200, response.text
    stale = await refused(
        ctx, DOCTOR, ins, update_request(ins, new_version(masked, ins, ["MASQUE_PS"]), "2")
    )
    assert stale.code == "XDSMetadataVersionError"
    current = (await state(ctx, doc))["version"]
    assert current == 3 and entry_id(masked) != ""
    assert entry_id(doc) not in await search_ids(http, ctx, ins, DOCTOR)  # entryUUIDs change
    assert len(await search_ids(http, ctx, ins, DOCTOR)) == 1  # visible again


# --- refusals: their code, and nothing changed ------------------------------------------------


async def assert_unchanged(
    ctx: ServiceContext, ins: Ins, doc: DocumentView, before: dict[str, Any]
) -> None:
    assert await state(ctx, doc) == before
    assert all(e[1] != "success" for e in await update_events(ctx, ins, doc))


def retitled(doc: DocumentView, ins: Ins) -> etree._Element:
    entry = new_version(doc, ins, ["MASQUE_PS"])
    name = entry.find(f"{R}Name/{R}LocalizedString")
    assert name is not None
    name.set("value", "autre titre")
    return update_request(ins, entry, "1")


def new_unique_id(doc: DocumentView, ins: Ins) -> etree._Element:
    entry = new_version(doc, ins, ["MASQUE_PS"])
    for identifier in entry.iter(f"{R}ExternalIdentifier"):
        if identifier.get("identificationScheme") == ebrim.DE_UNIQUE_ID:
            identifier.set("value", "1.2.250.1.999.77")
    return update_request(ins, entry, "1")


def unknown_lid(doc: DocumentView, ins: Ins) -> etree._Element:
    entry = new_version(doc, ins, ["MASQUE_PS"])
    entry.set("lid", f"urn:uuid:{uuid.uuid4()}")
    return update_request(ins, entry, "1")


def two_changes(doc: DocumentView, ins: Ins) -> etree._Element:
    request = update_request(ins, new_version(doc, ins, ["MASQUE_PS"]), "1")
    extra = status_request(ins, doc.entry_uuid, ebrim.DMP_ARCHIVED)
    status = next(extra.iter(f"{R}Association"))
    package = next(request.iter(f"{R}RegistryPackage"))
    status.set("sourceObject", str(package.get("id")))
    status.set("id", "urn:uuid:" + str(uuid.uuid4()))
    request[0].append(status)
    return request


def other_entry_patient(doc: DocumentView, ins: Ins) -> etree._Element:
    return update_request(ins, new_version(doc, make_ins(), ["MASQUE_PS"]), "1")


REFUSALS = {
    "wrong version": (
        DOCTOR,
        lambda d, i: update_request(i, new_version(d, i, ["MASQUE_PS"]), "2"),
        "XDSMetadataVersionError",
    ),
    "title changed": (AUTHOR, retitled, "XDSMetadataUpdateError"),
    "uniqueId changed": (AUTHOR, new_unique_id, "XDSMetadataUpdateError"),
    "unknown lid": (AUTHOR, unknown_lid, "XDSMetadataUpdateError"),
    "unknown entryUUID": (
        AUTHOR,
        lambda d, i: status_request(i, f"urn:uuid:{uuid.uuid4()}", ebrim.DMP_ARCHIVED),
        "XDSMetadataUpdateError",
    ),
    "mask and visibility at once": (
        AUTHOR,
        with_codes("MASQUE_PS", "INVISIBLE_PATIENT"),
        "XDSMetadataUpdateError",
    ),
    "unknown confidentialityCode": (
        AUTHOR,
        with_codes("R"),
        "XDSMetadataUpdateError",
    ),
    "two changes": (AUTHOR, two_changes, "XDSMetadataUpdateError"),
    "deprecated": (
        AUTHOR,
        lambda d, i: status_request(i, d.entry_uuid, ebrim.DEPRECATED),
        "XDSMetadataUpdateError",
    ),
    "wrong original status": (
        AUTHOR,
        lambda d, i: status_request(
            i, d.entry_uuid, ebrim.DMP_DELETED, original=ebrim.DMP_ARCHIVED
        ),
        "XDSMetadataUpdateError",
    ),
    "entry of another patient": (AUTHOR, other_entry_patient, "XDSPatientIdDoesNotMatch"),
    "not the author archives": (
        DOCTOR,
        lambda d, i: status_request(i, d.entry_uuid, ebrim.DMP_ARCHIVED),
        "LocalPolicyRestrictionError",
    ),
    "not the author hides from the patient": (
        DOCTOR,
        with_codes("INVISIBLE_PATIENT"),
        "LocalPolicyRestrictionError",
    ),
    "a blocked professional masks": (
        BLOCKED,
        with_codes("MASQUE_PS"),
        "LocalPolicyRestrictionError",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_a_refused_update_changes_nothing(ctx: ServiceContext, ins: Ins, case: str) -> None:
    actor, build, code = REFUSALS[case]
    doc = await deposit(ctx, ins)
    before = await state(ctx, doc)
    error = await refused(ctx, actor, ins, build(doc, ins))
    assert error.code == code, error.message
    await assert_unchanged(ctx, ins, doc, before)
    denied = [e[1:3] for e in await update_events(ctx, ins, doc)]
    if case.startswith("not the author"):  # the service's refusal, audited as with FHIR
        assert denied == [("denied", "not-author")]
    else:  # refused before any service was asked (or by the read, audited as a read)
        assert denied == []


async def test_the_vihf_patient_must_be_the_requests(ctx: ServiceContext, ins: Ins) -> None:
    doc = await deposit(ctx, ins)
    before, audited = await state(ctx, doc), len(await events(ctx, ins))
    request = update_request(ins, new_version(doc, ins, ["MASQUE_PS"]), "1")
    error = await refused(ctx, DOCTOR, ins, request, vihf=str(make_ins()))
    assert error.code == "XDSPatientIdDoesNotMatch"
    await assert_unchanged(ctx, ins, doc, before)
    assert len(await events(ctx, ins)) == audited  # refused before the record is read


@pytest.mark.parametrize("with_record", [True, False])
async def test_a_document_of_another_patient_is_unknown(
    ctx: ServiceContext, ins: Ins, with_record: bool
) -> None:
    """Asked as the document of another patient (whose record exists, or not): the answer of
    an unknown document, whether the document exists elsewhere or not."""
    doc = await deposit(ctx, ins)
    other = make_ins()
    if with_record:
        await records.create_record(ctx, actor=OPERATOR, request=new_record(other, ctx.now()))
    before = await state(ctx, doc)
    entry = new_version(doc, other, ["MASQUE_PS"])
    error = await refused(ctx, AUTHOR, other, update_request(other, entry, "1"))
    assert error.code == "XDSMetadataUpdateError"
    assert "no such document" in error.message
    await assert_unchanged(ctx, ins, doc, before)
