"""The provide-documents service on both databases and both blob stores (filesystem, S3): all
or nothing (blobs included), replacement in the same transaction, idempotent retries, and one
winner when two replace the same document."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from opendmp.audit import writer
from opendmp.domain.errors import AccessDenied, NotFound, OpenDMPError
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import AccessRules, ServiceContext
from opendmp.services.documents import deposit
from opendmp.services.documents.deposit import (
    DepositRefused,
    DocumentInput,
    ReplaceTarget,
    SubmissionSetInput,
    provide_documents,
)
from opendmp.services.documents.views import document_view
from opendmp.services.operations.maintenance import verify_audit
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests.api.provide_support import cda
from tests.blob_support import stored_names
from tests.factories import OPERATOR, make_ins, make_professional, new_record, patient_actor
from tests.record_scope import whole_database
from tests.services.document_support import document_counts, grant

pytestmark = pytest.mark.blob_backends

AUTHOR = make_professional(1, organization="1750000010")
OTHER = make_professional(2)


async def new_patient(ctx: ServiceContext, **overrides: Any) -> Ins:
    ins = make_ins()
    await records.create_record(
        ctx, actor=OPERATOR, request=new_record(ins, ctx.now(), **overrides)
    )
    return ins


def submission() -> SubmissionSetInput:
    return SubmissionSetInput(unique_id=f"2.25.{uuid.uuid4().int}", source_id="1.2.3.4")


def document(
    ctx: ServiceContext, content: bytes = b"%PDF-1.4 test", **overrides: Any
) -> DocumentInput:
    fields: dict[str, Any] = {
        "unique_id": f"2.25.{uuid.uuid4().int}",
        "type_code": "11490-0",
        "mime_type": "application/pdf",
        "content": content,
        "title": "Lettre de liaison",
        "creation_time": ctx.now(),
        "service_start": ctx.now(),
        "declared_size": len(content),
        "declared_sha1": hashlib.sha1(content).hexdigest(),  # noqa: S324 - XDS hash
    }
    fields.update(overrides)
    return DocumentInput(**fields)


async def counts(ctx: ServiceContext) -> tuple[int, int, int, int]:
    docs, sets, superseded = await document_counts(ctx)
    blobs = len(await stored_names(ctx.blobs.store))
    return docs, sets, superseded, blobs


async def test_a_batch_is_stored_with_its_audit_events(ctx: ServiceContext) -> None:
    ins = await new_patient(ctx)
    result = await provide_documents(
        ctx,
        actor=AUTHOR,
        ins=ins,
        submission=submission(),
        documents=[document(ctx), document(ctx, b"%PDF-1.4 second")],
    )
    assert len(result.documents) == 2
    assert all(result.created)
    assert await counts(ctx) == (2, 1, 0, 2)
    async with ctx.sessions() as session:
        actions = (
            (await session.execute(whole_database(select(m.AuditEvent.action)))).scalars().all()
        )
        org = (
            await session.execute(
                select(m.Organization.struct_idnat).where(
                    m.Organization.struct_idnat == "1750000010"
                )
            )
        ).scalar_one_or_none()
    assert actions.count("document:document:deposit") == 2
    assert org == "1750000010"  # the author's structure is registered
    assert all(report.ok for report in await verify_audit(ctx, ins=ins))


async def test_the_second_document_failing_in_the_checks_leaves_neither(
    ctx: ServiceContext,
) -> None:
    ins = await new_patient(ctx)
    bad = document(ctx, b"%PDF-1.4 second", declared_sha1="0" * 40)
    with pytest.raises(DepositRefused) as caught:
        await provide_documents(
            ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx), bad]
        )
    assert (caught.value.code, caught.value.entry_index) == ("hash-mismatch", 1)
    assert await counts(ctx) == (0, 0, 0, 0)


async def test_a_failure_after_the_blobs_were_written_leaves_no_row_and_no_blob(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ins = await new_patient(ctx)
    real_append = writer.append_many
    calls = 0

    async def failing_append(*args: Any, **kwargs: Any) -> None:
        # The documents' audit events, written after the blobs and the rows.
        nonlocal calls
        calls += 1
        raise RuntimeError("disk full")

    monkeypatch.setattr(deposit, "append_many", failing_append)
    with pytest.raises(RuntimeError):
        await provide_documents(
            ctx,
            actor=AUTHOR,
            ins=ins,
            submission=submission(),
            documents=[document(ctx), document(ctx, b"%PDF-1.4 second")],
        )
    assert calls == 1 and real_append is not None
    assert await counts(ctx) == (0, 0, 0, 0)


async def test_a_blob_store_failure_on_the_second_document_removes_the_first_blob(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ins = await new_patient(ctx)
    real_put = ctx.blobs.put_document
    calls = 0

    async def failing_put(**kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("no space left on device")
        return await real_put(**kwargs)

    monkeypatch.setattr(ctx.blobs, "put_document", failing_put)
    with pytest.raises(OSError, match="no space"):
        await provide_documents(
            ctx,
            actor=AUTHOR,
            ins=ins,
            submission=submission(),
            documents=[document(ctx), document(ctx, b"%PDF-1.4 second")],
        )
    assert await counts(ctx) == (0, 0, 0, 0)


async def test_replace_supersedes_in_the_same_transaction(ctx: ServiceContext) -> None:
    ins = await new_patient(ctx)
    first = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
    )
    old = first.documents[0]
    new = document(
        ctx, b"%PDF-1.4 v2", replaces=ReplaceTarget(old.entry_uuid.removeprefix("urn:uuid:"))
    )
    result = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[new]
    )
    superseded = result.superseded[0]
    assert superseded is not None and superseded.status == "superseded"
    assert result.documents[0].replaces_id == old.id
    assert await counts(ctx) == (2, 2, 1, 2)
    async with ctx.sessions() as session:
        events = (
            await session.execute(
                whole_database(
                    select(m.AuditEvent.action, m.AuditEvent.target_document_id).where(
                        m.AuditEvent.action == "document:document:replace"
                    )
                )
            )
        ).all()
    assert [e.target_document_id for e in events] == [old.id]


async def test_replace_by_unique_id_and_refusals(ctx: ServiceContext) -> None:
    ins = await new_patient(ctx)
    first = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
    )
    target = ReplaceTarget(first.documents[0].unique_id, "unique-id")
    stranger = ReplaceTarget(str(uuid.uuid4()))

    async def replace_as_other(what: ReplaceTarget) -> OpenDMPError:
        with pytest.raises(OpenDMPError) as caught:
            await provide_documents(
                ctx,
                actor=OTHER,
                ins=ins,
                submission=submission(),
                documents=[document(ctx, b"v2", replaces=what)],
            )
        return caught.value

    # OTHER may deposit but may not read this record: the document they name does not
    # exist for them (docs/security.md, "Existence"); the refusal is audited.
    hidden, unknown_to_them = await replace_as_other(target), await replace_as_other(stranger)
    assert isinstance(hidden, DepositRefused)
    assert (hidden.code, hidden.http_status, hidden.message) == (
        unknown_to_them.code,
        unknown_to_them.http_status,
        unknown_to_them.message,
    )
    assert hidden.code == "unresolved-reference"
    async with ctx.sessions() as session:
        reasons = (
            (
                await session.execute(
                    whole_database(
                        select(m.AuditEvent.reason).where(
                            m.AuditEvent.action == "document:document:replace",
                            m.AuditEvent.outcome == "denied",
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
    assert reasons == ["not-authorized"]
    # Authorised, OTHER sees the document and gets the policy's reason.
    await grant(ctx, ins, OTHER)
    denied = await replace_as_other(target)
    assert (type(denied), denied.code) == (AccessDenied, "not-author")
    await provide_documents(
        ctx,
        actor=AUTHOR,
        ins=ins,
        submission=submission(),
        documents=[document(ctx, b"v2", replaces=target)],
    )
    before = await counts(ctx)
    with pytest.raises(DepositRefused) as refused:
        await provide_documents(
            ctx,
            actor=AUTHOR,
            ins=ins,
            submission=submission(),
            documents=[document(ctx, b"v3", replaces=target)],
        )
    assert (refused.value.code, refused.value.http_status) == ("replaced-document-not-current", 409)
    with pytest.raises(DepositRefused) as unknown:
        await provide_documents(
            ctx,
            actor=AUTHOR,
            ins=ins,
            submission=submission(),
            documents=[document(ctx, b"v3", replaces=ReplaceTarget(str(uuid.uuid4())))],
        )
    assert unknown.value.code == "unresolved-reference"
    assert await counts(ctx) == before


async def test_the_answered_view_is_the_stored_row_s(ctx: ServiceContext) -> None:
    """The view a deposit answers, built from the values it inserted, is what the stored
    row gives (timestamps as the database returns them, event codes, every column)."""
    ins = await new_patient(ctx)
    doc = document(
        ctx,
        service_stop=ctx.now(),
        event_codes=("T-D8200", "F-00000"),
        practice_setting="394802001",
        extra={"note": "kept"},
    )
    result = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[doc]
    )
    view = result.documents[0]
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(m.Document).where(
                    m.Document.record_id == view.record_id, m.Document.id == view.id
                )
            )
        ).scalar_one()
    assert view == document_view(row)


async def test_a_submission_set_unique_id_already_stored_is_refused(
    ctx: ServiceContext,
) -> None:
    """New documents under a submission set uniqueId the record holds: 409, nothing kept
    (the insert finds it: no look-up before it)."""
    ins = await new_patient(ctx)
    sub = submission()
    await provide_documents(ctx, actor=AUTHOR, ins=ins, submission=sub, documents=[document(ctx)])
    before = await counts(ctx)
    with pytest.raises(DepositRefused) as caught:
        await provide_documents(
            ctx, actor=AUTHOR, ins=ins, submission=sub, documents=[document(ctx, b"%PDF other")]
        )
    assert (caught.value.code, caught.value.http_status) == ("duplicate-unique-id", 409)
    assert caught.value.message == "a submission set with this uniqueId is already in the record"
    assert await counts(ctx) == before
    again = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
    )
    assert again.created == [True]


async def test_an_identical_retry_returns_the_stored_document(ctx: ServiceContext) -> None:
    ins = await new_patient(ctx)
    doc = document(ctx)
    sub = submission()
    first = await provide_documents(ctx, actor=AUTHOR, ins=ins, submission=sub, documents=[doc])
    again = await provide_documents(ctx, actor=AUTHOR, ins=ins, submission=sub, documents=[doc])
    assert again.created == [False]
    assert again.documents[0].id == first.documents[0].id
    assert again.submission_set_id == first.submission_set_id
    assert [w.code for w in again.warnings] == ["already-stored"]
    assert await counts(ctx) == (1, 1, 0, 1)
    changed = dataclasses.replace(
        doc, content=b"%PDF other", declared_size=None, declared_sha1=None
    )
    with pytest.raises(DepositRefused) as caught:
        await provide_documents(
            ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[changed]
        )
    assert (caught.value.code, caught.value.http_status) == ("duplicate-unique-id", 409)
    assert await counts(ctx) == (1, 1, 0, 1)


async def test_cda_checks(ctx: ServiceContext) -> None:
    ins = await new_patient(ctx)
    other = make_ins()
    uid = "1.2.250.1.213.1.4.8.99999.2"
    past = "20260201100000+0100"  # the test clock says 2026-03-01
    good = cda(unique_id=uid, ins=ins, effective=past, service_start=past)
    base = document(
        ctx,
        good,
        unique_id=uid,
        type_code="11488-4",
        mime_type="text/xml",
        title=None,
        creation_time=None,
        service_start=None,
    )
    for content, code in (
        (cda(unique_id="1.2.3", ins=ins), "cda-mismatch"),
        (cda(unique_id=uid, ins=other), "patient-mismatch"),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>", "invalid-cda"),
        (b"<not-closed", "invalid-document"),
    ):
        bad = dataclasses.replace(base, content=content, declared_size=None, declared_sha1=None)
        with pytest.raises(DepositRefused) as caught:
            await provide_documents(
                ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[bad]
            )
        assert caught.value.code == code
    result = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[base]
    )
    view = result.documents[0]
    # Taken from the header when the metadata leaves them out.
    assert view.title == "Compte rendu de consultation"
    assert view.creation_time is not None and view.service_start is not None
    assert [w.code for w in result.warnings] == []
    assert await counts(ctx) == (1, 1, 0, 1)


async def test_unknown_record_and_closed_record(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as missing:
        await provide_documents(
            ctx, actor=AUTHOR, ins=make_ins(), submission=submission(), documents=[document(ctx)]
        )
    assert missing.value.code == "record-not-found"
    ins = await new_patient(ctx)
    from opendmp.domain.records import ClosureReason

    await records.close_record(
        ctx, actor=patient_actor(ins), ins=ins, reason=ClosureReason.PATIENT_REQUEST
    )
    with pytest.raises(AccessDenied) as closed:
        await provide_documents(
            ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
        )
    assert closed.value.code == "record-closed"
    # The blob written before the write transaction refused it is gone too.
    assert await counts(ctx) == (0, 0, 0, 0)


async def test_new_document_notice_and_masking_preferences(ctx: ServiceContext) -> None:
    ins = await new_patient(ctx)
    async with ctx.sessions() as session:
        await session.execute(
            update(m.Record).values(notify_on_new_document=True, mask_new_documents=True)
        )
        await session.commit()
    result = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
    )
    assert result.documents[0].masked_by_patient is True
    # The patient's own deposit is not notified to the patient.
    await provide_documents(
        ctx, actor=patient_actor(ins), ins=ins, submission=submission(), documents=[document(ctx)]
    )
    async with ctx.sessions() as session:
        notices = (
            await session.execute(select(m.Outbox.payload).where(m.Outbox.kind == "new-document"))
        ).all()
    assert len(notices) == 1


async def test_a_blocked_professional_follows_the_setting(ctx: ServiceContext) -> None:
    from opendmp.services.core.records import get_record
    from opendmp.services.directory.professionals import ensure_professional

    ins = await new_patient(ctx)
    async with ctx.sessions() as session:
        pro = await ensure_professional(session, AUTHOR, now=ctx.now())
        _, record = await get_record(session, ins)
        session.add(
            m.Authorization(
                id=uuid.uuid4(),
                record_id=record.id,
                professional_id=pro.id,
                organization_id=None,
                state="blocked",
                granted_by_kind="patient",
                granted_by_id=str(ins),
                granted_at=ctx.now(),
                expires_at=None,
                updated_at=ctx.now(),
            )
        )
        await session.commit()
    await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
    )
    strict = dataclasses.replace(ctx, access=AccessRules(blocked_may_deposit=False))
    before = await counts(ctx)
    with pytest.raises(AccessDenied) as caught:
        await provide_documents(
            strict, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(strict)]
        )
    assert caught.value.code == "blocked-by-patient"
    assert await counts(ctx) == before


async def test_concurrent_replacements_of_one_document_have_one_winner(
    ctx: ServiceContext, engine: Any
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrency is checked on PostgreSQL (SQLite serialises writers)")
    ins = await new_patient(ctx)
    first = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[document(ctx)]
    )
    target = ReplaceTarget(str(first.documents[0].id))

    async def replace_it(n: int) -> object:
        try:
            return await provide_documents(
                ctx,
                actor=AUTHOR,
                ins=ins,
                submission=submission(),
                documents=[document(ctx, f"%PDF v{n}".encode(), replaces=target)],
            )
        except OpenDMPError as exc:
            return exc

    outcomes = await asyncio.gather(*(replace_it(n) for n in range(4)))
    winners = [o for o in outcomes if isinstance(o, deposit.ProvideResult)]
    losers = [o for o in outcomes if isinstance(o, OpenDMPError)]
    assert len(winners) == 1
    assert {o.code for o in losers} == {"replaced-document-not-current"}
    assert await counts(ctx) == (2, 2, 1, 2)


async def test_re_sending_a_deleted_document_is_refused_not_called_stored(
    ctx: ServiceContext,
) -> None:
    from opendmp.services.documents import delete_document

    ins = await new_patient(ctx)
    doc = document(ctx)
    first = await provide_documents(
        ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[doc]
    )
    await delete_document(ctx, actor=AUTHOR, ins=ins, document_id=first.documents[0].id)
    with pytest.raises(DepositRefused) as caught:
        await provide_documents(
            ctx, actor=AUTHOR, ins=ins, submission=submission(), documents=[doc]
        )
    assert (caught.value.code, caught.value.http_status) == ("duplicate-unique-id", 409)
    assert "deleted" in caught.value.message
