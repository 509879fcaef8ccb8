"""Depositing and reading documents: policy, encryption at rest, integrity, audit.
Refusals first, then successes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opendmp.blobs import MasterKey
from opendmp.domain.actors import CardKind, Professional
from opendmp.domain.errors import (
    AccessDenied,
    Conflict,
    IntegrityFailure,
    InvalidInput,
    KeyFailure,
    NotFound,
)
from opendmp.domain.identifiers import Ins
from opendmp.domain.records import ClosureReason
from opendmp.services import documents
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.documents import DocumentView
from opendmp.services.operations.health import check_master_key
from opendmp.services.operations.maintenance import verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.factories import (
    OPERATOR,
    make_ins,
    make_professional,
    new_record,
    patient_actor,
    submission,
)
from tests.record_scope import document_by_id, whole_database
from tests.services.document_support import record_events

AUTHOR = make_professional(1)
READER = make_professional(2)
CONTENT = b"%PDF-1.4 synthetic discharge letter for FICTIF Alex, secret plaintext 0123456789"

# --- helpers --------------------------------------------------------------------------------


async def new_patient_record(ctx: ServiceContext) -> Ins:
    ins = make_ins()
    await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    return ins


async def deposit(
    ctx: ServiceContext, ins: Ins, content: bytes = CONTENT, **overrides: object
) -> DocumentView:
    return await documents.deposit_document(
        ctx, actor=AUTHOR, ins=ins, submission=submission(ctx.now(), content, **overrides)
    )


def blob_files(blob_root: Path) -> list[Path]:
    return sorted(p for p in blob_root.rglob("*") if p.is_file())


async def document_row(ctx: ServiceContext, document_id: uuid.UUID) -> m.Document:
    async with ctx.sessions() as session:
        doc = await document_by_id(session, document_id)
    assert doc is not None
    return doc


async def document_count(ctx: ServiceContext) -> int:
    async with ctx.sessions() as session:
        total = await session.execute(whole_database(select(func.count()).select_from(m.Document)))
        return int(total.scalar_one())


async def authorize(
    ctx: ServiceContext, ins: Ins, professional: Professional, *, expires_at: dt.datetime
) -> None:
    """What the authorisation service will do: register the professional, grant access."""
    now = ctx.now()
    async with ctx.sessions() as session:
        _, record = await get_record(session, ins)
        pro = (
            await session.execute(
                select(m.Professional).where(m.Professional.idnat == professional.idnat)
            )
        ).scalar_one_or_none()
        if pro is None:
            pro = m.Professional(
                id=uuid.uuid4(),
                idnat=professional.idnat,
                profession=professional.profession,
                specialty=professional.specialty,
                card_kind=professional.card_kind.value,
                family_name="TESTPRO",
                given_name="Dominique",
                created_at=now,
            )
            session.add(pro)
            await session.flush()
        session.add(
            m.Authorization(
                id=uuid.uuid4(),
                record_id=record.id,
                professional_id=pro.id,
                organization_id=None,
                state="authorized",
                granted_by_kind="patient",
                granted_by_id=str(ins),
                granted_at=now,
                expires_at=expires_at,
                updated_at=now,
            )
        )
        await session.commit()


async def assert_audit_ok(ctx: ServiceContext) -> None:
    reports = await verify_audit(ctx)
    assert reports
    assert all(r.ok for r in reports), reports


# --- refusals: deposit ------------------------------------------------------------------------


async def test_nothing_is_deposited_in_a_closed_record(
    ctx: ServiceContext, blob_root: Path
) -> None:
    ins = await new_patient_record(ctx)
    await records.close_record(ctx, actor=OPERATOR, ins=ins, reason=ClosureReason.PATIENT_REQUEST)

    with pytest.raises(AccessDenied) as caught:
        await deposit(ctx, ins)

    assert caught.value.code == "record-closed"
    assert await document_count(ctx) == 0
    assert blob_files(blob_root) == []
    denied = (await record_events(ctx, ins))[-1]
    assert (denied.action, denied.outcome, denied.reason) == (
        "document:document:deposit",
        "denied",
        "record-closed",
    )


async def test_a_duplicate_unique_id_is_refused_without_leaving_an_orphan_blob(
    ctx: ServiceContext, blob_root: Path
) -> None:
    ins = await new_patient_record(ctx)
    first = await deposit(ctx, ins)
    files_before = blob_files(blob_root)
    assert len(files_before) == 1

    with pytest.raises(Conflict) as caught:
        await deposit(ctx, ins, b"another content", unique_id=first.unique_id)

    assert caught.value.code == "duplicate-unique-id"
    assert await document_count(ctx) == 1
    assert blob_files(blob_root) == files_before


async def test_an_empty_document_is_refused(ctx: ServiceContext, blob_root: Path) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(InvalidInput) as caught:
        await deposit(ctx, ins, b"")
    assert caught.value.code == "invalid-document"
    assert await document_count(ctx) == 0
    assert blob_files(blob_root) == []


async def test_an_unknown_type_code_is_refused(ctx: ServiceContext, blob_root: Path) -> None:
    ins = await new_patient_record(ctx)
    with pytest.raises(InvalidInput) as caught:
        await deposit(ctx, ins, type_code="99999-9")
    assert caught.value.code == "unknown-type-code"
    assert await document_count(ctx) == 0
    assert blob_files(blob_root) == []


# --- refusals: read ---------------------------------------------------------------------------


async def test_a_cpe_card_never_reads_documents(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    cpe = make_professional(3, card_kind=CardKind.CPE)
    await authorize(ctx, ins, cpe, expires_at=ctx.now() + dt.timedelta(days=365))

    with pytest.raises(AccessDenied) as caught:
        await documents.read_document(ctx, actor=cpe, ins=ins, document_id=doc.id)

    assert caught.value.code == "cpe-never-reads"


async def test_a_professional_without_authorisation_cannot_read_and_the_refusal_is_audited(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)

    with pytest.raises(AccessDenied) as caught:
        await documents.read_document(ctx, actor=READER, ins=ins, document_id=doc.id)

    assert caught.value.code == "not-authorized"
    assert CONTENT.decode() not in str(caught.value)
    denied = (await record_events(ctx, ins))[-1]
    assert denied.action == "document:document:read"
    assert denied.outcome == "denied"
    assert denied.reason == "not-authorized"
    assert denied.actor_id == READER.idnat
    assert denied.target_document_id == doc.id
    await assert_audit_ok(ctx)


async def test_a_professional_whose_authorisation_expired_cannot_read(
    ctx: ServiceContext, clock: Clock
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await authorize(ctx, ins, READER, expires_at=ctx.now() + dt.timedelta(days=30))
    clock.advance(days=31)

    with pytest.raises(AccessDenied) as caught:
        await documents.read_document(ctx, actor=READER, ins=ins, document_id=doc.id)

    # The facts now come from services.facts, which tells an expired grant from none.
    assert caught.value.code == "authorization-expired"


async def test_a_document_invisible_to_the_patient_is_refused_to_the_patient(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins, invisible_to_patient=True)

    with pytest.raises(NotFound) as caught:
        await documents.read_document(ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id)
    with pytest.raises(NotFound) as unknown:
        await documents.read_document(
            ctx, actor=patient_actor(ins), ins=ins, document_id=uuid.uuid4()
        )

    # Told as an unknown id (docs/security.md, "Existence"), audited as the refusal it is.
    assert (caught.value.code, caught.value.message) == (unknown.value.code, unknown.value.message)
    assert caught.value.code == "document-not-found"
    denied = (await record_events(ctx, ins))[-1]
    assert (denied.outcome, denied.reason) == ("denied", "invisible-to-patient")
    assert denied.target_document_id == doc.id


async def test_documents_of_a_closed_record_cannot_be_read_even_by_the_patient(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await records.close_record(
        ctx, actor=patient_actor(ins), ins=ins, reason=ClosureReason.PATIENT_REQUEST
    )
    with pytest.raises(AccessDenied) as caught:
        await documents.read_document(ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id)
    assert caught.value.code == "record-closed"


async def test_a_patient_cannot_read_another_patients_document(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    with pytest.raises(AccessDenied) as caught:
        await documents.read_document(
            ctx, actor=patient_actor(make_ins()), ins=ins, document_id=doc.id
        )
    assert caught.value.code == "not-own-record"


async def test_a_tampered_blob_fails_its_integrity_check_instead_of_returning_garbage(
    ctx: ServiceContext, blob_root: Path
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    path = blob_root / (await document_row(ctx, doc.id)).blob_key
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))

    with pytest.raises(IntegrityFailure) as caught:
        await documents.read_document(ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id)

    assert caught.value.code == "blob-integrity"


async def test_another_master_key_cannot_read_and_is_refused_at_start(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    wrong = dataclasses.replace(ctx, master_key=MasterKey.generate())

    with pytest.raises(KeyFailure) as caught:
        await documents.read_document(wrong, actor=patient_actor(ins), ins=ins, document_id=doc.id)
    assert caught.value.code == "master-key-mismatch"

    with pytest.raises(KeyFailure) as at_start:
        await check_master_key(wrong)
    assert at_start.value.code == "master-key-mismatch"
    assert wrong.master_key.to_base64() not in str(at_start.value)
    await check_master_key(ctx)  # the right key passes


# --- successes --------------------------------------------------------------------------------


async def test_the_patient_reads_back_the_exact_bytes(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)

    view, content = await documents.read_document(
        ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id
    )

    assert content == CONTENT
    assert view.id == doc.id
    assert view.sha256 == hashlib.sha256(content).hexdigest()


async def test_the_stored_blob_does_not_contain_the_plaintext(
    ctx: ServiceContext, blob_root: Path
) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    row = await document_row(ctx, doc.id)
    [path] = blob_files(blob_root)

    assert path == blob_root / row.blob_key
    assert row.blob_key.startswith(f"{doc.record_id}/")
    stored = path.read_bytes()
    assert CONTENT not in stored
    assert b"FICTIF" not in stored
    assert b"%PDF" not in stored
    assert len(stored) > len(CONTENT)


async def test_deposit_stores_the_hashes_and_size(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    row = await document_row(ctx, doc.id)

    assert row.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert row.sha1 == hashlib.sha1(CONTENT, usedforsecurity=False).hexdigest()
    assert row.size == len(CONTENT)
    assert row.status == "current"
    assert row.author_idnat == AUTHOR.idnat
    assert row.deposited_by_kind == "professional"
    assert row.deposited_at == ctx.now()
    assert doc.size == len(CONTENT)


async def test_deposit_and_read_are_audited(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await documents.read_document(ctx, actor=patient_actor(ins), ins=ins, document_id=doc.id)

    events = await record_events(ctx, ins)
    assert [(e.action, e.outcome) for e in events] == [
        ("record:record:create", "success"),
        ("auth:account:create", "success"),
        ("document:document:deposit", "success"),
        ("document:document:read", "success"),
    ]
    read = events[-1]
    assert read.target_document_id == doc.id
    assert (read.actor_kind, read.actor_id) == ("patient", str(ins))
    assert events[2].target_document_id == doc.id
    await assert_audit_ok(ctx)


async def test_an_authorised_professional_reads_the_document(ctx: ServiceContext) -> None:
    ins = await new_patient_record(ctx)
    doc = await deposit(ctx, ins)
    await authorize(ctx, ins, READER, expires_at=ctx.now() + dt.timedelta(days=365))

    view, content = await documents.read_document(ctx, actor=READER, ins=ins, document_id=doc.id)

    assert content == CONTENT
    assert view.id == doc.id
    read = (await record_events(ctx, ins))[-1]
    assert (read.action, read.outcome, read.actor_id) == (
        "document:document:read",
        "success",
        READER.idnat,
    )
    await assert_audit_ok(ctx)
