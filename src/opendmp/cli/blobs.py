"""``blobs``: the blob store (docs/blobs.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from opendmp.blobs import BlobStore, FilesystemBlobStore
from opendmp.blobs.migrate import MigrationReport, count_blobs, migrate_blobs
from opendmp.blobs.select import open_blob_store
from opendmp.cli.common import out, run, settings
from opendmp.domain.errors import InvalidInput

blobs_app = typer.Typer(help="Blob store (encrypted document content).", no_args_is_help=True)


def _where(store: BlobStore) -> str:
    if isinstance(store, FilesystemBlobStore):
        return f"file://{store.root.resolve()}"
    return str(getattr(store, "url", repr(store)))


def _target(url: str) -> BlobStore:
    try:
        return open_blob_store(settings(), url)
    except ValueError as exc:
        raise InvalidInput(f"--to: {exc}", code="invalid-blob-store") from None


async def _copy(source: BlobStore, target: BlobStore) -> MigrationReport:
    total = await count_blobs(source)
    columns = (
        TextColumn("copying blobs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("blobs", total=total)
        return await migrate_blobs(
            source, target, on_blob=lambda _key, _size: progress.advance(task)
        )


@blobs_app.command("migrate")
@run
async def blobs_migrate(
    to: Annotated[
        str, typer.Option("--to", help="target store: s3://<bucket>/<prefix> or file:///path")
    ],
) -> None:
    """Copy every blob, as stored (ciphertext), from the configured store to another, each
    verified by SHA-256; run it again to resume: blobs already copied are skipped."""
    source, target = open_blob_store(settings()), _target(to)
    if _where(source) == _where(target):
        raise InvalidInput("--to names the store in use: nothing to copy", code="same-blob-store")
    try:
        await target.check()
        report = await _copy(source, target)
    finally:
        await source.close()
        await target.close()
    out.print(
        f"{report.verified} blob(s) in {_where(target)}, verified by SHA-256: "
        f"{report.copied} copied, {report.replaced} copied again (differed), "
        f"{report.skipped} already there; {report.bytes_copied} bytes sent"
        + (f"; {report.vanished} deleted from the source meanwhile" if report.vanished else ""),
        highlight=False,
    )
    out.print(f"next: stop OpenDMP, set OPENDMP_BLOB_STORE={to}, run this again, start OpenDMP")
