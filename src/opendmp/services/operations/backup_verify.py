"""``opendmp backup verify``: prove that a backup restores (docs/operations.md).

The database copy is restored into a scratch database (PostgreSQL: a temporary database,
dropped at the end; SQLite: a temporary file), its schema revision checked against the
migrations (an older one is upgraded there, as ``opendmp db upgrade`` would), every blob
hashed against the manifest, every document row matched to its blob and — with the master
key — decrypted and compared with its stored SHA-256 and size, every audit chain walked.
Nothing of the backup folder is modified. Every problem is one line of ``failures``.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from opendmp.audit.sequencer import sequence_all
from opendmp.audit.verify import verify_all
from opendmp.blobs import Keyring, MasterKey, decrypt_blob
from opendmp.domain.errors import OpenDMPError
from opendmp.storage import models as m
from opendmp.storage.db import make_sessionmaker
from opendmp.storage.migrate import alembic_config, current_revision, head_revision, upgrade
from opendmp.storage.scope import global_query

from .backup_db import scratch_database
from .backup_manifest import Manifest, blob_path, file_sha256, read_manifest

__all__ = [
    "VerifyOptions",
    "VerifyReport",
    "check_blobs",
    "check_file",
    "check_master_keys",
    "known_revision",
    "tool_major",
    "verify_backup",
]


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """``masters``: the master keys to decrypt with (None: hashes only); ``server_url``:
    where a PostgreSQL backup's scratch database is created; ``pg_bin``: see backup_db."""

    masters: tuple[MasterKey, ...] | None
    server_url: str
    pg_bin: Path | None = None


@dataclass
class VerifyReport:
    backend: str = ""
    revision: str | None = None
    upgraded_from: str | None = None
    blobs: int = 0
    blob_bytes: int = 0
    documents: int = 0
    decrypted: int = 0
    records: int = 0
    chains: int = 0
    events: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


# --- files of the backup folder -------------------------------------------------------------


def check_file(folder: Path, relative: str, sha256: str, what: str) -> str | None:
    try:
        digest, _ = file_sha256(folder / relative)
    except FileNotFoundError:
        return f"{what} {relative} is missing"
    return None if digest == sha256 else f"{what} {relative} was altered (SHA-256 differs)"


def check_blobs(folder: Path, manifest: Manifest, report: VerifyReport) -> set[str]:
    """Hash every blob file against the manifest; the keys that match."""
    good: set[str] = set()
    for entry in manifest.blobs:
        path = blob_path(folder, entry.key)
        try:
            digest, size = file_sha256(path)
        except FileNotFoundError:
            report.failures.append(f"blob {entry.key} is missing from the backup")
            continue
        if digest != entry.sha256 or size != entry.size:
            report.failures.append(f"blob {entry.key} is corrupted (SHA-256 differs)")
            continue
        good.add(entry.key)
        report.blobs += 1
        report.blob_bytes += size
    return good


def check_master_keys(manifest: Manifest, masters: Iterable[MasterKey]) -> str | None:
    have = {k.key_id for k in masters}
    missing = [k for k in manifest.master_key_ids if k not in have]
    if not missing:
        return None
    return (
        f"master key mismatch: this backup needs master key {', '.join(missing)}, the "
        f"environment holds {', '.join(sorted(have))}: documents not decrypted"
    )


# --- the restored database -----------------------------------------------------------------


def known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def _check_schema(engine: AsyncEngine, report: VerifyReport) -> bool:
    """The migrations' version check: head, or older and upgraded here; else a failure."""
    current = await current_revision(engine)
    report.revision = current
    if current == head_revision():
        return True
    if current is None or not known_revision(current):
        report.failures.append(
            f"the backup's schema is at {current or 'nothing'}, unknown to this OpenDMP "
            f"(which needs {head_revision()}): verify it with the version that wrote it"
        )
        return False
    await upgrade(engine)
    report.upgraded_from, report.revision = current, head_revision()
    return True


@dataclass
class _Keys:
    keyring: Keyring
    masters: tuple[MasterKey, ...]
    opened: dict[uuid.UUID, bytes | None] = field(default_factory=dict)

    def data_key(self, row: m.Record, report: VerifyReport) -> bytes | None:
        if row.id not in self.opened:
            self.opened[row.id] = self._open(row, report)
        return self.opened[row.id]

    def _open(self, row: m.Record, report: VerifyReport) -> bytes | None:
        if row.wrapped_data_key is None:
            report.failures.append(f"record {row.id}: its data key is missing")
            return None
        try:
            return self.keyring.unwrap(
                row.wrapped_data_key,
                epoch=row.kek_epoch,
                master_key_id=row.master_key_id,
                masters=self.masters,
            )
        except OpenDMPError as exc:
            report.failures.append(f"record {row.id}: {exc.message} ({exc.code})")
            return None


def _check_content(doc: m.Document, data_key: bytes, blob: bytes) -> str | None:
    try:
        content = decrypt_blob(data_key, blob, associated_data=str(doc.id).encode("utf-8"))
    except OpenDMPError as exc:
        return f"document {doc.id}: {exc.message} ({exc.code})"
    if hashlib.sha256(content).hexdigest() != doc.sha256 or len(content) != doc.size:
        return f"document {doc.id}: its content does not match its stored SHA-256"
    return None


async def _check_documents(
    session: AsyncSession,
    folder: Path,
    good_blobs: set[str],
    keys: _Keys | None,
    report: VerifyReport,
) -> None:
    stream = await session.stream(
        global_query(
            select(m.Document, m.Record)
            .join(m.Record, m.Record.id == m.Document.record_id)
            .order_by(m.Document.record_id, m.Document.id),
            "backup",
        ).execution_options(yield_per=500)
    )
    async for doc, record in stream:
        report.documents += 1
        if doc.blob_key not in good_blobs:
            report.failures.append(f"document {doc.id}: its blob is not in the backup")
            continue
        if keys is None:
            continue
        data_key = keys.data_key(record, report)
        if data_key is None:
            continue
        blob = await asyncio.to_thread(blob_path(folder, doc.blob_key).read_bytes)
        problem = _check_content(doc, data_key, blob)
        if problem:
            report.failures.append(problem)
        else:
            report.decrypted += 1
    report.records = len(keys.opened) if keys is not None else 0


async def _check_database(
    url: URL, folder: Path, good_blobs: set[str], keys: _Keys | None, report: VerifyReport
) -> None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    try:
        if not await _check_schema(engine, report):
            return
        sessions = make_sessionmaker(engine)
        # Events the copy holds unchained are chained in the scratch copy, as the worker would
        # have done (docs/security.md, "The audit trail"); then every chain is walked whole.
        await sequence_all(sessions)
        async with sessions() as session:
            await _check_documents(session, folder, good_blobs, keys, report)
            for chain in await verify_all(session):
                report.chains += 1
                report.events += chain.events
                if not chain.ok:
                    report.failures.append(f"audit chain {chain.chain} is broken: {chain.problem}")
    finally:
        await engine.dispose()


async def verify_backup(folder: Path, options: VerifyOptions) -> VerifyReport:
    """Check the backup in ``folder``; the report lists every failure (none: it restores)."""
    manifest = read_manifest(folder)
    report = VerifyReport(backend=manifest.database.backend)
    db = manifest.database
    problem = await asyncio.to_thread(check_file, folder, db.file, db.sha256, "database copy")
    if problem:
        report.failures.append(problem)
        return report
    for kek in manifest.keyring:
        if problem := check_file(folder, kek.file, kek.sha256, "key file"):
            report.failures.append(problem)
    keys = None
    if options.masters is not None:
        if problem := check_master_keys(manifest, options.masters):
            report.failures.append(problem)
        else:
            keys = _Keys(Keyring(folder), options.masters)
    good = await asyncio.to_thread(check_blobs, folder, manifest, report)
    dump_major = tool_major(db.tool_version)
    async with scratch_database(
        db.backend,
        folder / db.file,
        server_url=options.server_url,
        bin_dir=options.pg_bin,
        dump_major=dump_major,
    ) as url:
        await _check_database(url, folder, good, keys, report)
    return report


def tool_major(version: str | None) -> int | None:
    if not version:
        return None
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None
