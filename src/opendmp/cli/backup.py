"""``backup``: create, verify and restore backups (docs/operations.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from opendmp.app import build_runtime, load_master_key
from opendmp.blobs import MasterKey, read_previous_master_key
from opendmp.cli.common import err, out, run, settings
from opendmp.services.core.keys import master_keys
from opendmp.services.operations.backup import BackupSource, BackupSummary, create_backup
from opendmp.services.operations.backup import Progress as ProgressCallback
from opendmp.services.operations.backup_restore import RestoreTarget, restore_backup
from opendmp.services.operations.backup_verify import VerifyOptions, VerifyReport, verify_backup
from opendmp.services.operations.health import prepare_keys
from opendmp.storage.migrate import ensure_up_to_date

backup_app = typer.Typer(help="Backups: create, verify, restore.", no_args_is_help=True)

PgBinOption = Annotated[
    Path | None,
    typer.Option("--pg-bin", help="folder of pg_dump / pg_restore (default: the newest found)"),
]
FolderArgument = Annotated[Path, typer.Argument(help="the backup folder")]
# Failures listed one per line before the summary; the rest are counted.
SHOWN_FAILURES = 20


@contextlib.contextmanager
def progress_bar(what: str) -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, fed by the services' ``(done, total)`` callback."""
    with Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _created_line(s: BackupSummary) -> str:
    epochs = ", ".join(str(e) for e in s.epochs) or "none"
    return (
        f"backup written to {s.folder}: {s.backend} database ({s.records} records, "
        f"{s.documents} documents, {s.audit_events} audit events), {s.blobs} blobs "
        f"({_size(s.blob_bytes)}), key epochs {epochs}; restoring needs master key "
        f"{', '.join(s.master_key_ids) or '(any)'}"
    )


@backup_app.command("create")
@run
async def backup_create(
    to: Annotated[Path, typer.Option("--to", help="a new or empty folder")],
    pg_bin: PgBinOption = None,
) -> None:
    """Copy the database, every blob (as stored, encrypted) and the key-encryption keys."""
    s = settings()
    rt = build_runtime(s)
    try:
        await ensure_up_to_date(rt.engine)
        source = BackupSource(s.effective_database_url, rt.ctx.blobs.store, rt.ctx.keyring, pg_bin)
        with progress_bar("copying blobs") as advance:
            summary = await create_backup(source, to, progress=advance)
    finally:
        await rt.close()
    out.print(_created_line(summary), highlight=False, soft_wrap=True)


def _environment_master_keys() -> tuple[MasterKey, ...]:
    s = settings()
    current = load_master_key(s, create=False)
    previous = None if s.master_key else read_previous_master_key(s.key_dir)
    return (current,) if previous is None else (current, previous)


def _verified_line(r: VerifyReport) -> str:
    decrypted = f"{r.decrypted} decrypted and matched" if r.records else "hashes only"
    upgraded = f" (upgraded from {r.upgraded_from})" if r.upgraded_from else ""
    return (
        f"{r.backend} database at {r.revision}{upgraded}; {r.blobs} blobs "
        f"({_size(r.blob_bytes)}) match the manifest; {r.documents} documents ({decrypted}); "
        f"{r.chains} audit chains, {r.events} events"
    )


@backup_app.command("verify")
@run
async def backup_verify(
    folder: FolderArgument,
    without_master_key: Annotated[
        bool,
        typer.Option("--without-master-key", help="check hashes and chains only, decrypt nothing"),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="PostgreSQL server for the scratch database (default: OPENDMP_DATABASE_URL)",
        ),
    ] = None,
    pg_bin: PgBinOption = None,
) -> None:
    """Restore into a scratch database and check every blob, document and audit chain."""
    masters = None if without_master_key else _environment_master_keys()
    server = database_url or settings().effective_database_url
    report = await verify_backup(folder, VerifyOptions(masters, server, pg_bin))
    for failure in report.failures[:SHOWN_FAILURES]:
        err.print(f"[red]FAIL[/red] {failure}", highlight=False, soft_wrap=True)
    hidden = len(report.failures) - SHOWN_FAILURES
    if hidden > 0:
        err.print(f"… and {hidden} more failure(s)")
    if not report.ok:
        err.print(
            f"backup NOT verified, {len(report.failures)} failure(s): {_verified_line(report)}"
        )
        raise typer.Exit(2)
    out.print(f"backup verified: {_verified_line(report)}", highlight=False, soft_wrap=True)


@backup_app.command("restore")
@run
async def backup_restore(
    folder: FolderArgument,
    force: Annotated[
        bool, typer.Option("--force", help="replace a database that holds data")
    ] = False,
    pg_bin: PgBinOption = None,
) -> None:
    """Restore a backup into the configured database, blob store and keyring (server stopped)."""
    s = settings()
    rt = build_runtime(s)
    try:
        target = RestoreTarget(
            s.effective_database_url,
            rt.ctx.blobs.store,
            rt.ctx.keyring,
            master_keys(rt.ctx),
            pg_bin,
        )
        with progress_bar("restoring blobs") as advance:
            summary = await restore_backup(folder, target, force=force, progress=advance)
        await prepare_keys(rt.ctx)  # as at start-up: the master key and every KEK in place
    finally:
        await rt.close()
    upgraded = f", schema upgraded from {summary.upgraded_from}" if summary.upgraded_from else ""
    out.print(
        f"restored {summary.documents} documents, {summary.blobs} blobs, key epochs "
        f"{', '.join(str(e) for e in summary.epochs) or 'none'}{upgraded}; "
        "then start the server",
        highlight=False,
        soft_wrap=True,
    )
