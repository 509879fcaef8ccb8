"""Backups that are proven (docs/operations.md): ``create_backup`` then ``verify_backup``
on a real database (its own, see backup_support.py), real ``pg_dump``/``pg_restore`` and
a real blob store; then what verification must catch, and how destruction reaches a
backup taken before it (crypto-shredding of its key epoch)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from opendmp.audit.sequencer import sequence_all
from opendmp.audit.verify import of_chain
from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.devtools.demo import seed_demo
from opendmp.services.core.context import ServiceContext
from opendmp.services.operations.backup import BackupSource, BackupSummary, create_backup
from opendmp.services.operations.backup_db import (
    SET_ASIDE_SCHEMA,
    BackupError,
    restore_postgresql,
)
from opendmp.services.operations.backup_verify import VerifyOptions, VerifyReport, verify_backup
from opendmp.services.operations.health import prepare_keys
from opendmp.services.operations.maintenance import run_retention
from opendmp.storage import models as m
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import upgrade
from tests.conftest import Clock, clean
from tests.record_scope import tampering, whole_database
from tests.services.operations.backup_support import (
    BACKENDS,
    create_database,
    drop_database,
    rewrite_manifest_hash,
    scratch_databases,
    scratch_left_since,
)
from tests.services.operations.test_retention import close, record_with_documents

RETENTION_DAYS = 365 * 10 + 3


@dataclass
class Site:
    """One installation: its own database, blob folder and keyring."""

    url: str
    ctx: ServiceContext
    home: Path

    @property
    def source(self) -> BackupSource:
        return BackupSource(self.url, self.ctx.blobs.store, self.ctx.keyring)

    async def backup(self, name: str = "backup") -> tuple[Path, BackupSummary]:
        folder = self.home.parent / name
        return folder, await create_backup(self.source, folder)

    async def verify(
        self, folder: Path, *, masters: tuple[MasterKey, ...] | None = ()
    ) -> VerifyReport:
        keys = (self.ctx.master_key,) if masters == () else masters
        return await verify_backup(folder, VerifyOptions(keys, self.url))


@pytest.fixture(scope="module")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, str]]:
    """One migrated database per backend for the module (creating and dropping a PostgreSQL
    database costs seconds); each test empties it (``clean``)."""
    urls: dict[str, str] = {}
    try:
        for backend in BACKENDS:
            urls[backend] = await create_database(backend, tmp_path_factory.mktemp(backend))
            engine = make_engine(urls[backend], pool_size=1)
            await upgrade(engine)
            await engine.dispose()
        yield urls
    finally:
        for url in urls.values():
            await drop_database(url)


@pytest.fixture(params=BACKENDS)
async def site(
    request: pytest.FixtureRequest, databases: dict[str, str], tmp_path: Path, clock: Clock
) -> AsyncIterator[Site]:
    url = databases[request.param]
    engine = make_engine(url, pool_size=2)
    try:
        await clean(engine)
        home = tmp_path / "home"
        ctx = ServiceContext(
            sessions=make_sessionmaker(engine),
            blobs=EncryptedBlobs(FilesystemBlobStore(home / "blobs")),
            master_key=MasterKey.generate(),
            keyring=Keyring(home / "keys"),
            default_ins_oid="1.2.250.1.213.1.4.10",
            clock=clock,
        )
        await prepare_keys(ctx)
        yield Site(url, ctx, home)
    finally:
        await engine.dispose()


def _blob_keys(folder: Path) -> list[str]:
    return [b["key"] for b in json.loads((folder / "manifest.json").read_text())["blobs"]]


# --- the round trip ------------------------------------------------------------------------


async def test_the_demo_data_backs_up_and_verifies_without_the_master_key_in_the_backup(
    site: Site,
) -> None:
    await seed_demo(site.ctx)
    scratch_before = await scratch_databases()
    seen: list[tuple[int, int]] = []
    folder = site.home.parent / "backup"

    summary = await create_backup(
        site.source, folder, progress=lambda done, total: seen.append((done, total))
    )
    report = await site.verify(folder)

    assert report.ok, report.failures
    assert (summary.documents, summary.records) == (11, 3)
    assert report.documents == report.decrypted == 11
    assert report.blobs == summary.blobs == 11
    assert report.chains >= 4 and report.events == summary.audit_events > 0
    assert seen[-1] == (11, 11)
    assert summary.master_key_ids == (site.ctx.master_key.key_id,)
    # Never the master key, in any form; every file and folder private to its owner.
    master = site.ctx.master_key
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
        if path.is_file():
            data = path.read_bytes()
            assert master.raw not in data and master.to_base64().encode() not in data
    # The blobs are the store's bytes, as stored (ciphertext), and the scratch database is gone.
    key = _blob_keys(folder)[0]
    assert (folder / "blobs" / key).read_bytes() == await site.ctx.blobs.store.get(key)
    assert await scratch_left_since(scratch_before) == set()


async def test_a_postgresql_restore_that_fails_leaves_the_database_as_it_was(
    site: Site,
) -> None:
    if not site.url.startswith("postgresql"):
        pytest.skip("the schema set aside during a restore is PostgreSQL's")
    await seed_demo(site.ctx)
    folder, summary = await site.backup()
    dump = folder / "database.pgdump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])  # cut half-way

    with pytest.raises(BackupError) as failed:
        await restore_postgresql(dump, site.url, bin_dir=None, dump_major=None, clean=True)

    assert failed.value.code == "pg-restore-failed"
    async with site.ctx.sessions() as session:
        count = whole_database(select(func.count()).select_from(m.Record))
        records = (await session.execute(count)).scalar()
        schemas = await session.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname = :n"), {"n": SET_ASIDE_SCHEMA}
        )
        assert schemas.first() is None
    assert records == summary.records == 3
    # A schema left by a restore killed half-way is refused, and left for the operator.
    async with site.ctx.sessions() as session:
        await session.execute(text(f"CREATE SCHEMA {SET_ASIDE_SCHEMA}"))
        await session.commit()
    try:
        with pytest.raises(BackupError) as refused:
            await restore_postgresql(dump, site.url, bin_dir=None, dump_major=None, clean=True)
        assert refused.value.code == "restore-interrupted-before"
    finally:
        async with site.ctx.sessions() as session:
            await session.execute(text(f"DROP SCHEMA {SET_ASIDE_SCHEMA}"))
            await session.commit()


async def test_a_folder_that_is_not_empty_is_refused_and_left_alone(site: Site) -> None:
    folder = site.home.parent / "taken"
    folder.mkdir()
    (folder / "something").write_text("keep me")

    with pytest.raises(BackupError) as refused:
        await create_backup(site.source, folder)

    assert refused.value.code == "backup-dir-not-empty"
    assert [p.name for p in folder.iterdir()] == ["something"]


# --- what verification catches --------------------------------------------------------------


async def test_verify_reports_a_corrupted_blob_and_a_missing_blob(site: Site) -> None:
    await record_with_documents(site.ctx, 3)
    folder, _ = await site.backup()
    corrupted, missing, intact = _blob_keys(folder)
    blob = folder / "blobs" / corrupted
    data = bytearray(blob.read_bytes())
    data[20] ^= 0x01
    blob.write_bytes(bytes(data))
    (folder / "blobs" / missing).unlink()

    report = await site.verify(folder)

    assert not report.ok
    assert f"blob {corrupted} is corrupted (SHA-256 differs)" in report.failures
    assert f"blob {missing} is missing from the backup" in report.failures
    assert sum("its blob is not in the backup" in f for f in report.failures) == 2
    assert (report.documents, report.decrypted, report.blobs) == (3, 1, 1)
    assert intact


async def test_verify_decrypts_so_a_blob_swapped_with_a_matching_manifest_is_caught(
    site: Site,
) -> None:
    await record_with_documents(site.ctx, 2)
    folder, _ = await site.backup()
    first, second = _blob_keys(folder)
    a, b = folder / "blobs" / first, folder / "blobs" / second
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    rewrite_manifest_hash(folder, first)
    rewrite_manifest_hash(folder, second)

    hashes_only = await site.verify(folder, masters=None)
    decrypted = await site.verify(folder)

    assert hashes_only.ok, hashes_only.failures  # the manifest agrees: only keys can tell
    assert not decrypted.ok
    assert sum("(blob-integrity)" in f for f in decrypted.failures) == 2


async def test_verify_reports_a_master_key_mismatch(site: Site) -> None:
    await record_with_documents(site.ctx, 1)
    folder, _ = await site.backup()

    report = await site.verify(folder, masters=(MasterKey.generate(),))

    assert not report.ok
    [failure] = report.failures
    assert failure.startswith("master key mismatch: this backup needs master key ")
    assert site.ctx.master_key.key_id in failure
    assert report.decrypted == 0 and report.documents == 1


async def test_verify_catches_a_tampered_audit_event_and_a_content_hash_that_differs(
    site: Site,
) -> None:
    _, record_id = await record_with_documents(site.ctx, 2)
    await sequence_all(site.ctx.sessions)  # what the worker does within a fraction of a second
    # What an intruder with database access would do.
    with tampering("a chained event and a document's hash changed by hand"):
        doc_id, seq = await _tamper(site, record_id)
    folder, _ = await site.backup()

    report = await site.verify(folder)

    assert f"document {doc_id}: its content does not match its stored SHA-256" in report.failures
    broken = [f for f in report.failures if f.startswith(f"audit chain {record_id} is broken")]
    altered = f"event {seq} was altered (its hash does not match)"
    assert broken == [f"audit chain {record_id} is broken: {altered}"]
    assert report.decrypted == 1


async def _tamper(site: Site, record_id: str) -> tuple[object, int | None]:
    """Change the chain's first event and a document's stored hash by hand; their ids."""
    async with site.ctx.uow() as uow:
        event = (
            await uow.session.execute(
                select(m.AuditEvent)
                .where(of_chain(str(record_id)))
                .order_by(m.AuditEvent.seq)
                .limit(1)
            )
        ).scalar_one()
        event.outcome = "9"
        doc = (
            (await uow.session.execute(select(m.Document).where(m.Document.record_id.is_not(None))))
            .scalars()
            .first()
        )
        assert doc is not None
        await uow.session.execute(
            update(m.Document).where(m.Document.id == doc.id).values(sha256="0" * 64)
        )
        await uow.commit()
    return doc.id, event.seq


# --- destruction and backups ----------------------------------------------------------------


async def test_a_destroyed_record_in_an_older_backup_is_shredded_once_its_key_epoch_is_gone(
    site: Site, clock: Clock
) -> None:
    doomed_ins, doomed_id = await record_with_documents(site.ctx, 2)
    await record_with_documents(site.ctx, 1)
    await close(site.ctx, doomed_ins)
    before, taken = await site.backup("before")
    assert (await site.verify(before)).ok  # the backup opens the doomed record: the test can fail

    clock.advance(days=RETENTION_DAYS)
    result = await run_retention(site.ctx)
    assert result.destroyed == 1 and result.epoch is not None

    # The live keyring no longer holds the epoch the old backup's data keys are wrapped by.
    assert not set(taken.epochs) & set(site.ctx.keyring.epochs())
    # The stated limit: the backup's own copy of that KEK, with the master key, still opens it.
    assert (await site.verify(before)).ok
    # Once that copy has expired (erased, as retention of keyring copies requires), every key
    # OpenDMP still holds (the master key, the current keyring) opens none of its records.
    for kek in (before / "keyring").iterdir():
        kek.unlink()
    shutil.copytree(site.ctx.keyring.directory, before / "keyring", dirs_exist_ok=True)
    shredded = await site.verify(before)
    assert not shredded.ok and shredded.decrypted == 0
    assert any(
        f.startswith(f"record {doomed_id}: ") and "(kek-missing)" in f for f in shredded.failures
    )
    # A backup taken after the destruction holds only the survivor, and verifies.
    after, summary = await site.backup("after")
    assert summary.records == 1 and summary.documents == 1
    assert (await site.verify(after)).ok
    assert not any(k.startswith(f"{doomed_id}/") for k in _blob_keys(after))
    assert os.listdir(after / "keyring") == [f"kek-{result.epoch:06d}.json"]


# --- writers during the backup --------------------------------------------------------------


class ChangedDuringListing(FilesystemBlobStore):
    """The store as a concurrent writer leaves it: ``change`` runs when the backup lists the
    blobs, after the database snapshot (a deposit or a destruction meanwhile)."""

    def __init__(self, root: Path, change: Callable[[FilesystemBlobStore], Awaitable[None]]):
        super().__init__(root)
        self.change = change

    async def iter_keys(self) -> AsyncIterator[tuple[str, float]]:
        await self.change(self)
        async for item in super().iter_keys():
            yield item


async def test_a_blob_written_after_the_snapshot_is_a_harmless_extra(site: Site) -> None:
    _, record_id = await record_with_documents(site.ctx, 2)
    extra = f"{record_id}/{'e' * 32}"

    async def deposit(store: FilesystemBlobStore) -> None:
        await store.put(extra, b"a blob no row of the snapshot references")

    store = ChangedDuringListing(site.home / "blobs", deposit)
    folder = site.home.parent / "backup"
    summary = await create_backup(BackupSource(site.url, store, site.ctx.keyring), folder)
    report = await site.verify(folder)

    assert extra in _blob_keys(folder)
    assert (summary.blobs, summary.documents) == (3, 2)
    assert report.ok, report.failures
    assert (report.blobs, report.decrypted) == (3, 2)


async def test_a_referenced_blob_that_leaves_the_store_during_the_backup_fails_it(
    site: Site,
) -> None:
    await record_with_documents(site.ctx, 2)
    victim, *_ = [key async for key, _ in site.ctx.blobs.store.iter_keys()]

    async def destroy(store: FilesystemBlobStore) -> None:
        await store.delete(victim)

    store = ChangedDuringListing(site.home / "blobs", destroy)
    with pytest.raises(BackupError) as refused:
        await create_backup(BackupSource(site.url, store, site.ctx.keyring), site.home.parent / "b")

    assert refused.value.code == "backup-blob-vanished"
    assert not (site.home.parent / "b" / "manifest.json").exists()
