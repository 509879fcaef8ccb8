"""A synthetic ten-year history for one record: ~300 documents of a patient followed by a GP,
a pharmacy, a laboratory, an imaging centre and two hospitals — what the professional view
(docs/portals.md, "The professional view") is built to unclutter. For tests and the demo.

Built fast, not through the deposit use case: the rows go in with one Core insert, each
document with its own AES-256-GCM blob bound to its id under the record's data key, as a
deposit stores it (a small PDF per type, made distinct per document by a trailing PDF
comment, which readers ignore). No audit event is written per document: this is seeding,
not a professional's deposit. The history includes what clutters a real record: yearly
medical syntheses (VSM) each replacing the previous one, lab reports deposited twice, and
a psychiatric synthesis most professions may not read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from opendmp.cda.pdf import make_pdf
from opendmp.devtools.bulk_seed import new_document_row
from opendmp.domain.codes import DOCUMENT_TYPES
from opendmp.domain.identifiers import Ins
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.records import get_record
from opendmp.services.documents.views import data_key_of
from opendmp.storage import models as m

# Fictitious structures (1 + FINESS-like, 3 + internal id) and their authors (8 + RPPS-like).
GP_PRACTICE = ("3990000000101", "89970000101", "DEMO-GENERALISTE Paul")
PHARMACY = ("3990000000102", "89970000102", "DEMO-PHARMACIEN Luc")
LABORATORY = ("3990000000103", "89970000103", "FICTIF-BIOLOGISTE Ana")
IMAGING = ("3990000000104", "89970000104", "FICTIF-RADIOLOGUE Tom")
HOSPITALS = (
    ("1990000000105", "89970000105", "FICTIF-INTERNISTE Eva"),
    ("1990000000106", "89970000106", "FICTIF-CHIRURGIEN Max"),
)
PSYCHIATRIST = ("3990000000107", "89970000107", "FICTIF-PSYCHIATRE Ida")
VSM = "60591-5"


@dataclass(frozen=True, slots=True)
class HistoryResult:
    documents: int
    superseded: int
    duplicates: int
    by_type: dict[str, int]
    first_act: dt.datetime
    last_act: dt.datetime


@dataclass(slots=True)
class _Builder:
    record_id: uuid.UUID
    data_key: bytes
    contents: dict[str, bytes]
    rows: list[dict[str, Any]]
    blobs: list[tuple[uuid.UUID, bytes]]

    def content(self, type_code: str) -> bytes:
        """One small PDF per type (made once: a PDF with its font costs milliseconds)."""
        if type_code not in self.contents:
            self.contents[type_code] = make_pdf(
                DOCUMENT_TYPES[type_code].fr, ["Document de démonstration — données fictives."]
            )
        return self.contents[type_code]

    def add(
        self,
        type_code: str,
        who: tuple[str, str, str],
        start: dt.datetime,
        *,
        days: int = 0,
        twin_of: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A document; ``twin_of``: the same file deposited again two hours later."""
        organization, author, name = who
        document_id = uuid.uuid4()
        twin = twin_of["id"] if twin_of else document_id
        body = self.content(type_code) + f"\n% {twin}".encode()
        stop = start + dt.timedelta(days=days)
        deposited = stop + dt.timedelta(hours=6)
        if twin_of is not None:
            deposited = twin_of["deposited_at"] + dt.timedelta(hours=2)
        row: dict[str, Any] = {
            **new_document_row(document_id, self.record_id, type_code),
            "mime_type": "application/pdf",
            "title": f"{DOCUMENT_TYPES[type_code].fr} — {start:%d/%m/%Y}",
            "language": "fr-FR",
            "author_idnat": author,
            "author_name": name,
            "author_role": "10",
            "author_organization_idnat": organization,
            "practice_setting": "AMBULATOIRE" if organization.startswith("3") else "ETABLISSEMENT",
            "facility_type": "SA01" if organization.startswith("1") else "SA07",
            "service_start": start,
            "service_stop": stop,
            "creation_time": stop,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "sha1": hashlib.sha1(body, usedforsecurity=False).hexdigest(),
            "blob_key": "",
            "replaces_id": None,
            "deposited_at": deposited,
            "deposited_by_kind": "professional",
            "deposited_by_id": author,
            "updated_at": deposited,
            "version": 1,
        }
        self.rows.append(row)
        self.blobs.append((document_id, body))
        return row


def _year(
    b: _Builder, rng: random.Random, start: dt.datetime, previous_vsm: dict[str, Any] | None
) -> dict[str, Any]:
    """One year of care: GP visits with prescriptions and dispensations, lab tests, imaging,
    sometimes a hospital stay; the yearly VSM replaces the previous one."""
    for visit in range(rng.randint(6, 8)):
        day = start + dt.timedelta(days=15 + visit * 45 + rng.randint(0, 20), hours=9)
        b.add("11488-4", GP_PRACTICE, day)
        b.add("57833-6", GP_PRACTICE, day + dt.timedelta(minutes=20))
        b.add("60593-1", PHARMACY, day + dt.timedelta(hours=3))
        if visit % 2 == 0:
            lab = b.add("11502-2", LABORATORY, day + dt.timedelta(days=1))
            if rng.random() < 0.3:  # sent twice by the laboratory's software
                b.add("11502-2", LABORATORY, day + dt.timedelta(days=1), twin_of=lab)
    if rng.random() < 0.5:
        b.add("18748-4", IMAGING, start + dt.timedelta(days=rng.randint(20, 300), hours=14))
    if rng.random() < 0.6:
        who = rng.choice(HOSPITALS)
        admitted = start + dt.timedelta(days=rng.randint(30, 330), hours=11)
        length = rng.randint(2, 6)
        b.add("15507-7", who, admitted)
        b.add("11502-2", who, admitted + dt.timedelta(days=1))
        if rng.random() < 0.5:
            b.add("34874-8", who, admitted + dt.timedelta(days=1))
        b.add("34112-3", who, admitted, days=length)
        b.add("11490-0", who, admitted, days=length)
        b.add("57833-6", who, admitted + dt.timedelta(days=length))
    vsm = b.add(VSM, GP_PRACTICE, start + dt.timedelta(days=350, hours=10))
    if previous_vsm is not None:
        previous_vsm["status"] = "superseded"
        vsm["replaces_id"] = previous_vsm["id"]
    return vsm


async def seed_history(
    ctx: ServiceContext, ins: Ins, *, years: int = 10, seed: int = 16
) -> HistoryResult:
    """Add ``years`` years of synthetic documents (about 30 a year) to ``ins``'s record,
    ending a week before now; deterministic for a given ``seed`` (but for the ids)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    now = ctx.now()
    async with ctx.uow() as uow:
        _, record = await get_record(uow.session, ins)
        b = _Builder(record.id, data_key_of(ctx, record), {}, [], [])
        first = now - dt.timedelta(days=365 * years + 7)
        vsm = None
        for year in range(years):
            vsm = _year(b, rng, first + dt.timedelta(days=365 * year), vsm)
        b.add("68599-0", PSYCHIATRIST, first + dt.timedelta(days=365 * (years - 2) + 100))
        for row, (document_id, body) in zip(b.rows, b.blobs, strict=True):
            row["blob_key"] = await ctx.blobs.put_document(
                data_key=b.data_key,
                record_id=str(record.id),
                document_id=str(document_id),
                content=body,
            )
        # In deposit order: a replacement's foreign key names its predecessor, inserted before.
        await uow.session.execute(insert(m.Document), b.rows)
        await uow.commit()
    acts = [r["service_start"] for r in b.rows]
    return HistoryResult(
        documents=len(b.rows),
        superseded=sum(r["status"] == "superseded" for r in b.rows),
        duplicates=len(b.rows) - len({(r["type_code"], r["sha256"]) for r in b.rows}),
        by_type=dict(Counter(r["type_code"] for r in b.rows)),
        first_act=min(acts),
        last_act=max(acts),
    )
