"""Copy every blob of one store into another (``opendmp blobs migrate``; docs/blobs.md).

Blobs are copied as they are stored, ciphertext: nothing is decrypted, no key is needed,
and the documents' rows (which name blobs by key) stay valid in the target. Each copy is
read back and compared by SHA-256 with the source; a key the target already holds with the
same SHA-256 is skipped, so an interrupted migration is resumed by running it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from opendmp.domain.errors import IntegrityFailure, NotFound

from .store import BlobStore

__all__ = ["MigrationReport", "count_blobs", "migrate_blobs"]


@dataclass(slots=True)
class MigrationReport:
    copied: int = 0  # absent from the target, copied and verified
    replaced: int = 0  # in the target with other bytes (a copy cut short): copied again
    skipped: int = 0  # already in the target with the same SHA-256
    vanished: int = 0  # listed, then deleted from the source before being read (reaper)
    bytes_copied: int = 0

    @property
    def verified(self) -> int:
        return self.copied + self.replaced + self.skipped


async def count_blobs(store: BlobStore) -> int:
    return sum([1 async for _ in store.iter_keys()])


async def _sha256_in(store: BlobStore, key: str) -> str | None:
    try:
        return hashlib.sha256(await store.get(key)).hexdigest()
    except NotFound:
        return None


async def _copy_one(source: BlobStore, target: BlobStore, key: str, report: MigrationReport) -> int:
    """Copy ``key`` unless the target has the same bytes; return the bytes looked at."""
    try:
        data = await source.get(key)
    except NotFound:
        report.vanished += 1
        return 0
    digest = hashlib.sha256(data).hexdigest()
    before = await _sha256_in(target, key)
    if before == digest:
        report.skipped += 1
        return len(data)
    await target.put(key, data)
    if await _sha256_in(target, key) != digest:
        raise IntegrityFailure(
            f"blob {key} reads back different from the source after the copy: nothing "
            "switched; check the target store, then run the migration again",
            code="blob-migration-mismatch",
        )
    if before is None:
        report.copied += 1
    else:
        report.replaced += 1
    report.bytes_copied += len(data)
    return len(data)


async def migrate_blobs(
    source: BlobStore,
    target: BlobStore,
    *,
    on_blob: Callable[[str, int], None] = lambda _key, _size: None,
) -> MigrationReport:
    """Copy every blob of ``source`` into ``target``, verified; ``on_blob(key, size)`` after
    each one (progress). Raises ``IntegrityFailure`` (``blob-migration-mismatch``) when a
    copy does not read back identical, the store's own errors when one is out of reach."""
    report = MigrationReport()
    async for key, _ in source.iter_keys():
        size = await _copy_one(source, target, key, report)
        on_blob(key, size)
    return report
