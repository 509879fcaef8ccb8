"""Master key and per-record data keys (docs/architecture.md §7).

Each record has its own random 256-bit data key. Only its *wrapped* form (AES key wrap,
RFC 3394) is stored next to the record, wrapped by the key-encryption key of an epoch,
itself wrapped by the master key (``keyring.py``), so:

* rotating a key re-wraps the small data keys and never re-encrypts a blob;
* deleting a record's wrapped key is not enough (old database pages and backups keep it):
  crypto-shredding is real once the KEK that wrapped it is erased (docs/security.md).

The master key lives in ``<key_dir>/master.key`` as base64 text (a KMS can replace the file
in production). It never appears in a ``repr``, a log line or an error message; logs and
the admin CLI show :attr:`MasterKey.key_id` instead.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from opendmp.blobs.fsync import fsync_dir
from opendmp.domain.errors import KeyFailure

__all__ = [
    "DATA_KEY_BYTES",
    "MASTER_KEY_BYTES",
    "MASTER_KEY_FILENAME",
    "PREVIOUS_MASTER_KEY_FILENAME",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "WRAPPED_DATA_KEY_BYTES",
    "MasterKey",
    "atomic_write",
    "ensure_key_dir",
    "erase_file",
    "erase_previous_master_key",
    "load_or_create_master_key",
    "new_data_key",
    "read_previous_master_key",
    "unwrap_data_key",
    "wrap_data_key",
    "write_master_key",
]

MASTER_KEY_BYTES = 32
DATA_KEY_BYTES = 32
# RFC 3394 adds one 64-bit integrity block to the wrapped key.
WRAPPED_DATA_KEY_BYTES = DATA_KEY_BYTES + 8
MASTER_KEY_FILENAME = "master.key"
PREVIOUS_MASTER_KEY_FILENAME = "master.key.previous"
# Temp files of atomic key writes (a kill before the rename can leave one behind).
TEMP_PREFIX = ".key."
TEMP_SUFFIX = ".tmp"

# Domain separation: the key id is a hash of this prefix and the key, so it can never be
# mistaken for (or collide with) a hash of the key computed for any other purpose.
_KEY_ID_PREFIX = b"opendmp:master-key-id:v1\x00"


@dataclass(frozen=True, eq=False)
class MasterKey:
    """The 256-bit key that wraps every record's data key."""

    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != MASTER_KEY_BYTES:
            raise KeyFailure(
                f"a master key must be exactly {MASTER_KEY_BYTES} bytes",
                code="master-key-invalid",
            )

    @property
    def key_id(self) -> str:
        """A short, stable name for the key that reveals nothing about it."""
        return hashlib.sha256(_KEY_ID_PREFIX + self.raw).hexdigest()[:16]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            # The decoder's message may quote part of the input: keep it out of the error.
            raise KeyFailure(
                "the master key is not valid base64", code="master-key-invalid"
            ) from None
        return cls(raw)

    def to_base64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasterKey):
            return NotImplemented
        return hmac.compare_digest(self.raw, other.raw)

    def __hash__(self) -> int:
        return hash(self.key_id)


# --- key file -----------------------------------------------------------------------------


def ensure_key_dir(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir does not change an existing directory and is subject to the umask.
    os.chmod(key_dir, 0o700)


def _write_temp(key_dir: Path, text: str) -> Path:
    """Write ``text`` to a fsynced 0600 temp file in ``key_dir`` and return its path."""
    # mkstemp creates the file with mode 0600 from the start: the key is never readable by
    # anyone else, not even for the instant between creation and a chmod.
    fd, name = tempfile.mkstemp(dir=key_dir, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return Path(name)


def atomic_write(key_dir: Path, filename: str, text: str) -> None:
    tmp = _write_temp(key_dir, text)
    try:
        os.replace(tmp, key_dir / filename)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(key_dir)


def erase_file(path: Path) -> None:
    """Overwrite ``path`` with zeros in place, fsync, remove it and fsync its folder.

    On a file system that rewrites blocks in place (ext4, xfs) the key's bytes are gone
    from the device, not only unlinked; copy-on-write file systems and SSD wear levelling
    may keep old blocks (docs/security.md states this limit). Missing files are ignored.
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        os.write(fd, b"\0" * size)
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fsync_dir(path.parent)


def read_previous_master_key(key_dir: Path) -> MasterKey | None:
    """The key a rotation replaced, while that rotation is unfinished (else None)."""
    try:
        return _read_master_key(key_dir / PREVIOUS_MASTER_KEY_FILENAME)
    except FileNotFoundError:
        return None


def erase_previous_master_key(key_dir: Path) -> None:
    """End of a rotation: nothing is wrapped by the previous master key any more."""
    erase_file(key_dir / PREVIOUS_MASTER_KEY_FILENAME)


def _read_master_key(path: Path) -> MasterKey:
    return MasterKey.from_base64(path.read_text(encoding="ascii"))


def load_or_create_master_key(key_dir: Path, *, create: bool) -> MasterKey:
    """Load ``key_dir/master.key``; generate it first when missing and ``create`` is true.

    Creation publishes the file with ``os.link``, which fails if the name exists: two
    processes starting together on an empty directory end up with the *same* key instead
    of the second silently replacing the first (which would orphan every record wrapped
    by the first).
    """
    path = key_dir / MASTER_KEY_FILENAME
    try:
        return _read_master_key(path)
    except FileNotFoundError:
        if not create:
            raise KeyFailure(
                f"no master key file in {key_dir} "
                "(restore it from the key backup; create one only for a new installation)",
                code="master-key-missing",
            ) from None
    ensure_key_dir(key_dir)
    key = MasterKey.generate()
    tmp = _write_temp(key_dir, key.to_base64())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read_master_key(path)
    finally:
        tmp.unlink()
    fsync_dir(key_dir)
    return key


def write_master_key(key_dir: Path, key: MasterKey) -> None:
    """Install ``key`` as the master key, keeping the current one as ``master.key.previous``.

    Used by rotation: the previous key stays on disk until every key-encryption key has
    been re-wrapped, so an interrupted rotation can be resumed; the rotation then erases it
    (:func:`erase_previous_master_key`). Each file is replaced
    atomically, so ``master.key`` always holds a complete key (the old one or the new one).
    """
    ensure_key_dir(key_dir)
    current = key_dir / MASTER_KEY_FILENAME
    try:
        previous = _read_master_key(current)
    except FileNotFoundError:
        previous = None
    if previous is not None and previous != key:
        atomic_write(key_dir, PREVIOUS_MASTER_KEY_FILENAME, previous.to_base64())
    atomic_write(key_dir, MASTER_KEY_FILENAME, key.to_base64())


# --- data keys ----------------------------------------------------------------------------


def new_data_key() -> bytes:
    """A fresh random 256-bit data key for one record."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def wrap_data_key(master: MasterKey, data_key: bytes) -> bytes:
    if len(data_key) != DATA_KEY_BYTES:
        raise KeyFailure(
            f"a data key must be exactly {DATA_KEY_BYTES} bytes", code="data-key-invalid"
        )
    return aes_key_wrap(master.raw, data_key)


def unwrap_data_key(master: MasterKey, wrapped: bytes) -> bytes:
    if len(wrapped) != WRAPPED_DATA_KEY_BYTES:
        raise KeyFailure(
            "this record's wrapped data key is malformed (wrong length)",
            code="wrapped-key-invalid",
        )
    try:
        return aes_key_unwrap(master.raw, wrapped)
    except InvalidUnwrap:
        raise KeyFailure(
            "the master key does not unwrap this record's data key (wrong or rotated master key?)",
            code="master-key-mismatch",
        ) from None
