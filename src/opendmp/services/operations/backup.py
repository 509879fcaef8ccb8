"""``opendmp backup create``: a copy that restores (docs/operations.md, "Backups").

In this order, so that the copy is consistent:

1. the key-encryption-key files are copied (before the snapshot);
2. the database is copied at one snapshot (``backup_db``), and what that snapshot
   references is read in it: blob keys, key epochs, master key ids;
3. the key-encryption-key files are copied again: an epoch opened meanwhile is caught.
   Every epoch the snapshot needs must be among the copies, else the backup is refused
   (two rotations during one backup: run it again);
4. every blob of the store is copied as stored (ciphertext, never decrypted), hashed into
   the manifest. Blobs are never overwritten (a fresh key per write), so a blob the
   snapshot references is the one it referenced; one written after the snapshot is a
   harmless extra. One the snapshot references but the store no longer has (its record
   destroyed meanwhile) makes the backup fail: run it again;
5. ``manifest.json`` is written last.

The store is read only through the ``BlobStore`` protocol (``iter_keys``, ``get``), so the
same code backs up the file system and an object store. The master key is never copied.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opendmp.blobs import BlobStore, Keyring
from opendmp.domain.errors import KeyFailure, NotFound
from opendmp.storage.private_files import write_private_file

from .backup_db import BackupError, DumpedDatabase, check_dump_tool, dump_database
from .backup_manifest import (
    KEYRING_DIRNAME,
    BlobEntry,
    DatabaseEntry,
    KekEntry,
    Manifest,
    blob_path,
    file_sha256,
    write_manifest,
)

__all__ = ["BackupSource", "BackupSummary", "Progress", "create_backup"]

# Called with (blobs done, blobs to copy) as the copy goes.
Progress = Callable[[int, int], None]
# Blobs fetched at once: an object store answers each GET after a round trip.
_PARALLEL = 8


@dataclass(frozen=True, slots=True)
class BackupSource:
    """What is backed up: the database, the blob store and the keyring of one installation.
    ``pg_bin``: the folder of ``pg_dump``/``pg_restore`` (found by ``backup_db`` if None)."""

    database_url: str
    store: BlobStore
    keyring: Keyring
    pg_bin: Path | None = None


@dataclass(frozen=True, slots=True)
class BackupSummary:
    folder: Path
    backend: str
    blobs: int
    blob_bytes: int
    epochs: tuple[int, ...]
    master_key_ids: tuple[str, ...]
    records: int
    documents: int
    audit_events: int


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` 0700, or take an empty one (made 0700); refuse anything else."""
    if folder.exists():
        if not folder.is_dir():
            raise BackupError(f"{folder} is not a folder", code="backup-dir-not-empty")
        if any(folder.iterdir()):
            raise BackupError(
                f"{folder} is not empty: give a new or empty folder", code="backup-dir-not-empty"
            )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


# --- key-encryption keys --------------------------------------------------------------------


def copy_keyring(keyring: Keyring, folder: Path, copied: dict[int, KekEntry]) -> None:
    """Copy every KEK file not copied yet (each is wrapped by the master key, never in clear)."""
    for epoch in keyring.epochs():
        if epoch in copied:
            continue
        try:
            data = keyring.path(epoch).read_bytes()
            master_key_id = keyring.master_key_id(epoch)
        except (FileNotFoundError, KeyFailure):
            continue  # erased by a rotation between the listing and the read
        relative = f"{KEYRING_DIRNAME}/{keyring.path(epoch).name}"
        write_private_file(folder / relative, data)
        copied[epoch] = KekEntry(epoch, relative, hashlib.sha256(data).hexdigest(), master_key_id)


# --- blobs ----------------------------------------------------------------------------------


async def _copy_blob(store: BlobStore, folder: Path, key: str) -> BlobEntry | None:
    try:
        data = await store.get(key)
    except NotFound:
        return None  # deleted since it was listed (a reaped orphan, a destroyed record)
    await asyncio.to_thread(write_private_file, blob_path(folder, key), data)
    return BlobEntry(key, hashlib.sha256(data).hexdigest(), len(data))


async def copy_blobs(
    store: BlobStore, folder: Path, *, required: frozenset[str], progress: Progress
) -> list[BlobEntry]:
    """Copy every blob of ``store``; refuse if one in ``required`` is missing."""
    keys = [key async for key, _ in store.iter_keys()]
    keys += sorted(required.difference(keys))  # listed late: try them anyway
    copied: list[BlobEntry] = []
    progress(0, len(keys))
    for start in range(0, len(keys), _PARALLEL):
        batch = keys[start : start + _PARALLEL]
        for entry in await asyncio.gather(*(_copy_blob(store, folder, k) for k in batch)):
            if entry is not None:
                copied.append(entry)
        progress(min(start + _PARALLEL, len(keys)), len(keys))
    missing = required.difference(e.key for e in copied)
    if missing:
        raise BackupError(
            f"{len(missing)} blob(s) the database copy references left the store during "
            "the backup (a record destroyed meanwhile?): run the backup again",
            code="backup-blob-vanished",
        )
    return copied


# --- the whole backup -----------------------------------------------------------------------


def _master_key_ids(dumped: DumpedDatabase, keks: dict[int, KekEntry]) -> list[str]:
    needed = {keks[e].master_key_id for e in dumped.facts.epochs}
    return sorted(needed | dumped.facts.master_key_ids)


def _require_epochs(dumped: DumpedDatabase, keks: dict[int, KekEntry]) -> None:
    missing = sorted(dumped.facts.epochs.difference(keks))
    if missing:
        raise BackupError(
            f"the key-encryption key of epoch {missing[0]} changed during the backup "
            "(keys rotated twice meanwhile?): run the backup again",
            code="backup-keys-rotated",
        )


async def create_backup(
    source: BackupSource,
    folder: Path,
    *,
    progress: Progress = lambda done, total: None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> BackupSummary:
    """Back up ``source`` into ``folder`` (new or empty)."""
    await check_dump_tool(source.database_url, source.pg_bin)
    prepare_folder(folder)
    started = clock()
    keks: dict[int, KekEntry] = {}
    copy_keyring(source.keyring, folder, keks)
    dumped = await dump_database(source.database_url, folder, bin_dir=source.pg_bin)
    copy_keyring(source.keyring, folder, keks)
    _require_epochs(dumped, keks)
    facts = dumped.facts
    blobs = await copy_blobs(source.store, folder, required=facts.blob_keys, progress=progress)
    digest, size = await asyncio.to_thread(file_sha256, folder / dumped.file)
    manifest = Manifest(
        created_at=started.isoformat(),
        database=DatabaseEntry(
            dumped.backend, dumped.file, digest, size, facts.revision, dumped.tool_version
        ),
        master_key_ids=_master_key_ids(dumped, keks),
        keyring=[keks[e] for e in sorted(keks)],
        blobs=sorted(blobs, key=lambda b: b.key),
        counts={
            "records": facts.records,
            "documents": facts.documents,
            "audit_events": facts.audit_events,
        },
    )
    write_manifest(folder, manifest)
    return BackupSummary(
        folder=folder,
        backend=dumped.backend,
        blobs=len(blobs),
        blob_bytes=sum(b.size for b in blobs),
        epochs=tuple(sorted(keks)),
        master_key_ids=tuple(manifest.master_key_ids),
        records=facts.records,
        documents=facts.documents,
        audit_events=facts.audit_events,
    )
