"""Key-encryption keys by epoch: what makes crypto-shredding real (docs/security.md).

A record's data key is wrapped by the key-encryption key (KEK) of an *epoch*, and each
KEK is wrapped by the master key. The KEKs do **not** live in the database, whose old
pages, WAL and backups keep every value ever written: each one is a small file
``<key_dir>/keyring/kek-<epoch>.json`` that can really be erased. After records are
destroyed, the epoch is rotated: the surviving records' data keys are re-wrapped under a
fresh KEK and the old KEK's file is overwritten and removed. A destroyed record's wrapped
data key, wherever a copy of it survives, was wrapped by an erased KEK: nothing OpenDMP
still holds (master key included) unwraps it.

A KEK file holds ``{"epoch", "master_key_id", "wrapped_kek"}``; the master key that wraps
it is named by its id, so an interrupted master-key rotation (some files under the new
key, some under the previous one) stays readable.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from opendmp.domain.errors import KeyFailure

from .keys import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    WRAPPED_DATA_KEY_BYTES,
    MasterKey,
    atomic_write,
    ensure_key_dir,
    erase_file,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)

__all__ = ["KEYRING_DIRNAME", "Keyring", "erase_orphans"]

KEYRING_DIRNAME = "keyring"
_FORMAT = "opendmp-kek-v1"
# A write takes milliseconds: a temp file older than this was left by a killed process.
LEFTOVER_SECONDS = 60.0
_NAME_RE = re.compile(r"kek-(\d{6,})\.json")


def _file_name(epoch: int) -> str:
    return f"kek-{epoch:06d}.json"


@dataclass(frozen=True, slots=True)
class _Cached:
    stamp: tuple[int, int]  # (inode, mtime_ns) of the file the KEK was read from
    kek: bytes = field(repr=False)


class Keyring:
    """The KEK files of one installation; see the module docstring.

    A KEK read from its file is cached in memory, but every use checks (one ``stat``) that
    its file still exists unchanged: once a rotation has erased it, no process keeps using it.
    """

    def __init__(self, key_dir: Path) -> None:
        self.directory = Path(key_dir) / KEYRING_DIRNAME
        self._cache: dict[tuple[int, str], _Cached] = {}

    def __repr__(self) -> str:
        return f"Keyring(directory={str(self.directory)!r})"

    def path(self, epoch: int) -> Path:
        return self.directory / _file_name(epoch)

    def epochs(self) -> list[int]:
        """The epochs whose KEK file exists, oldest first."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for n in names if (m := _NAME_RE.fullmatch(n)))

    # --- writing ------------------------------------------------------------------------

    def create(self, epoch: int, master: MasterKey) -> None:
        """Write a fresh random KEK for ``epoch`` (replacing an orphan left by a crash)."""
        self._write(epoch, master, new_data_key())

    def rewrap(self, epoch: int, old: Iterable[MasterKey], new: MasterKey) -> None:
        """Re-wrap ``epoch``'s KEK under ``new`` (master-key rotation)."""
        self._write(epoch, new, self.kek(epoch, [new, *old]))

    def _write(self, epoch: int, master: MasterKey, kek: bytes) -> None:
        ensure_key_dir(self.directory.parent)
        ensure_key_dir(self.directory)
        document = {
            "format": _FORMAT,
            "epoch": epoch,
            "master_key_id": master.key_id,
            "wrapped_kek": base64.b64encode(aes_key_wrap(master.raw, kek)).decode("ascii"),
        }
        atomic_write(self.directory, _file_name(epoch), json.dumps(document))

    def erase(self, epoch: int) -> None:
        """Overwrite ``epoch``'s KEK file with zeros, remove it and forget the KEK."""
        erase_file(self.path(epoch))
        for key in [k for k in self._cache if k[0] == epoch]:
            del self._cache[key]

    def erase_leftovers(self, *, older_than: float = LEFTOVER_SECONDS) -> int:
        """Erase temp files left by a write killed before its rename (see ``atomic_write``);
        young ones may belong to a write in progress and are left alone."""
        cutoff = time.time() - older_than
        erased = 0
        for path in self.directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime <= cutoff:
                    erase_file(path)
                    erased += 1
        return erased

    # --- reading ------------------------------------------------------------------------

    def master_key_id(self, epoch: int) -> str:
        return self._read(epoch)[0]["master_key_id"]

    def _read(self, epoch: int) -> tuple[dict[str, str], tuple[int, int]]:
        path = self.path(epoch)
        try:
            with path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                document = json.loads(handle.read())
        except FileNotFoundError:
            raise KeyFailure(
                f"the key-encryption key of epoch {epoch} is missing from {self.directory} "
                "(erased by a rotation, or the keyring was not restored with the database)",
                code="kek-missing",
            ) from None
        except (OSError, ValueError):
            raise KeyFailure(
                f"the key-encryption key file of epoch {epoch} is unreadable", code="kek-invalid"
            ) from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise KeyFailure(
                f"the key-encryption key file of epoch {epoch} is unreadable", code="kek-invalid"
            )
        return document, (info.st_ino, info.st_mtime_ns)

    def _stamp(self, epoch: int) -> tuple[int, int] | None:
        try:
            info = self.path(epoch).stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns

    def kek(self, epoch: int, masters: Iterable[MasterKey]) -> bytes:
        """``epoch``'s KEK, unwrapped by whichever of ``masters`` wrapped it."""
        candidates = {m.key_id: m for m in masters}
        for key_id, master in candidates.items():
            cached = self._cache.get((epoch, key_id))
            if cached is not None and cached.stamp == self._stamp(epoch):
                return cached.kek
            self._cache.pop((epoch, master.key_id), None)
        document, stamp = self._read(epoch)
        wrapper = candidates.get(document.get("master_key_id", ""))
        if wrapper is None:
            raise KeyFailure(
                f"the master key does not unwrap the key-encryption key of epoch {epoch} "
                f"(it was wrapped by master key {document.get('master_key_id')!s:.16})",
                code="master-key-mismatch",
            )
        try:
            kek = aes_key_unwrap(wrapper.raw, base64.b64decode(document["wrapped_kek"]))
        except (InvalidUnwrap, KeyError, ValueError):
            raise KeyFailure(
                f"the master key does not unwrap the key-encryption key of epoch {epoch}",
                code="master-key-mismatch",
            ) from None
        self._cache[(epoch, wrapper.key_id)] = _Cached(stamp, kek)
        return kek

    # --- data keys ----------------------------------------------------------------------

    def wrap(self, epoch: int, masters: Iterable[MasterKey], data_key: bytes) -> bytes:
        return wrap_data_key(MasterKey(self.kek(epoch, masters)), data_key)

    def unwrap(
        self,
        wrapped: bytes,
        *,
        epoch: int | None,
        master_key_id: str | None,
        masters: Iterable[MasterKey],
    ) -> bytes:
        """A record's data key. ``epoch`` None: wrapped directly by a master key (rows
        written before epochs existed, until the first rotation moves them)."""
        if len(wrapped) != WRAPPED_DATA_KEY_BYTES:
            raise KeyFailure(
                "this record's wrapped data key is malformed (wrong length)",
                code="wrapped-key-invalid",
            )
        if epoch is None:
            by_id = {m.key_id: m for m in masters}
            master = by_id.get(master_key_id or "") or next(iter(by_id.values()))
            return unwrap_data_key(master, wrapped)
        kek = MasterKey(self.kek(epoch, masters))
        try:
            return unwrap_data_key(kek, wrapped)
        except KeyFailure:
            raise KeyFailure(
                f"the key-encryption key of epoch {epoch} does not unwrap this record's data key",
                code="kek-mismatch",
            ) from None


def erase_orphans(keyring: Keyring, keep: Iterable[int]) -> list[int]:
    """Erase every KEK file whose epoch is not in ``keep``, and the temp files of writes
    killed before their rename (they may hold a copy of a KEK); return the erased epochs."""
    kept = set(keep)
    erased = [epoch for epoch in keyring.epochs() if epoch not in kept]
    for epoch in erased:
        keyring.erase(epoch)
    keyring.erase_leftovers()
    return erased
