"""Settings -> blob store: ``OPENDMP_BLOB_STORE`` names where blobs live
(docs/architecture.md §7, "Where blobs live").

- unset: the filesystem, ``OPENDMP_HOME/blobs`` (the default);
- ``file:///absolute/path``: the filesystem, elsewhere;
- ``s3://<bucket>/<prefix>``: an S3-compatible object store, reached at
  ``OPENDMP_S3_ENDPOINT_URL`` (default: AWS) in ``OPENDMP_S3_REGION``, with the standard AWS
  credentials (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, …).

The settings are read through ``BlobSettings`` (what ``opendmp.config.Settings`` has), so
this package does not depend on the configuration module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from .store import BlobStore, FilesystemBlobStore, validate_blob_prefix

__all__ = ["BlobSettings", "S3Location", "open_blob_store", "parse_blob_store_url"]

# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, alphanumeric at both ends.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class BlobSettings(Protocol):
    @property
    def blob_store(self) -> str | None: ...
    @property
    def blob_dir(self) -> Path: ...
    @property
    def s3_endpoint_url(self) -> str | None: ...
    @property
    def s3_region(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "a/b/"


def parse_blob_store_url(url: str) -> Path | S3Location:
    """``file:///path`` -> the folder, ``s3://bucket/prefix`` -> ``S3Location``; else
    ``ValueError`` saying what is expected."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError("a file blob store is file:///absolute/path")
        return Path(unquote(parts.path))
    if parts.scheme == "s3":
        if not _BUCKET_RE.fullmatch(parts.netloc):
            raise ValueError("an S3 blob store is s3://<bucket>/<prefix> with a valid bucket name")
        prefix = parts.path.strip("/")
        if parts.query or parts.fragment:
            raise ValueError("an S3 blob store URL has no query nor fragment")
        try:
            return S3Location(parts.netloc, validate_blob_prefix(prefix + "/") if prefix else "")
        except ValueError:
            raise ValueError(
                "the prefix of an S3 blob store is segments of [A-Za-z0-9._-]"
            ) from None
    raise ValueError("OPENDMP_BLOB_STORE is file:///path or s3://<bucket>/<prefix>")


def open_blob_store(settings: BlobSettings, url: str | None = None) -> BlobStore:
    """The store ``url`` names (default: the settings' ``OPENDMP_BLOB_STORE``, else
    ``OPENDMP_HOME/blobs``). An S3 client connects on first use, not here."""
    url = url if url is not None else settings.blob_store
    if url is None:
        return FilesystemBlobStore(settings.blob_dir)
    where = parse_blob_store_url(url)
    if isinstance(where, Path):
        return FilesystemBlobStore(where)
    from .s3 import S3BlobStore  # aiobotocore is imported only when S3 is configured

    return S3BlobStore(
        where.bucket,
        where.prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
    )
