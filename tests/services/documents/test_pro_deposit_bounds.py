"""The professional portal's deposit honours OPENDMP_MAX_DOCUMENT_BYTES (docs/security.md,
"Bounded work per request"): its PDF, wrapped in a CDA, is refused with 413 when the CDA is
beyond the bound, the refusal is audited like the portal's other refusals, nothing stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import func, select

from opendmp.cda.pdf import make_pdf
from opendmp.devtools.demo import seed_demo
from opendmp.domain.limits import LimitExceeded
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents.pro_deposit import deposit_from_portal
from opendmp.storage import models as m
from tests.record_scope import whole_database
from tests.services.access.test_pro_services import CAMILLE, PRO, letter


async def test_a_portal_deposit_beyond_the_byte_bound_is_refused_and_audited(
    ctx: ServiceContext, blob_root: Path
) -> None:
    await seed_demo(ctx)
    pdf = make_pdf("Lettre", ["fictive"] * 200)
    ctx.limits = dataclasses.replace(ctx.limits, max_document_bytes=len(pdf))  # < its CDA
    async with ctx.sessions() as session:
        documents = (
            await session.execute(whole_database(select(func.count(m.Document.id))))
        ).scalar_one()
    blobs = sorted(blob_root.rglob("*"))
    try:
        await deposit_from_portal(ctx, actor=PRO["gp"], ins=CAMILLE, deposit=letter(content=pdf))
    except LimitExceeded as refused:
        assert (refused.http_status, refused.code) == (413, "document-too-large")
    else:
        raise AssertionError("the deposit beyond the bound was accepted")
    async with ctx.sessions() as session:
        assert (
            await session.execute(whole_database(select(func.count(m.Document.id))))
        ).scalar_one() == documents
        denied = await session.execute(
            whole_database(
                select(func.count(m.AuditEvent.id)).where(
                    m.AuditEvent.action == "document:document:deposit",
                    m.AuditEvent.outcome == "denied",
                    m.AuditEvent.reason == "document-too-large",
                )
            )
        )
        assert denied.scalar_one() == 1
    assert sorted(blob_root.rglob("*")) == blobs
