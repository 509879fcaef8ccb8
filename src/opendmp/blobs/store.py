"""Where encrypted document content is kept (docs/architecture.md §6, §7).

``BlobStore`` is the small interface every backend implements (file system here; an S3
object store in ``s3.py``), picked by settings (``select.py``). A store only ever sees
ciphertext: ``EncryptedBlobs`` encrypts before ``put`` and decrypts after ``get``.

Keys look like ``"<record_id>/<blob_id>"`` so that one record's blobs share a prefix and
``delete_prefix`` can shred them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol, TypeVar

from opendmp.domain.errors import ConfigurationError, InsufficientStorage, NotFound

from .crypto import decrypt_blob, encrypt_blob
from .fsync import fsync_dir

__all__ = [
    "BlobStore",
    "EncryptedBlobs",
    "FilesystemBlobStore",
    "validate_blob_key",
    "validate_blob_prefix",
]

_T = TypeVar("_T")

# A segment starts with an alphanumeric character: this refuses ".", ".." and hidden
# names, which also keeps keys from ever colliding with our ".tmp-" files.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_TEMP_PREFIX = ".tmp-"
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})

# Below this size a blocking read finishes in less time than handing it to a
# worker thread and back costs (tens of microseconds plus contention on the default
# executor), and most clinical documents (CDA, small PDFs) are under it. Above it we
# pay the thread hop so that one large read does not stall every other request on the
# event loop. Writes always go to a thread (see ``put``).
THREAD_THRESHOLD_BYTES = 256 * 1024


class BlobStore(Protocol):
    """Storage of opaque bytes under string keys ``"<record_id>/<blob_id>"``."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (readers see all of it or nothing)."""
        ...

    async def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; ``NotFound`` (``blob-not-found``) if absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; return how many were removed."""
        ...

    def iter_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Yield ``(key, mtime)`` for every stored blob, mtime in epoch seconds."""
        ...

    async def check(self) -> None:
        """Readiness probe: raise if the store cannot be written."""
        ...

    async def reap_temporaries(self, older_than: float) -> int:
        """Remove what interrupted writes left (never a key) last modified at or before
        ``older_than`` (epoch seconds); return how many were removed."""
        ...

    async def close(self) -> None:
        """Release connections (at shutdown); the store may be used again afterwards."""
        ...


def validate_blob_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``ValueError``."""
    if not _KEY_RE.fullmatch(key):
        # The key is not echoed: it may come from a request.
        raise ValueError("invalid blob key (expected '<segment>/<segment>' of [A-Za-z0-9._-])")
    return key


def validate_blob_prefix(prefix: str) -> str:
    if not prefix.endswith("/"):
        raise ValueError("a blob prefix must be a folder, ending with '/'")
    validate_blob_key(prefix[:-1])
    return prefix


class FilesystemBlobStore:
    """Blobs as files under ``root``: ``root/<record_id>/<blob_id>``, mode 0600.

    Writes are atomic and durable: temp file in the target directory, ``fsync``,
    ``os.replace``, then ``fsync`` of the directory so the new name survives a crash.
    A crash between the temp write and the rename can leave a ``.tmp-*`` file; it is
    never listed as a key.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FilesystemBlobStore(root={str(self.root)!r})"

    async def close(self) -> None:
        """Nothing to release: every call opens and closes its files."""

    def _path(self, key: str) -> Path:
        return self.root / validate_blob_key(key)

    @staticmethod
    async def _run(size: int, func: Callable[[], _T]) -> _T:
        if size > THREAD_THRESHOLD_BYTES:
            return await asyncio.to_thread(func)
        return func()

    # --- writing ----------------------------------------------------------------------

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` and missing parents (0700), fsyncing each new entry."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for new_dir in reversed(missing):
            with contextlib.suppress(FileExistsError):  # a concurrent put made it
                new_dir.mkdir(mode=0o700)
            fsync_dir(new_dir.parent)

    def _write(self, path: Path, data: bytes) -> None:
        self._make_dirs(path.parent)
        # mkstemp creates the file with mode 0600 (O_EXCL): readable by us only.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        fsync_dir(path.parent)

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        # Always in a worker thread, whatever the size: a durable write waits for two
        # fsyncs (file, then directory), milliseconds of device time during which the
        # event loop would serve nobody (measured: ~4 ms per 10 KB deposit). The size
        # threshold only pays off for reads, which never wait for the disk's cache flush.
        try:
            await asyncio.to_thread(self._write, path, data)
        except OSError as exc:
            # A full disk or quota is the operator's to fix, not a bug: say so (507). The
            # temporary file is already gone (``_write``), so nothing partial stays.
            if exc.errno in _NO_ROOM:
                raise InsufficientStorage(
                    "the document store is full; nothing was stored: send it again later",
                    code="blob-store-full",
                ) from None
            raise

    # --- reading ----------------------------------------------------------------------

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            size = path.stat().st_size
            return await self._run(size, path.read_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(
                "the stored document content is missing", code="blob-not-found"
            ) from None

    # --- deleting ---------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        fsync_dir(path.parent)

    def _delete_tree(self, directory: Path) -> int:
        if not directory.is_dir():
            return 0
        count = sum(
            1
            for _, _, files in os.walk(directory)
            for name in files
            if not name.startswith(_TEMP_PREFIX)
        )
        shutil.rmtree(directory)
        fsync_dir(directory.parent)
        return count

    async def delete_prefix(self, prefix: str) -> int:
        """Remove the folder named by ``prefix`` (``"<record_id>/"``); count its blobs."""
        directory = self.root / validate_blob_prefix(prefix)
        # A record can hold many blobs: walking and unlinking them all is not "small I/O".
        return await asyncio.to_thread(self._delete_tree, directory)

    # --- listing and readiness --------------------------------------------------------

    def _scan(self, directory: Path) -> tuple[list[tuple[str, float]], list[Path]]:
        files: list[tuple[str, float]] = []
        subdirs: list[Path] = []
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:  # removed meanwhile, or root never created
            return files, subdirs
        for entry in entries:
            if entry.name.startswith("."):
                continue  # temp files of in-flight or crashed writes
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    key = Path(entry.path).relative_to(self.root).as_posix()
                    files.append((key, entry.stat(follow_symlinks=False).st_mtime))
            except FileNotFoundError:
                continue  # deleted between scandir and stat
        return files, subdirs

    async def iter_keys(self) -> AsyncIterator[tuple[str, float]]:
        # One directory per thread hop: listing never blocks the loop for a whole store
        # and never holds every key in memory at once.
        pending = [self.root]
        while pending:
            files, subdirs = await asyncio.to_thread(self._scan, pending.pop())
            for item in sorted(files):
                yield item
            pending.extend(sorted(subdirs, reverse=True))

    def _reap_temporaries_in(self, directory: Path, older_than: float) -> tuple[int, list[Path]]:
        removed = 0
        subdirs: list[Path] = []
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:  # removed meanwhile, or root never created
            return removed, subdirs
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(Path(entry.path))
                elif (
                    entry.name.startswith(_TEMP_PREFIX)
                    and entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime <= older_than
                ):
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
        return removed, subdirs

    async def reap_temporaries(self, older_than: float) -> int:
        """Remove the ``.tmp-*`` files that a crash (kill -9, power loss) left between the
        temp write and the rename, once older than ``older_than``: a younger one may be a
        write in flight (docs/security.md, "Leftovers")."""
        removed, pending = 0, [self.root]
        while pending:
            count, subdirs = await asyncio.to_thread(
                self._reap_temporaries_in, pending.pop(), older_than
            )
            removed += count
            pending.extend(subdirs)
        return removed

    async def check(self) -> None:
        # The probe's name starts with "." so it is never a valid key nor listed as one.
        probe = self.root / f"{_TEMP_PREFIX}probe-{uuid.uuid4().hex}"
        try:
            self._write(probe, b"ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigurationError(
                f"the blob store at {self.root} is not writable ({exc.strerror})",
                code="blob-store-not-writable",
            ) from None


class EncryptedBlobs:
    """What services use: encrypt-then-store and fetch-then-decrypt document content.

    Blob keys are ``"<record_id>/<random uuid hex>"``, not the document id. A fresh key per
    write means a blob is never overwritten: a failed or retried deposit cannot clobber
    the content of a committed document, and the reaper (docs/architecture.md §6.7) can never delete
    a blob that a concurrent retry is about to reference. Document ids (OIDs, URNs) are also
    not always valid path segments. The document id stays bound to the content as the
    associated data of the encryption; callers store the returned key in the document row.
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    @staticmethod
    def _associated_data(document_id: str) -> bytes:
        return document_id.encode("utf-8")

    async def put_document(
        self, *, data_key: bytes, record_id: str, document_id: str, content: bytes
    ) -> str:
        blob_key = validate_blob_key(f"{record_id}/{uuid.uuid4().hex}")
        associated_data = self._associated_data(document_id)
        if len(content) > THREAD_THRESHOLD_BYTES:
            # Megabytes of AES-GCM are CPU time the event loop would not serve anyone.
            blob = await asyncio.to_thread(
                encrypt_blob, data_key, content, associated_data=associated_data
            )
        else:
            blob = encrypt_blob(data_key, content, associated_data=associated_data)
        await self.store.put(blob_key, blob)
        return blob_key

    async def get_document(self, *, data_key: bytes, blob_key: str, document_id: str) -> bytes:
        blob = await self.store.get(blob_key)
        return decrypt_blob(data_key, blob, associated_data=self._associated_data(document_id))

    async def shred_record(self, record_id: str) -> int:
        """Delete every blob of a record. Delete its wrapped data key *before* calling this."""
        return await self.store.delete_prefix(f"{record_id}/")
