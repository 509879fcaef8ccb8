"""ITI-18 stored queries through the real services, on both databases: each query, LeafClass
and ObjectRef, the policy (what the caller may see, as ITI-67 shows it) and the audit."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from lxml import etree

from opendmp.domain.actors import Actor
from opendmp.domain.errors import AccessDenied
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentQuery, DocumentView, PageRequest
from opendmp.services.documents.deposit import (
    DocumentInput,
    ReplaceTarget,
    SubmissionSetInput,
    provide_documents,
)
from opendmp.xds import ebrim, iti18
from opendmp.xds import stored_query as sq
from opendmp.xds.metadata_out import derived_id, extrinsic_object
from tests.factories import make_ins
from tests.services.document_support import (
    AUTHOR,
    DOCTOR,
    STRANGER,
    deposit,
    grant,
    last_event,
    new_patient_record,
)
from tests.xds.helpers import REPOSITORY
from tests.xds.iti18_support import (
    APPROVED,
    DEPRECATED,
    R,
    adhoc,
    find_documents,
    ids_of,
    listed,
    quoted,
)


async def run(
    ctx: ServiceContext,
    request: etree._Element,
    ins: Ins,
    actor: Actor = AUTHOR,
) -> list[etree._Element]:
    return await iti18.run_stored_query(
        ctx,
        actor=actor,
        vihf_patient=ins,
        query=sq.parse_stored_query(request),
        repository_unique_id=REPOSITORY,
    )


async def refused(
    ctx: ServiceContext, request: etree._Element, ins: Ins, actor: Actor = AUTHOR
) -> sq.StoredQueryError:
    with pytest.raises(sq.StoredQueryError) as caught:
        await run(ctx, request, ins, actor)
    return caught.value


def canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n")


async def provided(ctx: ServiceContext, ins: Ins, **overrides: Any) -> DocumentView:
    """A document deposited through ``provide_documents`` (what ITI-41 and ITI-65 call)."""
    content = overrides.pop("content", b"%PDF-1.4 version 2")
    fields: dict[str, Any] = {
        "unique_id": f"2.25.{uuid.uuid4().int}",
        "type_code": "11490-0",
        "mime_type": "application/pdf",
        "content": content,
        "title": "Lettre de liaison v2",
        "creation_time": ctx.now(),
        "service_start": ctx.now(),
        "declared_size": len(content),
        "declared_sha1": hashlib.sha1(content).hexdigest(),  # noqa: S324 - XDS hash
        **overrides,
    }
    result = await provide_documents(
        ctx,
        actor=AUTHOR,
        ins=ins,
        submission=SubmissionSetInput(unique_id=f"2.25.{uuid.uuid4().int}", source_id="1.2.3.4"),
        documents=[DocumentInput(**fields)],
    )
    return result.documents[0]


async def replaced(ctx: ServiceContext, ins: Ins, old: DocumentView) -> DocumentView:
    return await provided(
        ctx, ins, replaces=ReplaceTarget(old.entry_uuid.removeprefix("urn:uuid:"))
    )


async def record(ctx: ServiceContext) -> tuple[Ins, DocumentView]:
    ins = await new_patient_record(ctx)
    await grant(ctx, ins, AUTHOR)
    return ins, await deposit(ctx, ins)


# --- FindDocuments ------------------------------------------------------------------------------


async def test_find_documents_answers_leaf_class_metadata_of_the_readable_documents(
    ctx: ServiceContext,
) -> None:
    ins, doc = await record(ctx)

    [found] = await run(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins)

    page = await documents.search_documents(
        ctx, actor=AUTHOR, ins=ins, query=DocumentQuery(statuses=("current",))
    )
    [view] = page.items
    assert found.tag == f"{R}ExtrinsicObject"
    assert canonical(found) == canonical(
        extrinsic_object(view, ins=ins, repository_unique_id=REPOSITORY)
    )
    assert found.get("id") == doc.entry_uuid and found.get("status") == APPROVED


async def test_object_ref_answers_ids_only(ctx: ServiceContext) -> None:
    ins, doc = await record(ctx)
    second = await deposit(ctx, ins)

    found = await run(
        ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins), return_type="ObjectRef"), ins
    )

    assert {o.tag for o in found} == {f"{R}ObjectRef"}
    assert {o.get("id") for o in found} == {doc.entry_uuid, second.entry_uuid}
    assert all(len(o) == 0 and set(o.attrib) == {"id"} for o in found)


async def test_find_documents_criteria_match_as_iti67(ctx: ServiceContext) -> None:
    ins, letter = await record(ctx)
    report = await deposit(ctx, ins, type_code="11488-4", event_codes=("GGEE",))

    async def entry_ids(**more: str | list[str]) -> set[str]:
        found = await run(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins, **more)), ins)
        return set(ids_of(found, "ExtrinsicObject"))

    assert await entry_ids(TypeCode=listed(["11488-4^^^&2.16.840.1.113883.6.1&ISO"])) == {
        report.entry_uuid
    }
    assert await entry_ids(TypeCode=[quoted("11490-0"), quoted("11488-4")]) == {
        letter.entry_uuid,
        report.entry_uuid,
    }
    assert await entry_ids(EventCodeList=listed(["GGEE", "X"])) == {report.entry_uuid}
    # Several Value elements of an event code list are ANDed.
    assert await entry_ids(EventCodeList=[listed(["GGEE"]), listed(["X"])]) == set()
    assert await entry_ids(ConfidentialityCode=listed(["N"])) == {
        letter.entry_uuid,
        report.entry_uuid,
    }
    now = ctx.now().strftime("%Y%m%d%H%M%S")
    assert await entry_ids(CreationTimeTo=now) == set()  # To is exclusive
    assert len(await entry_ids(CreationTimeFrom=now)) == 2  # From is inclusive
    assert await entry_ids(Type=listed([ebrim.ON_DEMAND_DOCUMENT])) == set()
    assert await entry_ids(AuthorPerson=quoted("TESTPRO11%")) == {
        letter.entry_uuid,
        report.entry_uuid,
    }


async def test_statuses_approved_deprecated_and_archived(ctx: ServiceContext) -> None:
    ins, old = await record(ctx)
    new = await replaced(ctx, ins, old)
    archived = await documents.archive_document(
        ctx, actor=AUTHOR, ins=ins, document_id=(await deposit(ctx, ins)).id, archived=True
    )

    async def shown(*statuses: str) -> dict[str, str]:
        found = await run(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins, status=statuses)), ins)
        return {str(o.get("id")): str(o.get("status")) for o in found}

    assert await shown(APPROVED) == {new.entry_uuid: APPROVED}
    assert await shown(DEPRECATED) == {old.entry_uuid: DEPRECATED}
    assert await shown(ebrim.DMP_ARCHIVED) == {archived.entry_uuid: ebrim.DMP_ARCHIVED}
    assert await shown(APPROVED, DEPRECATED) == {
        new.entry_uuid: APPROVED,
        old.entry_uuid: DEPRECATED,
    }
    assert len(await shown(APPROVED, DEPRECATED, ebrim.DMP_ARCHIVED)) == 3
    assert await shown(ebrim.DMP_DELETED) == {}


async def test_a_masked_document_is_invisible_exactly_as_in_iti67(ctx: ServiceContext) -> None:
    ins, plain = await record(ctx)
    masked = await documents.mask_document(
        ctx, actor=AUTHOR, ins=ins, document_id=(await deposit(ctx, ins)).id, masked=True
    )
    await grant(ctx, ins, DOCTOR)

    for reader, expected in ((DOCTOR, {plain.id}), (AUTHOR, {plain.id, masked.id})):
        page = await documents.search_documents(
            ctx, actor=reader, ins=ins, query=DocumentQuery(), page=PageRequest()
        )
        assert {v.id for v in page.items} == expected
        for query_id, params in (
            (sq.FIND_DOCUMENTS, find_documents(ins)),
            (sq.GET_ALL, get_all(ins)),
        ):
            found = await run(ctx, adhoc(query_id, params, return_type="ObjectRef"), ins, reader)
            shown = {str(o.get("id")) for o in found}
            assert (masked.entry_uuid in shown) == (masked.id in expected)
            assert plain.entry_uuid in shown
        by_id = adhoc(sq.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": listed([masked.entry_uuid])})
        assert len(await run(ctx, by_id, ins, reader)) == len(expected) - 1


async def test_an_unauthorised_professional_is_refused_and_the_refusal_audited(
    ctx: ServiceContext,
) -> None:
    ins, _ = await record(ctx)

    with pytest.raises(AccessDenied) as caught:
        await run(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins, STRANGER)

    assert caught.value.code == "not-authorized"
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome, denied.actor_id) == (
        "document:document:search",
        "denied",
        STRANGER.idnat,
    )


async def test_an_unknown_patient_answers_nothing(ctx: ServiceContext) -> None:
    ins = make_ins()
    assert await run(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins) == []


# --- refusals of the request ---------------------------------------------------------------------


async def test_request_refusals_carry_the_iti_tf3_codes(ctx: ServiceContext) -> None:
    ins, _ = await record(ctx)
    other = make_ins()
    no_patient = find_documents(ins)
    del no_patient["$XDSDocumentEntryPatientId"]
    twice = find_documents(ins)
    twice["$XDSDocumentEntryPatientId"] = listed(["a", "b"])
    cases = {
        sq.MISSING_PARAM: adhoc(sq.FIND_DOCUMENTS, no_patient),
        sq.UNKNOWN_STORED_QUERY: adhoc(f"urn:uuid:{uuid.uuid4()}", find_documents(ins)),
        sq.PATIENT_ID_DOES_NOT_MATCH: adhoc(sq.FIND_DOCUMENTS, find_documents(other)),
        sq.PARAM_NUMBER: adhoc(sq.FIND_DOCUMENTS, twice),
    }
    for code, request in cases.items():
        error = await refused(ctx, request, ins)
        assert error.code == code, (code, error.message)
    missing = await refused(ctx, adhoc(sq.FIND_DOCUMENTS, no_patient), ins)
    assert "$XDSDocumentEntryPatientId" in missing.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # The IPF example's injection attempt: an unterminated quoted string.
        (
            "$XDSDocumentEntryPatientId",
            "'593603^^^&2.16.756.5.33.2.5.1.5.1&ISO''%20and%20611%3d611--%20",
        ),
        ("$XDSDocumentEntryPatientId", "'not a cx'"),
        ("$XDSDocumentEntryCreationTimeFrom", "'2024-01-01'"),
        ("$XDSDocumentEntryCreationTimeFrom", "20241340"),
        ("$XDSDocumentEntryStatus", "('urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted')"),
        ("$XDSDocumentEntryClassCode", "('a','b'"),
        ("$XDSDocumentEntryType", "('urn:uuid:00000000-0000-0000-0000-000000000000')"),
        ("$XDSDocumentEntryConfidentialityCode", "('SECRET')"),
        ("$XDSFolderPatientId", "'x'"),
    ],
)
async def test_malformed_parameters_are_registry_errors(
    ctx: ServiceContext, name: str, value: str
) -> None:
    ins, _ = await record(ctx)
    params = find_documents(ins)
    params[name] = value

    error = await refused(ctx, adhoc(sq.FIND_DOCUMENTS, params), ins)

    assert error.code == sq.REGISTRY_ERROR, error.message


async def test_a_parameter_with_too_many_values_is_refused(ctx: ServiceContext) -> None:
    ins, _ = await record(ctx)
    codes = [f"C{n}" for n in range(ctx.limits.max_search_values + 1)]
    request = adhoc(sq.FIND_DOCUMENTS, find_documents(ins, ClassCode=listed(codes)))

    error = await refused(ctx, request, ins)

    assert (error.code, error.location) == (sq.REGISTRY_ERROR, "$XDSDocumentEntryClassCode")


async def test_too_many_results(ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    ins, _ = await record(ctx)
    await deposit(ctx, ins)
    monkeypatch.setattr(iti18, "MAX_LEAF_CLASS", 1)

    error = await refused(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins)

    assert error.code == sq.TOO_MANY_RESULTS
    refs = adhoc(sq.FIND_DOCUMENTS, find_documents(ins), return_type="ObjectRef")
    assert len(await run(ctx, refs, ins)) == 2


# --- the other queries ---------------------------------------------------------------------------


def get_all(ins: Ins) -> dict[str, str | list[str]]:
    return {
        "$patientId": quoted(f"{ins.value}^^^&{ins.oid}&ISO"),
        "$XDSDocumentEntryStatus": listed([APPROVED, DEPRECATED]),
        "$XDSSubmissionSetStatus": listed([APPROVED]),
    }


async def test_get_documents_by_entry_uuid_or_unique_id(ctx: ServiceContext) -> None:
    ins, doc = await record(ctx)
    await deposit(ctx, ins)

    for params in (
        {"$XDSDocumentEntryEntryUUID": listed([doc.entry_uuid])},
        {"$XDSDocumentEntryUniqueId": listed([doc.unique_id])},
    ):
        found = await run(ctx, adhoc(sq.GET_DOCUMENTS, dict(params)), ins)
        assert ids_of(found, "ExtrinsicObject") == [doc.entry_uuid]
    both = {
        "$XDSDocumentEntryEntryUUID": listed([doc.entry_uuid]),
        "$XDSDocumentEntryUniqueId": listed([doc.unique_id]),
    }
    assert (await refused(ctx, adhoc(sq.GET_DOCUMENTS, dict(both)), ins)).code == sq.PARAM_NUMBER
    assert (await refused(ctx, adhoc(sq.GET_DOCUMENTS, {}), ins)).code == sq.MISSING_PARAM
    bad = {"$XDSDocumentEntryEntryUUID": listed(["not-a-uuid"])}
    assert (await refused(ctx, adhoc(sq.GET_DOCUMENTS, dict(bad)), ins)).code == sq.REGISTRY_ERROR


async def test_get_documents_looks_in_the_vihf_patients_record_only(ctx: ServiceContext) -> None:
    _, doc = await record(ctx)
    other, _ = await record(ctx)

    request = adhoc(sq.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": listed([doc.entry_uuid])})

    assert await run(ctx, request, other) == []


async def test_submission_sets_and_their_contents(ctx: ServiceContext) -> None:
    ins, doc = await record(ctx)
    [package] = await run(
        ctx,
        adhoc(
            sq.FIND_SUBMISSION_SETS,
            {
                "$XDSSubmissionSetPatientId": quoted(f"{ins.value}^^^&{ins.oid}&ISO"),
                "$XDSSubmissionSetStatus": listed([APPROVED]),
            },
        ),
        ins,
    )
    assert package.tag == f"{R}RegistryPackage"
    set_id = str(package.get("id"))

    found = await run(
        ctx,
        adhoc(sq.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetEntryUUID": quoted(set_id)}),
        ins,
    )

    assert ids_of(found, "RegistryPackage") == [set_id]
    assert ids_of(found, "ExtrinsicObject") == [doc.entry_uuid]
    [member] = [o for o in found if o.tag == f"{R}Association"]
    assert (member.get("associationType"), member.get("sourceObject")) == (
        ebrim.HAS_MEMBER,
        set_id,
    )
    assert member.get("targetObject") == doc.entry_uuid
    sets = await run(ctx, adhoc(sq.GET_SUBMISSION_SETS, {"$uuid": listed([doc.entry_uuid])}), ins)
    assert ids_of(sets, "RegistryPackage") == [set_id]
    assert ids_of(sets, "Association") == [str(member.get("id"))]


async def test_associations_and_related_documents_follow_the_replacement(
    ctx: ServiceContext,
) -> None:
    ins, old = await record(ctx)
    new = await replaced(ctx, ins, old)
    rplc = derived_id(ebrim.RPLC, new.entry_uuid, old.entry_uuid)

    associations = await run(
        ctx, adhoc(sq.GET_ASSOCIATIONS, {"$uuid": listed([old.entry_uuid])}), ins
    )
    kinds = {(a.get("associationType"), a.get("id")) for a in associations}
    assert (ebrim.RPLC, rplc) in kinds
    assert {a.get("associationType") for a in associations} == {ebrim.RPLC, ebrim.HAS_MEMBER}

    related = await run(
        ctx,
        adhoc(
            sq.GET_RELATED_DOCUMENTS,
            {
                "$XDSDocumentEntryEntryUUID": quoted(new.entry_uuid),
                "$AssociationTypes": listed([ebrim.RPLC]),
            },
        ),
        ins,
    )
    assert set(ids_of(related, "ExtrinsicObject")) == {old.entry_uuid, new.entry_uuid}
    assert ids_of(related, "Association") == [rplc]

    both = await run(
        ctx,
        adhoc(
            sq.GET_DOCUMENTS_AND_ASSOCIATIONS,
            {"$XDSDocumentEntryUniqueId": quoted(new.unique_id)},
            return_type="ObjectRef",
        ),
        ins,
    )
    refs = {str(o.get("id")) for o in both}
    assert new.entry_uuid in refs and rplc in refs and old.entry_uuid not in refs


async def test_find_documents_by_reference_id(ctx: ServiceContext) -> None:
    ins, _ = await record(ctx)
    order = {"identifier": {"value": "CMD-42"}}
    ordered = await provided(ctx, ins, extra={"context": {"related": [order]}})

    params = find_documents(ins, ReferenceIdList=listed(["CMD-42^^^&1.2.250.1.999.8&ISO"]))
    found = await run(ctx, adhoc(sq.FIND_DOCUMENTS_BY_REFERENCE_ID, params), ins)

    assert ids_of(found, "ExtrinsicObject") == [ordered.entry_uuid]
    missing = await refused(ctx, adhoc(sq.FIND_DOCUMENTS_BY_REFERENCE_ID, find_documents(ins)), ins)
    assert missing.code == sq.MISSING_PARAM


async def test_a_document_without_relations_has_no_related_documents(ctx: ServiceContext) -> None:
    ins, doc = await record(ctx)
    request = adhoc(
        sq.GET_RELATED_DOCUMENTS,
        {
            "$XDSDocumentEntryEntryUUID": quoted(doc.entry_uuid),
            "$AssociationTypes": listed([ebrim.RPLC, ebrim.XFRM]),
        },
    )
    assert await run(ctx, request, ins) == []
    two = adhoc(
        sq.GET_RELATED_DOCUMENTS,
        {
            "$XDSDocumentEntryEntryUUID": listed([doc.entry_uuid, doc.entry_uuid.upper()]),
            "$AssociationTypes": listed([ebrim.RPLC]),
        },
    )
    assert (await refused(ctx, two, ins)).code == sq.PARAM_NUMBER


async def test_get_all_lists_documents_sets_and_associations(ctx: ServiceContext) -> None:
    ins, old = await record(ctx)
    new = await replaced(ctx, ins, old)

    found = await run(ctx, adhoc(sq.GET_ALL, get_all(ins)), ins)

    assert set(ids_of(found, "ExtrinsicObject")) == {old.entry_uuid, new.entry_uuid}
    assert len(ids_of(found, "RegistryPackage")) == 2
    assert len(ids_of(found, "Association")) == 3  # two HasMember, one RPLC
    only_approved = dict(get_all(ins), **{"$XDSDocumentEntryStatus": listed([APPROVED])})
    found = await run(ctx, adhoc(sq.GET_ALL, only_approved), ins)
    assert ids_of(found, "ExtrinsicObject") == [new.entry_uuid]


async def test_queries_are_audited_as_the_fhir_searches(ctx: ServiceContext) -> None:
    ins, _ = await record(ctx)
    await run(ctx, adhoc(sq.FIND_DOCUMENTS, find_documents(ins)), ins)
    event = await last_event(ctx, ins)
    assert (event.action, event.outcome, event.actor_id) == (
        "document:document:search",
        "success",
        AUTHOR.idnat,
    )


def test_stored_query_ids_are_case_and_space_insensitive() -> None:
    request = adhoc(f"  {sq.FIND_DOCUMENTS.upper()} ", find_documents(make_ins()))
    assert sq.parse_stored_query(request).query_id == sq.FIND_DOCUMENTS
