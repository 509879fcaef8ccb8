"""Blobs in an S3-compatible object store (docs/architecture.md §7, "Where blobs live").

``S3BlobStore`` implements ``BlobStore`` over ``aiobotocore`` (the asyncio port of botocore,
the client AWS maintains; any S3 API: AWS, MinIO, Ceph RGW, the object storage of French
HDS hosts). Like every store it only ever sees ciphertext: ``EncryptedBlobs`` encrypts
before ``put`` and decrypts after ``get``.

- Keys are ``<prefix><record_id>/<blob_id>``, so ``delete_prefix`` shreds a record with one
  listing and batched deletes (its data key is already gone: crypto-shredding).
- Writes are atomic: a single PUT up to ``multipart_threshold``, above it a multipart upload
  whose object appears only at CompleteMultipartUpload; a failed upload is aborted. What a
  crash leaves (an incomplete multipart upload, a readiness probe) is the store's
  "temporaries", removed by ``reap_temporaries``.
- Reads stream the body in chunks (no second copy of a large document in aiohttp's
  buffers). A blob is one AES-GCM message whose tag is checked over the whole of it, so
  plaintext is never released before the last byte has arrived: the whole blob is read.
- Retries with exponential backoff and jitter are botocore's ("standard" mode); what still
  fails is ``Unavailable`` (HTTP 503, retry later), a missing key ``NotFound``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from opendmp.domain.errors import NotFound, Unavailable

from .store import validate_blob_key, validate_blob_prefix

__all__ = ["S3BlobStore"]

# A single PUT up to 16 MiB (most documents are far below); above, parts of 8 MiB (S3's
# minimum part is 5 MiB), four in flight: a 30 MiB document is four parts sent together.
MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 4
READ_CHUNK = 1024 * 1024
_PROBE_PREFIX = ".probe-"  # never a valid key: readiness probes are not listed as blobs
# Errors that say the store is set up wrong rather than momentarily out of reach.
_MISCONFIGURED = frozenset(
    {
        "NoSuchBucket",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
    }
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


@functools.cache
def _session() -> Any:
    """One botocore session per process: it loads and caches the S3 service model (about a
    second) once, not for every client."""
    return get_session()


def _unavailable(exc: BaseException) -> Unavailable:
    """What the caller may be told about a failed S3 call (no key, no document content)."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        if code in _MISCONFIGURED:
            return Unavailable(
                f"the object store refused OpenDMP ({code}): check OPENDMP_BLOB_STORE, "
                "the bucket and the credentials",
                code="blob-store-misconfigured",
            )
        return Unavailable(f"the object store failed ({code})", code="blob-store-unavailable")
    if isinstance(exc, NoCredentialsError):
        return Unavailable(
            "no credentials for the object store (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
            code="blob-store-misconfigured",
        )
    return Unavailable(
        f"the object store is out of reach ({type(exc).__name__})", code="blob-store-unavailable"
    )


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise _unavailable(exc) from None


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class S3BlobStore:
    """Blobs as objects ``s3://bucket/<prefix><record_id>/<blob_id>``.

    The client is opened on first use, once per event loop (a command line may run several
    loops one after the other), and released by ``close``.
    """

    # Tunable per instance (tests lower them): above this size a write is a multipart
    # upload; how many times botocore tries a call (backoff in between) before giving up.
    multipart_threshold = MULTIPART_THRESHOLD
    attempts = 5

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = validate_blob_prefix(prefix) if prefix else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    # --- the client -------------------------------------------------------------------

    def _config(self) -> AioConfig:
        return AioConfig(
            # botocore's "standard" retries: exponential backoff with jitter on throttling,
            # 5xx and connection errors, 5 attempts in all by default.
            retries={"max_attempts": self.attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
            # A custom endpoint (MinIO, Ceph, moto) rarely has wildcard DNS for buckets.
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )

    async def _s3(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop: the old client died with it
            self._client, self._exit, self._loop = None, None, loop
            self._lock = asyncio.Lock()
        assert self._lock is not None
        async with self._lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    _session().create_client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        region_name=self.region,
                        config=self._config(),
                    )
                )
                self._exit = stack
        return self._client

    async def close(self) -> None:
        exit_stack, self._client, self._exit = self._exit, None, None
        if exit_stack is not None and self._loop is asyncio.get_running_loop():
            await exit_stack.aclose()

    def _name(self, key: str) -> str:
        return self.prefix + validate_blob_key(key)

    # --- writing ----------------------------------------------------------------------

    async def put(self, key: str, data: bytes) -> None:
        name = self._name(key)
        with _translated():
            client = await self._s3()
            if len(data) <= max(self.multipart_threshold, PART_SIZE):
                await client.put_object(Bucket=self.bucket, Key=name, Body=data)
            else:
                await self._put_multipart(client, name, data)

    async def _put_multipart(self, client: Any, name: str, data: bytes) -> None:
        upload = await client.create_multipart_upload(Bucket=self.bucket, Key=name)
        upload_id = upload["UploadId"]
        try:
            parts = await self._upload_parts(client, name, upload_id, memoryview(data))
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Nothing partial stays: the parts are dropped, no object appears. If even the
            # abort fails, reap_temporaries removes the upload after the grace.
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            raise

    async def _upload_parts(
        self, client: Any, name: str, upload_id: str, data: memoryview
    ) -> list[dict[str, Any]]:
        in_flight = asyncio.Semaphore(PARTS_IN_FLIGHT)

        async def one(number: int, start: int) -> dict[str, Any]:
            async with in_flight:
                answer = await self._upload_part(
                    client, name, upload_id, number, bytes(data[start : start + PART_SIZE])
                )
            return {"PartNumber": number, "ETag": answer["ETag"]}

        starts = range(0, len(data), PART_SIZE)
        return list(await asyncio.gather(*(one(n, s) for n, s in enumerate(starts, start=1))))

    async def _upload_part(
        self, client: Any, name: str, upload_id: str, number: int, body: bytes
    ) -> dict[str, Any]:
        answer: dict[str, Any] = await client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
        )
        return answer

    # --- reading ----------------------------------------------------------------------

    async def get(self, key: str) -> bytes:
        name = self._name(key)
        with _translated():
            client = await self._s3()
            try:
                answer = await client.get_object(Bucket=self.bucket, Key=name)
            except ClientError as exc:
                if _is_missing(exc):
                    raise NotFound(
                        "the stored document content is missing", code="blob-not-found"
                    ) from None
                raise
            buffer = bytearray()
            async with answer["Body"] as body:
                async for chunk in body.iter_chunks(READ_CHUNK):
                    buffer += chunk
            return bytes(buffer)

    # --- deleting ---------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        name = self._name(key)
        with _translated():
            client = await self._s3()
            await client.delete_object(Bucket=self.bucket, Key=name)  # idempotent in S3

    async def _delete_names(self, client: Any, names: list[str]) -> None:
        for start in range(0, len(names), 1000):  # DeleteObjects takes 1000 keys at most
            batch = [{"Key": n} for n in names[start : start + 1000]]
            answer = await client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                code = answer["Errors"][0].get("Code", "unknown")
                raise Unavailable(
                    f"the object store kept some blobs ({code}); run it again",
                    code="blob-store-unavailable",
                )

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``<prefix><record_id>/``, and the parts of any upload
        still open there (they hold ciphertext too); count the objects."""
        folder = self.prefix + validate_blob_prefix(prefix)
        with _translated():
            client = await self._s3()
            names = [name async for name, _ in self._list(client, folder)]
            await self._delete_names(client, names)
            await self._abort_uploads(client, folder, older_than=None)
        return len(names)

    # --- listing and readiness --------------------------------------------------------

    async def _list(self, client: Any, folder: str) -> AsyncIterator[tuple[str, float]]:
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
            for item in page.get("Contents", []):
                modified: dt.datetime = item["LastModified"]
                yield item["Key"], modified.timestamp()

    async def iter_keys(self) -> AsyncIterator[tuple[str, float]]:
        with _translated():
            client = await self._s3()
            async for name, mtime in self._list(client, self.prefix):
                key = name[len(self.prefix) :]
                try:
                    validate_blob_key(key)
                except ValueError:
                    continue  # a probe, or an object no OpenDMP key can name
                yield key, mtime

    async def _abort_uploads(self, client: Any, folder: str, *, older_than: float | None) -> int:
        aborted = 0
        paginator = client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
            for upload in page.get("Uploads", []):
                started: dt.datetime = upload["Initiated"]
                if older_than is None or started.timestamp() <= older_than:
                    with contextlib.suppress(ClientError):  # completed or aborted meanwhile
                        await client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted

    async def reap_temporaries(self, older_than: float) -> int:
        """Abort the multipart uploads a crash left open, and delete the readiness probes a
        crash left, once started at or before ``older_than``: a younger upload may be a
        write in flight (docs/security.md, "Leftovers")."""
        with _translated():
            client = await self._s3()
            probes = [
                name
                async for name, mtime in self._list(client, self.prefix + _PROBE_PREFIX)
                if mtime <= older_than
            ]
            await self._delete_names(client, probes)
            return len(probes) + await self._abort_uploads(
                client, self.prefix, older_than=older_than
            )

    async def check(self) -> None:
        """Readiness: write then delete a probe object (the bucket exists, the credentials
        may write); ``Unavailable`` otherwise."""
        probe = f"{self.prefix}{_PROBE_PREFIX}{uuid.uuid4().hex}"
        with _translated():
            client = await self._s3()
            await client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            await client.delete_object(Bucket=self.bucket, Key=probe)
