"""Metadata updates (DMP TD3.3 / PDSm PATCH), reading deleted documents, the patient's own
deposits and streamed reads. Refusals first, then successes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable

import orjson
import pytest
from sqlalchemy import update

from opendmp.domain.actors import Actor
from opendmp.domain.errors import AccessDenied, Gone, InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentView
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import make_ins, patient_actor
from tests.record_scope import whole_database
from tests.services.document_support import (
    AUTHOR,
    BLOCKED,
    COLLEAGUE,
    DOCTOR,
    PHARMACIST,
    STRANGER,
    deposit,
    document_row,
    grant,
    last_event,
    new_patient_record,
)

Update = Callable[[ServiceContext, Actor, Ins, uuid.UUID], Awaitable[DocumentView]]


def mask(ctx: ServiceContext, actor: Actor, ins: Ins, doc: uuid.UUID) -> Awaitable[DocumentView]:
    return documents.mask_document(ctx, actor=actor, ins=ins, document_id=doc, masked=True)


def hide_from_patient(
    ctx: ServiceContext, actor: Actor, ins: Ins, doc: uuid.UUID
) -> Awaitable[DocumentView]:
    return documents.set_visibility(
        ctx, actor=actor, ins=ins, document_id=doc, invisible_to_patient=True
    )


def hide_from_representatives(
    ctx: ServiceContext, actor: Actor, ins: Ins, doc: uuid.UUID
) -> Awaitable[DocumentView]:
    return documents.set_visibility(
        ctx, actor=actor, ins=ins, document_id=doc, invisible_to_representatives=True
    )


def archive(ctx: ServiceContext, actor: Actor, ins: Ins, doc: uuid.UUID) -> Awaitable[DocumentView]:
    return documents.archive_document(ctx, actor=actor, ins=ins, document_id=doc, archived=True)


def delete(ctx: ServiceContext, actor: Actor, ins: Ins, doc: uuid.UUID) -> Awaitable[DocumentView]:
    return documents.delete_document(ctx, actor=actor, ins=ins, document_id=doc)


AUTHOR_UPDATES: dict[str, tuple[Update, str]] = {
    "set visibility": (hide_from_patient, "document:document:set-visibility"),
    "archive": (archive, "document:document:archive"),
    "delete": (delete, "document:document:delete"),
}


def snapshot(row: m.Document) -> tuple[object, ...]:
    return (
        row.entry_uuid,
        row.version,
        row.status,
        row.archived,
        row.masked_by_patient,
        row.invisible_to_patient,
        row.invisible_to_representatives,
        row.updated_at,
        row.deleted_at,
    )


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(AUTHOR_UPDATES))
async def test_a_professional_who_is_not_the_author_cannot_change_a_document(
    ctx: ServiceContext, name: str
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    before = snapshot(await document_row(ctx, doc.id))
    change, audit_action = AUTHOR_UPDATES[name]

    with pytest.raises(AccessDenied) as caught:
        await change(ctx, DOCTOR, ins, doc.id)

    assert caught.value.code == "not-author"
    assert snapshot(await document_row(ctx, doc.id)) == before
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome, denied.reason, denied.target_document_id) == (
        audit_action,
        "denied",
        "not-author",
        doc.id,
    )


async def test_the_patient_cannot_delete_a_professionals_document(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    before = snapshot(await document_row(ctx, doc.id))

    with pytest.raises(AccessDenied) as caught:
        await delete(ctx, patient_actor(ins), ins, doc.id)

    assert caught.value.code == "not-own-document"
    assert snapshot(await document_row(ctx, doc.id)) == before


async def test_the_patient_cannot_archive_a_professionals_document(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    with pytest.raises(AccessDenied) as caught:
        await archive(ctx, patient_actor(ins), ins, doc.id)
    assert caught.value.code == "not-author"


async def test_the_patient_cannot_hide_a_document_from_themself(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    before = snapshot(await document_row(ctx, doc.id))

    with pytest.raises(AccessDenied) as caught:
        await hide_from_patient(ctx, patient_actor(ins), ins, doc.id)

    assert caught.value.code == "actor-not-permitted"
    assert snapshot(await document_row(ctx, doc.id)) == before
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome, denied.reason) == (
        "document:document:set-visibility",
        "denied",
        "actor-not-permitted",
    )


async def test_another_patient_cannot_mask_my_document(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    with pytest.raises(AccessDenied) as caught:
        await mask(ctx, patient_actor(make_ins()), ins, doc.id)
    assert caught.value.code == "not-own-record"


async def test_a_blocked_or_unauthorised_professional_cannot_mask(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, BLOCKED, state="blocked")

    with pytest.raises(AccessDenied) as blocked:
        await mask(ctx, BLOCKED, ins, doc.id)
    with pytest.raises(AccessDenied) as stranger:
        await mask(ctx, STRANGER, ins, doc.id)

    assert blocked.value.code == "blocked-by-patient"
    assert stranger.value.code == "not-authorized"
    assert not (await document_row(ctx, doc.id)).masked_by_patient


async def test_a_deleted_document_cannot_be_changed_again(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await delete(ctx, AUTHOR, ins, doc.id)

    for change in (archive, delete):
        with pytest.raises(Gone) as caught:
            await change(ctx, AUTHOR, ins, doc.id)
        assert (caught.value.code, caught.value.http_status) == ("document-deleted", 410)


async def test_an_unknown_document_is_not_found_only_for_those_who_may_act(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(NotFound) as caught:
        await mask(ctx, patient_actor(ins), ins, uuid.uuid4())
    assert caught.value.code == "document-not-found"
    with pytest.raises(AccessDenied):
        await mask(ctx, STRANGER, ins, uuid.uuid4())


async def test_an_empty_visibility_change_is_refused(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    with pytest.raises(InvalidInput) as caught:
        await documents.set_visibility(ctx, actor=AUTHOR, ins=ins, document_id=doc.id)
    assert caught.value.code == "invalid-update"


# --- refusals: reading a deleted document -------------------------------------------------------


async def test_a_deleted_document_answers_gone_to_those_who_could_read_it(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    await delete(ctx, AUTHOR, ins, doc.id)

    for reader in (patient_actor(ins), DOCTOR):
        with pytest.raises(Gone) as caught:
            await documents.read_document(ctx, actor=reader, ins=ins, document_id=doc.id)
        assert (caught.value.code, caught.value.http_status) == ("document-deleted", 410)
        with pytest.raises(Gone):
            await documents.read_document_metadata(ctx, actor=reader, ins=ins, document_id=doc.id)
    denied = await last_event(ctx, ins)
    assert (denied.action, denied.outcome, denied.reason) == (
        "document:document:read",
        "denied",
        "document-deleted",
    )


async def test_a_deleted_document_reveals_nothing_to_those_who_could_not_read_it(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    psychiatric = await deposit(ctx, ins, type_code="68599-0")
    await grant(ctx, ins, PHARMACIST)
    await delete(ctx, AUTHOR, ins, psychiatric.id)

    with pytest.raises(AccessDenied) as stranger:
        await documents.read_document(ctx, actor=STRANGER, ins=ins, document_id=psychiatric.id)
    with pytest.raises(NotFound) as pharmacist:
        await documents.read_document(ctx, actor=PHARMACIST, ins=ins, document_id=psychiatric.id)
    with pytest.raises(AccessDenied) as unknown:
        await documents.read_document(ctx, actor=STRANGER, ins=ins, document_id=uuid.uuid4())

    assert stranger.value.code == unknown.value.code == "not-authorized"
    # The pharmacist may read the record but not this type: the document does not exist
    # for them, deleted or not (docs/security.md, "Existence").
    assert pharmacist.value.code == "document-not-found"


# --- refusals: the patient's own documents -----------------------------------------------------


@pytest.mark.parametrize(
    ("type_code", "mime_type", "content", "code"),
    [
        ("11490-0", "application/pdf", b"%PDF-1.7 x", "invalid-type"),
        ("DOCPAT03", "application/zip", b"PK\x03\x04", "invalid-content"),
        ("DOCPAT03", "image/png", b"%PDF-1.7 x", "invalid-content"),
        ("DOCPAT03", "image/jpeg", b"\x89PNG\r\n", "invalid-content"),
        ("DOCPAT03", "text/plain", b"text with a \x00 byte", "invalid-content"),
        ("DOCPAT03", "text/plain", b"\xff\xfe not utf-8", "invalid-content"),
        ("DOCPAT03", "application/rtf", b"{\\rtx1", "invalid-content"),
        ("DOCPAT03", "image/tiff", b"II+\x00", "invalid-content"),
    ],
)
async def test_a_patient_document_of_a_wrong_type_or_content_is_refused(
    ctx: ServiceContext, type_code: str, mime_type: str, content: bytes, code: str
) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(InvalidInput) as caught:
        await documents.deposit_patient_document(
            ctx,
            actor=patient_actor(ins),
            ins=ins,
            title="Mon document",
            type_code=type_code,
            mime_type=mime_type,
            content=content,
        )
    assert caught.value.code == code


async def test_a_patient_cannot_add_a_document_to_another_record(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(AccessDenied) as caught:
        await documents.deposit_patient_document(
            ctx,
            actor=patient_actor(make_ins()),
            ins=ins,
            title="Mon document",
            type_code="DOCPAT01",
            mime_type="application/pdf",
            content=b"%PDF-1.7",
        )
    assert caught.value.code == "not-own-record"


# --- successes --------------------------------------------------------------------------------


def assert_new_version(before: DocumentView, after: DocumentView, row: m.Document) -> None:
    assert after.entry_uuid != before.entry_uuid
    assert after.entry_uuid.startswith("urn:uuid:")
    assert (after.version, row.version) == (before.version + 1, before.version + 1)
    assert (after.unique_id, after.id) == (before.unique_id, before.id)
    assert (row.entry_uuid, row.unique_id) == (after.entry_uuid, before.unique_id)


@pytest.mark.parametrize(
    ("name", "change", "actor", "audit_action", "column"),
    [
        ("patient masks", mask, "patient", "document:document:mask", "masked_by_patient"),
        (
            "doctor masks for the patient",
            mask,
            "doctor",
            "document:document:mask",
            "masked_by_patient",
        ),
        (
            "author hides from the patient",
            hide_from_patient,
            "author",
            "document:document:set-visibility",
            "invisible_to_patient",
        ),
        (
            "patient hides from representatives",
            hide_from_representatives,
            "patient",
            "document:document:set-visibility",
            "invisible_to_representatives",
        ),
        (
            "author's organisation archives",
            archive,
            "colleague",
            "document:document:archive",
            "archived",
        ),
    ],
)
async def test_each_update_issues_a_new_metadata_version(
    ctx: ServiceContext,
    clock: Clock,
    name: str,
    change: Update,
    actor: str,
    audit_action: str,
    column: str,
) -> None:
    ins = await new_patient_record(ctx)
    before = await deposit(ctx, ins)
    await grant(ctx, ins, DOCTOR)
    actors: dict[str, Actor] = {
        "patient": patient_actor(ins),
        "doctor": DOCTOR,
        "author": AUTHOR,
        "colleague": COLLEAGUE,
    }
    clock.advance(minutes=5)

    after = await change(ctx, actors[actor], ins, before.id)

    row = await document_row(ctx, before.id)
    assert_new_version(before, after, row)
    assert getattr(row, column) is True and getattr(after, column) is True
    assert row.updated_at == after.updated_at == ctx.now()
    event = await last_event(ctx, ins)
    assert (event.action, event.outcome, event.target_document_id) == (
        audit_action,
        "success",
        before.id,
    )
    assert orjson.loads(event.details or "{}")["version"] == 2


async def test_masking_then_unmasking_makes_two_versions(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    patient = patient_actor(ins)
    masked = await documents.mask_document(
        ctx, actor=patient, ins=ins, document_id=doc.id, masked=True
    )
    unmasked = await documents.mask_document(
        ctx, actor=patient, ins=ins, document_id=doc.id, masked=False
    )
    assert (masked.version, unmasked.version) == (2, 3)
    assert len({doc.entry_uuid, masked.entry_uuid, unmasked.entry_uuid}) == 3
    assert not unmasked.masked_by_patient


async def test_asking_for_the_current_state_issues_no_new_version(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)

    same = await documents.archive_document(
        ctx, actor=AUTHOR, ins=ins, document_id=doc.id, archived=False
    )

    assert (same.entry_uuid, same.version) == (doc.entry_uuid, 1)
    event = await last_event(ctx, ins)
    assert orjson.loads(event.details or "{}")["changed"] is False


async def test_the_author_deletes_logically(ctx: ServiceContext, clock: Clock) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    clock.advance(hours=1)

    deleted = await delete(ctx, AUTHOR, ins, doc.id)

    row = await document_row(ctx, doc.id)
    assert_new_version(doc, deleted, row)
    assert (row.status, row.deleted_at) == ("deleted", ctx.now())
    assert (deleted.status, deleted.deleted_at) == ("deleted", ctx.now())
    assert row.blob_key  # logical: the content stays until the record is destroyed


async def test_the_patient_adds_and_deletes_their_own_document(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    patient = patient_actor(ins)
    own = await documents.deposit_patient_document(
        ctx,
        actor=patient,
        ins=ins,
        title="Mes directives anticipées",
        type_code="EXPPAT_3",
        mime_type="application/pdf",
        content=b"%PDF-1.7 synthetic",
    )
    assert (own.class_code, own.deposited_by_kind, own.author_idnat) == ("90", "patient", None)

    deleted = await delete(ctx, patient, ins, own.id)

    assert deleted.status == "deleted"


@pytest.mark.parametrize(
    ("mime_type", "content", "format_code"),
    [
        ("application/pdf", b"%PDF-1.4\n", "urn:ihe:iti:xds-sd:pdf:2008"),
        ("image/jpeg", b"\xff\xd8\xff\xe0JFIF", "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
        ("image/png", b"\x89PNG\r\n\x1a\n", "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
        ("image/tiff", b"II*\x00rest", "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
        ("image/tiff", b"MM\x00*rest", "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
        ("application/rtf", b"{\\rtf1\\ansi}", "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
        ("text/plain; charset=utf-8", b"Note : j'ai mal.", "urn:ihe:iti:xds-sd:text:2008"),
    ],
)
async def test_the_patient_may_upload_each_accepted_format(
    ctx: ServiceContext, mime_type: str, content: bytes, format_code: str
) -> None:
    ins = await new_patient_record(ctx)
    view = await documents.deposit_patient_document(
        ctx,
        actor=patient_actor(ins),
        ins=ins,
        title="Mon document",
        type_code="DOCPAT03",
        mime_type=mime_type,
        content=content,
    )
    assert view.format_code == format_code
    assert view.mime_type == mime_type.split(";")[0]
    row = await document_row(ctx, view.id)
    assert row.type_system == "urn:oid:1.2.250.1.213.1.1.4.12"
    _, read = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=view.id
    )
    assert read == content


async def test_a_superseded_version_is_readable_by_its_id(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            whole_database(
                update(m.Document).where(m.Document.id == doc.id).values(status="superseded")
            )
        )
    view = await documents.read_document_metadata(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )
    assert view.status == "superseded"


async def test_a_large_document_is_streamed_in_chunks(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    content = b"%PDF-1.7\n" + bytes(range(256)) * 1024  # ~256 KiB
    doc = await deposit(ctx, ins, content=content)

    stream = await documents.stream_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )

    chunks = [chunk async for chunk in stream.chunks]
    assert len(chunks) > 1
    assert b"".join(chunks) == content
    assert stream.size == len(content) == stream.view.size
    event = await last_event(ctx, ins)
    assert (event.action, orjson.loads(event.details or "{}")) == (
        "document:document:read",
        {"part": "content"},
    )


async def test_views_are_plain_data(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    assert dataclasses.asdict(doc)["unique_id"] == doc.unique_id
