"""``opendmp blobs migrate --to …`` (docs/blobs.md): every blob copied as stored, verified
by SHA-256, resumable; and a home whose blobs moved to S3 keeps working, ``keys rotate``
included. The S3 side is moto's server on loopback (tests/s3_support.py)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from opendmp.app import build_runtime
from opendmp.blobs import BlobStore, FilesystemBlobStore
from opendmp.blobs.migrate import migrate_blobs
from opendmp.blobs.s3 import S3BlobStore
from opendmp.cli import app
from opendmp.config import Settings, load_settings
from opendmp.domain.errors import IntegrityFailure
from opendmp.domain.identifiers import Ins
from opendmp.services import documents
from opendmp.services.records import lifecycle as records
from opendmp.storage import models as m
from tests import factories as made
from tests.blob_support import stored_names
from tests.record_scope import whole_database
from tests.s3_support import REGION, open_test_store

RECORDS = [f"{uuid.uuid4()}" for _ in range(3)]


@pytest.fixture(autouse=True)
def _only_the_home_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


async def fill(store: BlobStore, count: int = 7) -> dict[str, bytes]:
    """``count`` blobs over three records (random bytes: ciphertext looks like that)."""
    written = {}
    for n in range(count):
        key = f"{RECORDS[n % 3]}/{uuid.uuid4().hex}"
        written[key] = os.urandom(100 + n * 1000)
        await store.put(key, written[key])
    return written


async def contents(store: BlobStore) -> dict[str, bytes]:
    return {key: await store.get(key) async for key, _ in store.iter_keys()}


class Interrupted(Exception):
    pass


# --- the copy ---------------------------------------------------------------------------------


async def test_an_interrupted_migration_resumes_where_it_stopped(
    tmp_path: Path, s3_endpoint: str
) -> None:
    source, target = FilesystemBlobStore(tmp_path / "blobs"), open_test_store(s3_endpoint)
    written = await fill(source)
    done: list[str] = []

    def stop_after_three(key: str, _size: int) -> None:
        done.append(key)
        if len(done) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        await migrate_blobs(source, target, on_blob=stop_after_three)
    assert await stored_names(target) == sorted(done)

    report = await migrate_blobs(source, target)

    assert (report.skipped, report.copied, report.replaced) == (3, 4, 0)
    assert report.bytes_copied == sum(len(written[k]) for k in written if k not in done)
    assert await contents(target) == written
    assert await contents(source) == written  # the source is left as it was
    again = await migrate_blobs(source, target)
    assert (again.skipped, again.copied, again.bytes_copied) == (7, 0, 0)
    await target.close()


async def test_a_copy_that_differs_in_the_target_is_copied_again(
    tmp_path: Path, s3_endpoint: str
) -> None:
    source, target = FilesystemBlobStore(tmp_path / "blobs"), open_test_store(s3_endpoint)
    written = await fill(source, 3)
    await migrate_blobs(source, target)
    damaged = sorted(written)[1]
    await target.put(damaged, written[damaged][:-1])  # a copy cut short, or altered

    report = await migrate_blobs(source, target)

    assert (report.skipped, report.replaced, report.copied) == (2, 1, 0)
    assert await target.get(damaged) == written[damaged]
    await target.close()


class CorruptingStore(FilesystemBlobStore):
    """A target that stores something else than it is given (a faulty disk or gateway)."""

    async def put(self, key: str, data: bytes) -> None:
        await super().put(key, data[:-1] + bytes([data[-1] ^ 1]) if data else b"x")


async def test_verification_catches_a_copy_that_reads_back_different(
    tmp_path: Path, blob_store: BlobStore
) -> None:
    await fill(blob_store, 2)
    target = CorruptingStore(tmp_path / "target")

    with pytest.raises(IntegrityFailure) as caught:
        await migrate_blobs(blob_store, target)

    assert caught.value.code == "blob-migration-mismatch"
    assert len(await stored_names(target)) == 1  # stopped at the first bad copy


@pytest.mark.parametrize("blob_store", ["s3"], indirect=True)
async def test_blobs_come_back_from_s3_to_a_folder_too(
    tmp_path: Path, blob_store: BlobStore
) -> None:
    written = await fill(blob_store, 4)
    target = FilesystemBlobStore(tmp_path / "back")
    report = await migrate_blobs(blob_store, target)
    assert (report.copied, report.verified) == (4, 4)
    assert await contents(target) == written


# --- the command ------------------------------------------------------------------------------


class Home:
    """An OpenDMP home in a temp folder, driven as an operator would."""

    def __init__(self, home: Path, s3_endpoint: str) -> None:
        self.home, self.runner = home, CliRunner()
        self.env = {
            "OPENDMP_HOME": str(home),
            "OPENDMP_S3_ENDPOINT_URL": s3_endpoint,
            "OPENDMP_S3_REGION": REGION,
        }

    def __call__(self, *args: str, store: str | None = None) -> Result:
        env = self.env | ({"OPENDMP_BLOB_STORE": store} if store else {})
        return self.runner.invoke(app, list(args), env=env)

    def ok(self, *args: str, store: str | None = None) -> Result:
        result = self(*args, store=store)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def settings(self, store: str | None) -> Settings:
        extra = {"blob_store": store} if store else {}
        return load_settings(
            home=self.home,
            s3_endpoint_url=self.env["OPENDMP_S3_ENDPOINT_URL"],
            s3_region=REGION,
            **extra,
        )

    async def deposit(self, ins: Ins, contents: list[bytes]) -> None:
        rt = build_runtime(self.settings(None))
        try:
            ctx = rt.ctx
            await records.create_record(
                ctx, actor=made.OPERATOR, request=made.new_record(ins, ctx.now())
            )
            for content in contents:
                await documents.deposit_document(
                    ctx,
                    actor=made.make_professional(),
                    ins=ins,
                    submission=made.submission(ctx.now(), content),
                )
        finally:
            await rt.close()

    async def read(self, ins: Ins, store: str | None) -> list[bytes]:
        rt = build_runtime(self.settings(store))
        try:
            async with rt.ctx.sessions() as session:
                ids = (await session.execute(whole_database(select(m.Document.id)))).scalars().all()
            read = [
                await documents.read_document(
                    rt.ctx, actor=made.patient_actor(ins), ins=ins, document_id=doc_id
                )
                for doc_id in ids
            ]
            return sorted(content for _, content in read)
        finally:
            await rt.close()


def digests(names: list[bytes]) -> list[str]:
    return [hashlib.sha256(n).hexdigest() for n in names]


def test_a_home_moved_to_s3_serves_the_same_documents_and_rotates_its_keys(
    tmp_path: Path, s3_endpoint: str, s3_store_url: str
) -> None:
    home = Home(tmp_path / "home", s3_endpoint)
    home.ok("init")
    ins = made.make_ins()
    deposited = sorted([b"%PDF-1.4 compte rendu fictif", b"<ClinicalDocument/> fictif"])
    asyncio.run(home.deposit(ins, deposited))
    assert asyncio.run(home.read(ins, None)) == deposited

    result = home.ok("blobs", "migrate", "--to", s3_store_url)

    assert "2 blob(s)" in result.stdout and "2 copied" in result.stdout
    assert f"OPENDMP_BLOB_STORE={s3_store_url}" in result.stdout
    assert asyncio.run(home.read(ins, s3_store_url)) == deposited
    # Resumed, or run again after the switch: nothing to send.
    again = home.ok("blobs", "migrate", "--to", s3_store_url)
    assert "2 already there" in again.stdout and "0 bytes sent" in again.stdout
    # keys rotate re-wraps the data keys; the S3 objects are untouched and still decrypt.
    home.ok("keys", "rotate", store=s3_store_url)
    assert asyncio.run(home.read(ins, s3_store_url)) == deposited


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("ftp://example.org/blobs", "invalid-blob-store"),
        ("s3://Not_A_Bucket/blobs", "invalid-blob-store"),
        ("s3://opendmp-no-such-bucket/blobs", "blob-store-misconfigured"),
    ],
)
def test_a_migration_to_a_bad_target_fails_in_one_line_and_copies_nothing(
    tmp_path: Path, s3_endpoint: str, target: str, code: str
) -> None:
    home = Home(tmp_path / "home", s3_endpoint)
    home.ok("init")
    result = home("blobs", "migrate", "--to", target)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert f"({code})" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_migration_onto_the_store_in_use_is_refused(tmp_path: Path, s3_endpoint: str) -> None:
    home = Home(tmp_path / "home", s3_endpoint)
    home.ok("init")
    result = home("blobs", "migrate", "--to", f"file://{tmp_path / 'home' / 'blobs'}")
    assert result.exit_code == 1
    assert "(same-blob-store)" in result.stderr


def test_an_s3_store_is_what_a_bucket_url_names(s3_endpoint: str) -> None:
    store = open_test_store(s3_endpoint)
    assert isinstance(store, S3BlobStore) and store.prefix == "blobs/"
