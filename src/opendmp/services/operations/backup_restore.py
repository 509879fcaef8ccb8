"""``opendmp backup restore``: put a backup back into the configured installation
(docs/operations.md, "Restore").

Refused before anything is written when the master key is not the one the backup needs,
when a file of the backup does not match its manifest, or when the configured database
holds data (records, audit events, tombstones) and ``force`` is not given. Then, in the
order that keeps every intermediate state harmless: the key-encryption-key files, the
blobs (extras are reaped later if the restore stops there), the database last, in one
transaction (PostgreSQL) or one backup-API step (SQLite). The server must be stopped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from opendmp.blobs import BlobStore, Keyring, MasterKey
from opendmp.blobs.keys import atomic_write, ensure_key_dir
from opendmp.storage.db import make_engine
from opendmp.storage.migrate import current_revision, head_revision, upgrade

from .backup import Progress
from .backup_db import (
    BackupError,
    backend_of,
    database_is_empty,
    restore_postgresql,
    restore_sqlite,
    sqlite_path,
)
from .backup_manifest import Manifest, blob_path, read_manifest
from .backup_verify import (
    VerifyReport,
    check_blobs,
    check_file,
    check_master_keys,
    known_revision,
    tool_major,
)

__all__ = ["RestoreSummary", "RestoreTarget", "restore_backup"]


@dataclass(frozen=True, slots=True)
class RestoreTarget:
    database_url: str
    store: BlobStore
    keyring: Keyring
    masters: tuple[MasterKey, ...]
    pg_bin: Path | None = None


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    blobs: int
    epochs: tuple[int, ...]
    documents: int
    upgraded_from: str | None


def _check_backup(folder: Path, manifest: Manifest, target: RestoreTarget) -> None:
    """Refuse a backup that does not match its manifest or needs another master key."""
    if problem := check_master_keys(manifest, target.masters):
        raise BackupError(problem, code="master-key-mismatch")
    if backend_of(target.database_url) != manifest.database.backend:
        raise BackupError(
            f"this is a {manifest.database.backend} backup: restore it into a "
            f"{manifest.database.backend} database (to change databases, see docs/operations.md)",
            code="backup-backend-mismatch",
        )
    db = manifest.database
    if db.revision is not None and not known_revision(db.revision):
        raise BackupError(
            f"the backup's schema is at {db.revision}, unknown to this OpenDMP: restore it "
            "with the version that wrote it",
            code="backup-schema-unknown",
        )
    report = VerifyReport()
    files = [(db.file, db.sha256, "database copy")]
    files += [(k.file, k.sha256, "key file") for k in manifest.keyring]
    report.failures += [p for f in files if (p := check_file(folder, *f))]
    check_blobs(folder, manifest, report)
    if report.failures:
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        raise BackupError(
            f"{report.failures[0]}{more}: nothing was restored", code="backup-damaged"
        )


def _restore_keyring(folder: Path, manifest: Manifest, keyring: Keyring) -> None:
    """Copy the backup's KEK files into the keyring, replacing a file of the same epoch: the
    database they served is empty (or replaced, ``--force``), so nothing needs it any more."""
    ensure_key_dir(keyring.directory.parent)
    ensure_key_dir(keyring.directory)
    for kek in manifest.keyring:
        text = (folder / kek.file).read_text(encoding="ascii").strip()
        atomic_write(keyring.directory, keyring.path(kek.epoch).name, text)


async def _restore_blobs(
    folder: Path, manifest: Manifest, store: BlobStore, progress: Progress
) -> None:
    total = len(manifest.blobs)
    progress(0, total)
    for done, entry in enumerate(manifest.blobs, 1):
        data = await asyncio.to_thread(blob_path(folder, entry.key).read_bytes)
        await store.put(entry.key, data)
        progress(done, total)


async def _restore_database(folder: Path, manifest: Manifest, target: RestoreTarget) -> str | None:
    engine = make_engine(target.database_url, pool_size=1)
    try:
        db = manifest.database
        if db.backend == "postgresql":
            await restore_postgresql(
                folder / db.file,
                target.database_url,
                bin_dir=target.pg_bin,
                dump_major=tool_major(db.tool_version),
                clean=True,
            )
        else:
            await engine.dispose()
            await restore_sqlite(folder / db.file, sqlite_path(target.database_url))
        before = await current_revision(engine)
        if before != head_revision():
            await upgrade(engine)
            return before
        return None
    finally:
        await engine.dispose()


async def restore_backup(
    folder: Path,
    target: RestoreTarget,
    *,
    force: bool = False,
    progress: Progress = lambda done, total: None,
) -> RestoreSummary:
    manifest = read_manifest(folder)
    await asyncio.to_thread(_check_backup, folder, manifest, target)
    engine = make_engine(target.database_url, pool_size=1)
    try:
        if not force and not await database_is_empty(engine):
            raise BackupError(
                "the configured database holds data: restore into an empty one "
                "(or pass --force to replace it)",
                code="database-not-empty",
            )
    finally:
        await engine.dispose()
    _restore_keyring(folder, manifest, target.keyring)
    await _restore_blobs(folder, manifest, target.store, progress)
    upgraded_from = await _restore_database(folder, manifest, target)
    return RestoreSummary(
        blobs=len(manifest.blobs),
        epochs=tuple(k.epoch for k in manifest.keyring),
        documents=manifest.counts.get("documents", 0),
        upgraded_from=upgraded_from,
    )
