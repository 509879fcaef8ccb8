"""Looking at a blob store from outside its API, whichever the backend: what it holds
(leftovers included), aging a blob, leaving what a crash leaves. The tests of the store, the
reaper, key rotation and shredding use these to run on the filesystem and on S3 alike."""

from __future__ import annotations

import datetime as dt
import os

from opendmp.blobs import BlobStore, FilesystemBlobStore
from opendmp.blobs.s3 import S3BlobStore
from opendmp.domain.errors import NotFound
from tests.s3_support import s3_client, set_last_modified


def _s3(store: BlobStore) -> S3BlobStore:
    assert isinstance(store, S3BlobStore), store
    return store


async def stored_names(store: BlobStore) -> list[str]:
    """Every name the store holds under its root or prefix, leftovers included, sorted."""
    if isinstance(store, FilesystemBlobStore):
        root = store.root
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    s3 = _s3(store)
    assert s3.endpoint_url is not None
    pages = s3_client(s3.endpoint_url).get_paginator("list_objects_v2")
    names = [
        item["Key"][len(s3.prefix) :]
        for page in pages.paginate(Bucket=s3.bucket, Prefix=s3.prefix)
        for item in page.get("Contents", [])
    ]
    return sorted(names)


async def open_uploads(store: BlobStore) -> list[str]:
    """The names of the multipart uploads still open (S3; none on a filesystem)."""
    if isinstance(store, FilesystemBlobStore):
        return []
    s3 = _s3(store)
    assert s3.endpoint_url is not None
    answer = s3_client(s3.endpoint_url).list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.prefix)
    return sorted(u["Key"][len(s3.prefix) :] for u in answer.get("Uploads", []))


async def exists(store: BlobStore, key: str) -> bool:
    try:
        await store.get(key)
    except NotFound:
        return False
    return True


def set_mtime(store: BlobStore, name: str, when: dt.datetime) -> None:
    """Make the stored ``name`` look last modified at ``when`` (``os.utime`` on a file, the
    object's Last-Modified on moto's S3)."""
    if isinstance(store, FilesystemBlobStore):
        os.utime(store.root / name, (when.timestamp(), when.timestamp()))
        return
    s3 = _s3(store)
    set_last_modified(s3.bucket, s3.prefix + name, when)


def leave_crash_leftover(store: BlobStore, folder: str, name: str) -> str:
    """What a write killed half-way leaves in ``folder``: a ``.tmp-*`` file on the filesystem,
    an open multipart upload on S3. Returns its name (relative to the store)."""
    if isinstance(store, FilesystemBlobStore):
        path = store.root / folder / f".tmp-{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial ciphertext")
        return path.relative_to(store.root).as_posix()
    s3 = _s3(store)
    assert s3.endpoint_url is not None
    client = s3_client(s3.endpoint_url)
    key = f"{s3.prefix}{folder}/{name}"
    upload = client.create_multipart_upload(Bucket=s3.bucket, Key=key)
    client.upload_part(
        Bucket=s3.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"partial"
    )
    return f"{folder}/{name}"
