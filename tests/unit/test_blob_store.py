"""Blob storage (docs/architecture.md §6-7): safe keys, atomic durable writes, listing,
shredding. Every test taking ``blob_store`` runs on the filesystem and on S3 (moto's server
on loopback); the others are about one backend, named in their title."""

from __future__ import annotations

import datetime as dt
import os
import stat
import time
from pathlib import Path

import pytest

from opendmp.blobs import (
    BlobStore,
    EncryptedBlobs,
    FilesystemBlobStore,
    MasterKey,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from opendmp.blobs.s3 import PART_SIZE, S3BlobStore
from opendmp.domain.errors import (
    ConfigurationError,
    InsufficientStorage,
    IntegrityFailure,
    NotFound,
    Unavailable,
)
from tests.blob_support import (
    leave_crash_leftover,
    open_uploads,
    set_mtime,
    stored_names,
)
from tests.s3_support import REGION, new_bucket, s3_client

pytestmark = pytest.mark.blob_backends

RECORD = "3f6d2b9e-1c4a-4e8b-a7d5-6c0f9e2b1a38"
OTHER_RECORD = "8b1e4c7a-2d5f-4a9b-b3c6-0e7d1f4a2c59"
DOC_ID = "urn:uuid:2f0c8a1e-5b7d-4c1a-9e3f-0d6b8a7c5e41"
CONTENT = b"%PDF-1.7 compte rendu fictif de M. Test Exemple"

UNSAFE_KEYS = [
    "../escape",
    "rec/../../escape",
    "/etc/passwd",
    "rec//blob",
    "rec/blob/",
    "",
    ".",
    "..",
    "rec/.",
    "rec/..",
    "rec/.hidden",
    "rec\\blob",
    "rec/bl ob",
    "rec/blob\x00",
    "rec/é",
    "x" * 129,
]


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", UNSAFE_KEYS)
async def test_a_key_that_could_leave_the_store_is_refused_and_writes_nothing(
    blob_store: BlobStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(ValueError):
        await blob_store.put(key, b"x")
    for operation in (blob_store.get, blob_store.delete):
        with pytest.raises(ValueError):
            await operation(key)
    assert await stored_names(blob_store) == []
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("prefix", ["rec", "../", "/", "", "rec/../", "/etc/"])
async def test_a_prefix_that_is_not_a_record_folder_is_refused(
    blob_store: BlobStore, prefix: str
) -> None:
    await blob_store.put("rec/blob", b"x")
    with pytest.raises(ValueError):
        await blob_store.delete_prefix(prefix)
    assert await stored_names(blob_store) == ["rec/blob"]


async def test_getting_a_missing_blob_raises_blob_not_found(blob_store: BlobStore) -> None:
    store = blob_store
    await store.put(f"{RECORD}/present", b"x")
    for key in (f"{RECORD}/absent", f"{OTHER_RECORD}/absent", f"{RECORD}/present/below", RECORD):
        with pytest.raises(NotFound) as caught:
            await store.get(key)
        assert caught.value.code == "blob-not-found"


async def test_filesystem_a_write_that_fails_before_the_rename_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.put(f"{RECORD}/kept", b"old")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    # A full disk is told as such (507), not as a bare OSError (tests/faults).
    with pytest.raises(InsufficientStorage):
        await store.put(f"{RECORD}/new", b"new")
    with pytest.raises(InsufficientStorage):
        await store.put(f"{RECORD}/kept", b"overwritten")
    monkeypatch.undo()

    assert os.listdir(tmp_path / RECORD) == ["kept"]
    assert await store.get(f"{RECORD}/kept") == b"old"


async def test_s3_a_multipart_write_that_fails_leaves_no_object_and_no_upload(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3BlobStore(new_bucket(s3_endpoint), "blobs/", endpoint_url=s3_endpoint)
    store.multipart_threshold = 0
    await store.put(f"{RECORD}/kept", b"old")
    sent: list[int] = []
    real_upload_part = S3BlobStore._upload_part

    async def second_part_fails(self: S3BlobStore, *args: object) -> dict[str, object]:
        sent.append(1)
        if len(sent) == 2:
            raise OSError("connection reset by peer")
        return await real_upload_part(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(S3BlobStore, "_upload_part", second_part_fails)
    with pytest.raises(OSError):
        await store.put(f"{RECORD}/new", os.urandom(2 * PART_SIZE + 1))
    monkeypatch.undo()

    assert len(sent) >= 2  # a multipart upload it was, cut in the middle
    assert await stored_names(store) == [f"{RECORD}/kept"]
    assert await open_uploads(store) == []
    assert await store.get(f"{RECORD}/kept") == b"old"
    await store.close()


async def test_a_stored_document_altered_at_any_byte_is_refused(blob_store: BlobStore) -> None:
    blobs = EncryptedBlobs(blob_store)
    data_key = new_data_key()
    blob_key = await blobs.put_document(
        data_key=data_key, record_id=RECORD, document_id=DOC_ID, content=CONTENT
    )
    original = await blob_store.get(blob_key)

    # Exhaustive rather than sampled: the blob is small enough to try every position.
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        await blob_store.put(blob_key, bytes(tampered))
        with pytest.raises(IntegrityFailure) as caught:
            await blobs.get_document(data_key=data_key, blob_key=blob_key, document_id=DOC_ID)
        assert caught.value.code == "blob-integrity"


async def test_a_truncated_stored_document_is_refused(blob_store: BlobStore) -> None:
    blobs = EncryptedBlobs(blob_store)
    data_key = new_data_key()
    blob_key = await blobs.put_document(
        data_key=data_key, record_id=RECORD, document_id=DOC_ID, content=CONTENT
    )
    await blob_store.put(blob_key, (await blob_store.get(blob_key))[:-1])
    with pytest.raises(IntegrityFailure):
        await blobs.get_document(data_key=data_key, blob_key=blob_key, document_id=DOC_ID)


async def test_a_stored_document_read_under_another_document_id_is_refused(
    blob_store: BlobStore,
) -> None:
    blobs = EncryptedBlobs(blob_store)
    data_key = new_data_key()
    blob_key = await blobs.put_document(
        data_key=data_key, record_id=RECORD, document_id=DOC_ID, content=CONTENT
    )
    with pytest.raises(IntegrityFailure):
        await blobs.get_document(
            data_key=data_key, blob_key=blob_key, document_id="urn:uuid:someone-else"
        )


async def test_filesystem_the_readiness_check_fails_when_the_store_cannot_be_written(
    tmp_path: Path,
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(ConfigurationError) as caught:
        await FilesystemBlobStore(not_a_dir / "blobs").check()
    assert caught.value.code == "blob-store-not-writable"


async def test_s3_a_missing_bucket_is_a_misconfiguration_told_as_503(s3_endpoint: str) -> None:
    store = S3BlobStore("opendmp-no-such-bucket", "blobs/", endpoint_url=s3_endpoint)
    for call in (store.check(), store.put(f"{RECORD}/blob", b"x"), store.get(f"{RECORD}/blob")):
        with pytest.raises(Unavailable) as caught:
            await call
        assert (caught.value.code, caught.value.http_status) == ("blob-store-misconfigured", 503)
    await store.close()


async def test_s3_an_unreachable_object_store_is_unavailable_after_the_retries(
    s3_endpoint: str,
) -> None:
    # A loopback port nobody listens on: connection refused, retried with backoff.
    store = S3BlobStore("opendmp-bucket", "", endpoint_url="http://127.0.0.1:9", region=REGION)
    store.attempts = 2
    started = time.monotonic()
    for call in (store.check(), store.get(f"{RECORD}/blob"), store.delete_prefix(f"{RECORD}/")):
        with pytest.raises(Unavailable) as caught:
            await call
        assert (caught.value.code, caught.value.http_status) == ("blob-store-unavailable", 503)
        assert "127.0.0.1" not in caught.value.message
    assert time.monotonic() - started < 30
    await store.close()


# --- successes ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4096, 256 * 1024 + 1, 2 * 1024 * 1024])
async def test_a_blob_round_trips_inline_or_in_a_thread(blob_store: BlobStore, size: int) -> None:
    store = blob_store
    data = os.urandom(size)
    await store.put(f"{RECORD}/blob", data)
    assert await store.get(f"{RECORD}/blob") == data


async def test_s3_a_large_blob_goes_up_in_parts_and_comes_back_whole(s3_endpoint: str) -> None:
    store = S3BlobStore(new_bucket(s3_endpoint), "blobs/", endpoint_url=s3_endpoint)
    store.multipart_threshold = 0  # every blob above one part
    data = os.urandom(2 * PART_SIZE + 1)  # three parts
    await store.put(f"{RECORD}/large", data)
    assert await store.get(f"{RECORD}/large") == data
    assert await stored_names(store) == [f"{RECORD}/large"]
    assert await open_uploads(store) == []
    await store.close()


async def test_filesystem_a_written_blob_is_private_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    await store.put(f"{RECORD}/first", b"one")
    await store.put(f"{RECORD}/first", b"two")
    await store.put(f"{RECORD}/second", b"three")

    record_dir = tmp_path / "blobs" / RECORD
    assert sorted(os.listdir(record_dir)) == ["first", "second"]
    assert stat.S_IMODE(os.stat(record_dir / "first").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(record_dir).st_mode) & 0o077 == 0
    assert await store.get(f"{RECORD}/first") == b"two"


async def test_deleting_a_blob_is_idempotent(blob_store: BlobStore) -> None:
    store = blob_store
    await store.put(f"{RECORD}/blob", b"x")
    await store.delete(f"{RECORD}/blob")
    await store.delete(f"{RECORD}/blob")
    await store.delete(f"{OTHER_RECORD}/never-written")
    with pytest.raises(NotFound):
        await store.get(f"{RECORD}/blob")


async def test_iter_keys_lists_every_blob_with_its_mtime_and_skips_temp_files(
    blob_store: BlobStore,
) -> None:
    store = blob_store
    before = time.time() - 2  # S3 keeps whole seconds
    await store.put(f"{RECORD}/a", b"1")
    await store.put(f"{RECORD}/b", b"2")
    await store.put(f"{OTHER_RECORD}/c", b"3")
    set_mtime(store, f"{RECORD}/a", dt.datetime.fromtimestamp(1_700_000_000, dt.UTC))
    leave_crash_leftover(store, RECORD, "crashed")

    listed = {key: mtime async for key, mtime in store.iter_keys()}

    assert set(listed) == {f"{RECORD}/a", f"{RECORD}/b", f"{OTHER_RECORD}/c"}
    assert listed[f"{RECORD}/a"] == 1_700_000_000
    assert before <= listed[f"{RECORD}/b"] <= time.time() + 1


async def test_iter_keys_on_an_empty_store_lists_nothing(blob_store: BlobStore) -> None:
    assert [item async for item in blob_store.iter_keys()] == []
    assert [item async for item in FilesystemBlobStore(Path("/never-created")).iter_keys()] == []


async def test_an_encrypted_document_round_trips_and_is_not_stored_in_clear(
    blob_store: BlobStore,
) -> None:
    blobs = EncryptedBlobs(blob_store)
    data_key = new_data_key()

    blob_key = await blobs.put_document(
        data_key=data_key, record_id=RECORD, document_id=DOC_ID, content=CONTENT
    )

    assert blob_key.startswith(f"{RECORD}/")
    stored = await blob_store.get(blob_key)
    assert CONTENT not in stored
    assert b"Exemple" not in stored
    got = await blobs.get_document(data_key=data_key, blob_key=blob_key, document_id=DOC_ID)
    assert got == CONTENT


async def test_each_deposit_gets_a_fresh_blob_key_so_nothing_is_overwritten(
    blob_store: BlobStore,
) -> None:
    blobs = EncryptedBlobs(blob_store)
    data_key = new_data_key()
    keys = {
        await blobs.put_document(
            data_key=data_key, record_id=RECORD, document_id=DOC_ID, content=CONTENT
        )
        for _ in range(3)
    }
    assert len(keys) == 3


async def test_shredding_a_record_leaves_neither_key_nor_files(blob_store: BlobStore) -> None:
    blobs = EncryptedBlobs(blob_store)
    master = MasterKey.generate()
    wrapped_keys = {RECORD: wrap_data_key(master, new_data_key())}
    other_key = new_data_key()
    data_key = unwrap_data_key(master, wrapped_keys[RECORD])
    for n in range(3):
        await blobs.put_document(
            data_key=data_key, record_id=RECORD, document_id=f"doc-{n}", content=CONTENT
        )
    # A write of the record cut short (S3: an open multipart upload) holds ciphertext too.
    leave_crash_leftover(blob_store, RECORD, "cut-short")
    kept = await blobs.put_document(
        data_key=other_key, record_id=OTHER_RECORD, document_id=DOC_ID, content=CONTENT
    )

    # Crypto-shredding order (docs/architecture.md §7): the wrapped key goes first, then the blobs.
    del wrapped_keys[RECORD]
    removed = await blobs.shred_record(RECORD)

    assert removed == 3
    assert RECORD not in wrapped_keys
    assert await stored_names(blob_store) == [kept]
    assert await open_uploads(blob_store) == []
    assert await blobs.shred_record(RECORD) == 0
    assert await blobs.get_document(data_key=other_key, blob_key=kept, document_id=DOC_ID) == (
        CONTENT
    )


async def test_the_readiness_check_passes_and_leaves_nothing_behind(
    blob_store: BlobStore,
) -> None:
    await blob_store.check()
    assert await stored_names(blob_store) == []


async def test_filesystem_reap_temporaries_removes_old_temp_files_only(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.put(f"{RECORD}/old-blob", b"a key, however old")
    old_temp = tmp_path / RECORD / ".tmp-crashed"
    old_temp.write_bytes(b"partial")
    root_temp = tmp_path / ".tmp-probe-crashed"
    root_temp.write_bytes(b"ok")
    young_temp = tmp_path / RECORD / ".tmp-in-flight"
    young_temp.write_bytes(b"in flight")
    for path in (old_temp, root_temp, tmp_path / RECORD / "old-blob"):
        os.utime(path, (1_700_000_000, 1_700_000_000))

    assert await store.reap_temporaries(1_700_000_000) == 2

    assert not old_temp.exists() and not root_temp.exists()
    assert young_temp.exists()
    assert await store.get(f"{RECORD}/old-blob") == b"a key, however old"
    assert await store.reap_temporaries(1_700_000_000) == 0
    assert await FilesystemBlobStore(tmp_path / "never-created").reap_temporaries(2e9) == 0


async def test_s3_reap_temporaries_aborts_old_uploads_and_removes_old_probes_only(
    s3_endpoint: str,
) -> None:
    bucket = new_bucket(s3_endpoint)
    store = S3BlobStore(bucket, "blobs/", endpoint_url=s3_endpoint)
    await store.put(f"{RECORD}/old-blob", b"a key, however old")
    leave_crash_leftover(store, RECORD, "crashed")  # moto dates every upload 2010-11-10
    for probe in (".probe-crashed", ".probe-in-flight"):  # readiness probes a crash left
        s3_client(s3_endpoint).put_object(Bucket=bucket, Key=f"blobs/{probe}", Body=b"ok")
    long_ago = dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
    for name in (f"{RECORD}/old-blob", ".probe-crashed"):
        set_mtime(store, name, long_ago)

    assert await store.reap_temporaries(1_700_000_000) == 2

    assert await open_uploads(store) == []
    assert await stored_names(store) == [".probe-in-flight", f"{RECORD}/old-blob"]
    assert await store.get(f"{RECORD}/old-blob") == b"a key, however old"
    assert await store.reap_temporaries(1_700_000_000) == 0
    await store.close()
