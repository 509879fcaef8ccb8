"""The services behind the professional portal: ``pro_patients`` (look-up with identity only
for a reader, emergency modes, "my patients") and ``pro_deposit`` (a form's PDF wrapped in
a CDA level 1, a CDA checked, bad input refused and audited). Refusals first."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from opendmp.cda.header import extract_nonxml_body, parse_header
from opendmp.cda.pdf import make_pdf
from opendmp.devtools.demo import PATIENTS, PROFESSIONALS, seed_demo
from opendmp.domain.actors import AccessMode, Patient
from opendmp.domain.errors import AccessDenied, InvalidInput
from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins
from opendmp.services import documents
from opendmp.services.access import authorisations as access
from opendmp.services.access.pro_patients import look_up_patient, my_patients, open_emergency
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.deposit import DepositRefused
from opendmp.services.documents.pro_deposit import PortalDeposit, deposit_from_portal
from opendmp.storage import models as m
from tests.conftest import Clock
from tests.record_scope import whole_database

PRO = {p.key: p.actor for p in PROFESSIONALS}
CAMILLE, JULES, LEA = (parse_ins(p.ins, INS_NIR_TEST_OID) for p in PATIENTS)
PDF = make_pdf("Lettre", ["fictive"])


@pytest.fixture(autouse=True)
async def demo(ctx: ServiceContext) -> None:
    await seed_demo(ctx)


def letter(**overrides: object) -> PortalDeposit:
    fields: dict[str, object] = {
        "type_code": "11490-0",
        "service_date": dt.date(2026, 2, 28),
        "practice_setting": "ETABLISSEMENT",
        "facility_type": "SA01",
        "visibility": "normal",
        "filename": "lettre.pdf",
        "content": PDF,
    }
    fields.update(overrides)
    return PortalDeposit(**fields)  # type: ignore[arg-type]


async def denied(ctx: ServiceContext, action: str, reason: str) -> int:
    async with ctx.uow() as uow:
        return int(
            (
                await uow.session.execute(
                    whole_database(
                        select(func.count(m.AuditEvent.id)).where(
                            m.AuditEvent.action == action,
                            m.AuditEvent.outcome == "denied",
                            m.AuditEvent.reason == reason,
                        )
                    )
                )
            ).scalar_one()
        )


async def test_a_stranger_learns_the_status_but_not_the_identity(ctx: ServiceContext) -> None:
    card = await look_up_patient(ctx, actor=PRO["physio"], ins=LEA)
    assert card.exists and not card.may_read and card.birth_name is None
    mine = await look_up_patient(ctx, actor=PRO["gp"], ins=CAMILLE)
    assert mine.may_read and mine.birth_name == "FICTIVE" and mine.status.treating_doctor


async def test_regulation_is_refused_to_a_non_doctor_and_audited(ctx: ServiceContext) -> None:
    with pytest.raises(AccessDenied) as refused:
        await open_emergency(
            ctx, actor=PRO["nurse"], ins=LEA, mode=AccessMode.REGULATION, justification=""
        )
    assert refused.value.code == "regulation-doctors-only"
    assert await denied(ctx, "access:emergency:open", "regulation-doctors-only") == 1


async def test_break_glass_needs_a_justification(ctx: ServiceContext) -> None:
    with pytest.raises(AccessDenied) as refused:
        await open_emergency(
            ctx, actor=PRO["physio"], ins=LEA, mode=AccessMode.BREAK_GLASS, justification=" "
        )
    assert refused.value.code == "justification-required"
    opened = await open_emergency(
        ctx, actor=PRO["physio"], ins=LEA, mode=AccessMode.BREAK_GLASS, justification="coma"
    )
    assert opened.mode is AccessMode.BREAK_GLASS and opened.justification == "coma"


async def test_my_patients_leaves_out_blocked_and_expired_accesses(
    ctx: ServiceContext, clock: Clock
) -> None:
    found = await my_patients(ctx, actor=PRO["gp"])
    assert [p.ins for p in found] == [CAMILLE]
    assert found[0].treating_doctor and found[0].last_document_at is not None
    await access.declare_authorization(ctx, actor=PRO["gp"], ins=LEA)
    assert {p.ins for p in await my_patients(ctx, actor=PRO["gp"])} == {CAMILLE, LEA}
    patient = Patient(ins=str(CAMILLE))
    await access.block(ctx, actor=patient, ins=CAMILLE, professional_idnat=PRO["gp"].idnat)
    assert [p.ins for p in await my_patients(ctx, actor=PRO["gp"])] == [LEA]
    clock.advance(days=400)
    assert await my_patients(ctx, actor=PRO["gp"]) == []


@pytest.mark.parametrize(
    ("deposit", "code"),
    [
        (letter(content=b"GIF89a not a pdf"), "not-a-pdf"),
        (letter(service_date=dt.date(2026, 3, 2)), "service-date-in-future"),
        (letter(type_code="DOCPAT01"), "invalid-type"),
        (letter(filename="x.txt", content=b"plain text"), "invalid-content"),
    ],
)
async def test_bad_input_is_refused_audited_and_stores_nothing(
    ctx: ServiceContext, deposit: PortalDeposit, code: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await deposit_from_portal(ctx, actor=PRO["gp"], ins=CAMILLE, deposit=deposit)
    assert refused.value.code == code
    assert await denied(ctx, "document:document:deposit", code) == 1


async def test_a_cda_for_another_patient_is_refused(ctx: ServiceContext) -> None:
    stored = await deposit_from_portal(ctx, actor=PRO["gp"], ins=JULES, deposit=letter())
    _, cda = await documents.read_document(ctx, actor=PRO["gp"], ins=JULES, document_id=stored.id)
    with pytest.raises(DepositRefused) as refused:
        await deposit_from_portal(
            ctx, actor=PRO["gp"], ins=CAMILLE, deposit=letter(filename="l.xml", content=cda)
        )
    assert refused.value.code == "patient-mismatch"
    assert await denied(ctx, "document:document:deposit", "patient-mismatch") == 1


async def test_a_pdf_is_wrapped_with_a_correct_header_and_replaced_in_its_set(
    ctx: ServiceContext,
) -> None:
    first = await deposit_from_portal(ctx, actor=PRO["gp"], ins=JULES, deposit=letter())
    _, cda = await documents.read_document(ctx, actor=PRO["gp"], ins=JULES, document_id=first.id)
    header = parse_header(cda)
    assert (header.patient.ins_value, header.patient.ins_oid) == (JULES.value, JULES.oid)
    assert header.patient.family_name == "ESSAI" and header.patient.sex == "M"
    assert header.authors[0].idnat == PRO["gp"].idnat
    assert header.legal_authenticator is not None
    assert header.document_id.root == first.unique_id and header.version_number == 1
    assert extract_nonxml_body(cda) == ("application/pdf", PDF)
    assert first.format_code == "urn:ihe:iti:xds-sd:pdf:2008"

    second = await deposit_from_portal(
        ctx, actor=PRO["gp"], ins=JULES, deposit=letter(replaces=first.id, title="v2")
    )
    _, cda2 = await documents.read_document(ctx, actor=PRO["gp"], ins=JULES, document_id=second.id)
    header2 = parse_header(cda2)
    assert header2.set_id == header.set_id and header2.version_number == 2
    assert header2.replaces is not None and header2.replaces.root == first.unique_id
    old = await documents.read_document_metadata(
        ctx, actor=PRO["gp"], ins=JULES, document_id=first.id
    )
    assert old.status == "superseded"


async def test_a_cpe_cannot_wrap_a_pdf_in_its_own_name(ctx: ServiceContext) -> None:
    from opendmp.devtools.demo import DESK

    with pytest.raises(InvalidInput) as refused:
        await deposit_from_portal(ctx, actor=DESK.actor, ins=CAMILLE, deposit=letter())
    assert refused.value.code == "author-profession-required"
