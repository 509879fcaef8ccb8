"""Bulk synthetic data for benchmarks: records with encrypted CDA level-1 documents.

Built for speed (``opendmp bench seed``), not through the per-request use cases: rows go in
with batched Core inserts, each record gets a real wrapped data key and a valid audit chain
(its creation event), each document its own AES-256-GCM blob bound to its id, exactly as a
deposit would store it. Two shortcuts, both stated here: blob files are written without a
per-file fsync (one ``os.sync()`` at the end instead — a crash mid-seed just means seeding
again), and all documents of one size share one synthetic CDA body (a test patient in the
header), so the content is hashed once per size.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from opendmp.audit.chain import GENESIS_HASH, canonical_details, event_hash
from opendmp.audit.vocabulary import AuditAction
from opendmp.blobs import encrypt_blob, new_data_key
from opendmp.cda.level1 import AuthorHeader, OrgHeader, PatientHeader, wrap_level1
from opendmp.domain.codes import class_for_type
from opendmp.domain.identifiers import INS_NIR_TEST_OID, with_ins_key
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.keys import Sealer, data_key_sealer
from opendmp.storage import models as m

BENCH_TYPES = ("11490-0", "34112-3", "11502-2", "18748-4", "11488-4", "60593-1", "87273-9")
SIZES = {"10k": 10 * 1024, "100k": 100 * 1024}
BENCH_ORG = "1750000010"
BENCH_AUTHOR = "899700000013"
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SeedResult:
    records: int
    documents: int
    first_index: int
    bytes_written: int


def new_document_row(
    document_id: uuid.UUID, record_id: uuid.UUID, type_code: str
) -> dict[str, Any]:
    """The columns of a seeded document row that do not depend on its content: a current,
    visible, LOINC-typed document with new identifiers."""
    return {
        "id": document_id,
        "entry_uuid": f"urn:uuid:{uuid.uuid4()}",
        "record_id": record_id,
        "unique_id": f"2.25.{uuid.uuid4().int}",
        "status": "current",
        "archived": False,
        "masked_by_patient": False,
        "invisible_to_patient": False,
        "invisible_to_representatives": False,
        "class_code": class_for_type(type_code),
        "type_code": type_code,
        "type_system": "http://loinc.org",
        "format_code": "urn:ihe:iti:xds-sd:pdf:2008",
    }


def bench_nir13(index: int) -> str:
    """A distinct, well-formed 13-character NIR for each index below 600 million."""
    sex = 1 + index % 2
    year = 50 + (index // (12 * 10**6)) % 50
    month = 1 + (index // 10**6) % 12
    return f"{sex}{year:02d}{month:02d}75{(index // 1000) % 1000:03d}{index % 1000:03d}"


def bench_ins(index: int) -> str:
    return with_ins_key(bench_nir13(index))


def _small_pdf() -> bytes:
    """A one-line PDF with a core font (~1 KB): the Unicode letters of cda.pdf embed fonts
    (~14 KB), too much for the 10 KB documents of the benchmark."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Synthetic discharge letter - OpenDMP benchmark")
    return bytes(pdf.output())


def synthetic_cda(size: int, now: dt.datetime) -> bytes:
    """A CDA level-1 document of about ``size`` bytes wrapping a synthetic PDF (padded with a
    trailing PDF comment, which readers ignore)."""
    org = OrgHeader(BENCH_ORG, "Centre Hospitalier de Démonstration")

    def wrap(content: bytes) -> bytes:
        return wrap_level1(
            content=content,
            media_type="application/pdf",
            document_id=("2.25.1", None),
            set_id=("2.25.2", None),
            version=1,
            type_code="11490-0",
            type_display="Lettre de liaison à la sortie d'un établissement de soins",
            title="Lettre de liaison (banc d'essai)",
            effective_time=now,
            patient=PatientHeader(
                bench_ins(0), INS_NIR_TEST_OID, "BANC", "Essai", dt.date(1980, 1, 1), "F"
            ),
            author=AuthorHeader(BENCH_AUTHOR, "DEMO-GENERALISTE", "Paul", "G15_10", "SM54", org),
            custodian=org,
            service_start=now,
            service_stop=now,
            practice_setting="ETABLISSEMENT",
            facility_type="SA01",
        )

    pdf = _small_pdf()
    overhead = len(wrap(pdf)) - (len(pdf) + 2) // 3 * 4
    target = max(len(pdf), (size - overhead) * 3 // 4)
    padding = os.urandom(max(0, target - len(pdf) - 2) // 2 + 1).hex().encode()
    return wrap(pdf + b"\n%" + padding[: max(0, target - len(pdf) - 2)])


async def seed_bulk(
    ctx: ServiceContext,
    *,
    records: int,
    docs_per_record: int,
    size: str = "10k",
    batch_records: int = 500,
    progress: Progress | None = None,
) -> SeedResult:
    """Add ``records`` records of ``docs_per_record`` documents each (``size``: 10k, 100k or
    mixed), after the records already there; returns what was written."""
    now = ctx.now()
    contents = {name: synthetic_cda(SIZES[name], now) for name in SIZES}
    digests = {
        name: (hashlib.sha256(c).hexdigest(), hashlib.sha1(c, usedforsecurity=False).hexdigest())
        for name, c in contents.items()
    }
    async with ctx.uow() as uow:
        start = int(
            (await uow.session.execute(select(func.count()).select_from(m.Record))).scalar_one()
        )
    org_id = await _bench_care_team(ctx, now)
    blob_root = Path(getattr(ctx.blobs.store, "root", ""))
    if not blob_root.is_dir():
        raise RuntimeError("bulk seeding needs the filesystem blob store")
    written = 0
    done = 0
    for batch_start in range(start, start + records, batch_records):
        batch_end = min(batch_start + batch_records, start + records)
        async with ctx.uow() as uow:
            rows = _batch_rows(
                await data_key_sealer(ctx, uow.session),
                range(batch_start, batch_end),
                docs_per_record,
                size,
                now,
                contents,
                digests,
                blob_root,
                org_id,
            )
            written += rows.pop("_bytes")
            for table in (
                m.Patient,
                m.Record,
                m.AuditChain,
                m.AuditEvent,
                m.SubmissionSet,
                m.Document,
                m.Authorization,
            ):
                values = rows[table.__tablename__]
                for chunk in range(0, len(values), 2000):
                    await uow.session.execute(insert(table), values[chunk : chunk + 2000])
            await uow.commit()
        done += batch_end - batch_start
        if progress is not None:
            progress(batch_end - batch_start)
    os.sync()
    return SeedResult(done, done * docs_per_record, start, written)


async def _bench_care_team(ctx: ServiceContext, now: dt.datetime) -> uuid.UUID:
    """The bench establishment and its doctor (a care-team member), created once."""
    from opendmp.domain.actors import Professional
    from opendmp.services.directory.professionals import ensure_organization, ensure_professional

    async with ctx.uow() as uow:
        org = await ensure_organization(
            uow.session, BENCH_ORG, name="Centre Hospitalier de Démonstration", now=now
        )
        pro = await ensure_professional(
            uow.session,
            Professional(
                idnat=BENCH_AUTHOR,
                profession="10",
                specialty="SM54",
                organization=BENCH_ORG,
                name="DEMO-GENERALISTE Paul",
            ),
            now=now,
        )
        member = await uow.session.get(m.Membership, (pro.id, org.id))
        if member is None:
            uow.session.add(
                m.Membership(professional_id=pro.id, organization_id=org.id, care_team=True)
            )
        await uow.commit()
        return org.id


def _batch_rows(
    seal: Sealer,
    indexes: range,
    docs_per_record: int,
    size: str,
    now: dt.datetime,
    contents: dict[str, bytes],
    digests: dict[str, tuple[str, str]],
    blob_root: Path,
    org_id: uuid.UUID,
) -> dict[str, Any]:
    rows: dict[str, Any] = {
        name: []
        for name in (
            "patient",
            "record",
            "audit_chain",
            "audit_event",
            "submission_set",
            "document",
            "authorization",
        )
    }
    written = 0
    for index in indexes:
        patient_id, record_id = uuid.uuid4(), uuid.uuid4()
        data_key = new_data_key()
        rows["patient"].append(
            {
                "id": patient_id,
                "ins_value": bench_ins(index),
                "ins_oid": INS_NIR_TEST_OID,
                "birth_name": f"BANC{index}",
                "given_names": "Essai",
                "first_given_name": "Essai",
                "birth_date": dt.date(1980, 1, 1),
                "sex": "F" if index % 2 else "M",
                "email": f"banc{index}@example.org",
            }
        )
        rows["record"].append(
            {
                "id": record_id,
                "patient_id": patient_id,
                "status": "active",
                "created_at": now,
                "created_by": "system:bench",
                "allow_regulation": True,
                "allow_break_glass": True,
                "allow_masked_in_emergency": True,
                "notify_on_access": False,
                "notify_on_new_document": False,
                "mask_new_documents": False,
                "preferred_language": "fr",
                **seal(data_key),
            }
        )
        event: dict[str, Any] = {
            "chain": str(record_id),
            "seq": 1,
            "record_id": record_id,
            "time": now,
            "action": AuditAction.RECORD_CREATE,
            "outcome": "success",
            "reason": None,
            "actor_kind": "system",
            "actor_id": "bench",
            "actor_name": None,
            "actor_profession": None,
            "actor_organization": None,
            "access_mode": "normal",
            "target_document_id": None,
            "client_address": None,
            "details": canonical_details({"channel": "operator"}),
            "prev_hash": GENESIS_HASH,
        }
        digest = event_hash(event)
        rows["audit_event"].append({**event, "hash": digest})
        rows["audit_chain"].append({"chain": str(record_id), "seq": 1, "hash": digest})
        # The bench establishment's care team follows every bench record.
        rows["authorization"].append(
            {
                "id": uuid.uuid4(),
                "record_id": record_id,
                "professional_id": None,
                "organization_id": org_id,
                "state": "authorized",
                "granted_by_kind": "system",
                "granted_by_id": "bench",
                "granted_at": now,
                "expires_at": None,
                "updated_at": now,
            }
        )
        submission_id = uuid.uuid4()
        rows["submission_set"].append(
            {
                "id": submission_id,
                "record_id": record_id,
                "unique_id": f"2.25.{uuid.uuid4().int}",
                "source_id": "1.2.250.1.213.1.1.9",
                "author_idnat": BENCH_AUTHOR,
                "author_organization": BENCH_ORG,
                "submitted_at": now,
                "entry_uuid": f"urn:uuid:{uuid.uuid4()}",
            }
        )
        folder = blob_root / str(record_id)
        folder.mkdir(mode=0o700)
        for n in range(docs_per_record):
            kind = size if size != "mixed" else ("100k" if n % 10 == 0 else "10k")
            content = contents[kind]
            sha256, sha1 = digests[kind]
            document_id = uuid.uuid4()
            blob_name = uuid.uuid4().hex
            blob = encrypt_blob(data_key, content, associated_data=str(document_id).encode())
            path = folder / blob_name
            with open(path, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
                fh.write(blob)
            written += len(blob)
            type_code = BENCH_TYPES[n % len(BENCH_TYPES)]
            when = now - dt.timedelta(days=(n * 7) % 1500, minutes=n)
            rows["document"].append(
                {
                    **new_document_row(document_id, record_id, type_code),
                    "mime_type": "text/xml",
                    "title": "Lettre de liaison (banc d'essai)",
                    "language": "fr-FR",
                    "author_idnat": BENCH_AUTHOR,
                    "author_name": "DEMO-GENERALISTE Paul",
                    "author_role": "10",
                    "author_organization_idnat": BENCH_ORG,
                    "practice_setting": "ETABLISSEMENT",
                    "facility_type": "SA01",
                    "service_start": when,
                    "service_stop": when,
                    "creation_time": when,
                    "size": len(content),
                    "sha256": sha256,
                    "sha1": sha1,
                    "blob_key": f"{record_id}/{blob_name}",
                    "submission_set_id": submission_id,
                    "deposited_at": when,
                    "deposited_by_kind": "professional",
                    "deposited_by_id": BENCH_AUTHOR,
                    "updated_at": when,
                    "version": 1,
                }
            )
    rows["_bytes"] = written
    return rows
