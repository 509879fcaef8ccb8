"""The manifest of a backup folder (docs/operations.md, "What a backup holds").

``manifest.json`` is written last: a folder without it is an unfinished backup. It names
the database copy and its SHA-256, every blob (key, SHA-256 and size of the ciphertext as
stored), every key-encryption-key file copied with the epoch it holds, and the ids of the
master keys needed to open them — never a master key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opendmp.blobs import validate_blob_key
from opendmp.domain.errors import OpenDMPError
from opendmp.storage.private_files import write_private_file

__all__ = [
    "BLOBS_DIRNAME",
    "FORMAT",
    "KEYRING_DIRNAME",
    "MANIFEST_NAME",
    "BlobEntry",
    "KekEntry",
    "Manifest",
    "blob_path",
    "file_sha256",
    "read_manifest",
    "write_manifest",
]

FORMAT = "opendmp-backup-v1"
MANIFEST_NAME = "manifest.json"
BLOBS_DIRNAME = "blobs"
KEYRING_DIRNAME = "keyring"
_CHUNK = 1024 * 1024


class ManifestError(OpenDMPError):
    pass


@dataclass(frozen=True, slots=True)
class BlobEntry:
    key: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class KekEntry:
    epoch: int
    file: str  # relative to the backup folder
    sha256: str
    master_key_id: str


@dataclass(frozen=True, slots=True)
class DatabaseEntry:
    backend: str
    file: str
    sha256: str
    size: int
    revision: str | None
    tool_version: str | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    created_at: str
    database: DatabaseEntry
    master_key_ids: list[str]
    keyring: list[KekEntry]
    blobs: list[BlobEntry]
    counts: dict[str, int] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Manifest:
        return cls(
            created_at=str(raw["created_at"]),
            database=DatabaseEntry(**raw["database"]),
            master_key_ids=[str(k) for k in raw["master_key_ids"]],
            keyring=[KekEntry(**k) for k in raw["keyring"]],
            blobs=[BlobEntry(**b) for b in raw["blobs"]],
            counts={str(k): int(v) for k, v in raw.get("counts", {}).items()},
            format=str(raw["format"]),
        )


def blob_path(folder: Path, key: str) -> Path:
    return folder / BLOBS_DIRNAME / validate_blob_key(key)


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_manifest(folder: Path, manifest: Manifest) -> None:
    path = folder / MANIFEST_NAME
    write_private_file(path, manifest.to_json())
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_NAME
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ManifestError(
            f"{path} is missing: not a backup, or one that did not finish",
            code="backup-incomplete",
        ) from None
    except (OSError, ValueError):
        raise ManifestError(f"{path} is unreadable", code="backup-manifest-invalid") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ManifestError(
            f"{path} is not an OpenDMP backup manifest ({FORMAT})",
            code="backup-manifest-invalid",
        )
    try:
        return Manifest.from_json(raw)
    except (KeyError, TypeError, ValueError):
        raise ManifestError(f"{path} is unreadable", code="backup-manifest-invalid") from None
