"""Operations: ``db``, ``retention`` and ``audit``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from opendmp.app import Runtime, build_runtime
from opendmp.cli.common import err, out, parse_ins_option, run, settings, with_runtime
from opendmp.services.operations import maintenance
from opendmp.services.operations.health import prepare_keys
from opendmp.storage.migrate import upgrade

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of closed records.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail.", no_args_is_help=True)


@db_app.command("upgrade")
@run
async def db_upgrade() -> None:
    """Apply the schema migrations."""
    s = settings()
    rt = build_runtime(s)
    try:
        await upgrade(rt.engine)
        await prepare_keys(rt.ctx)  # data keys from before epochs move to epoch 1
    finally:
        await rt.close()
    out.print("database schema is up to date")


@retention_app.command("run")
@run
async def retention_run() -> None:
    """Destroy the closed records past their retention period."""
    result = await with_runtime(lambda rt: maintenance.run_retention(rt.ctx))
    out.print(f"destroyed {result.destroyed} record(s), {result.blobs_deleted} blob(s)")
    if result.epoch is not None:
        out.print(f"key-encryption keys rotated to epoch {result.epoch}; older ones erased")


@audit_app.command("verify")
@run
async def audit_verify(
    ins: Annotated[str | None, typer.Option("--ins", help="only this record's chain")] = None,
) -> None:
    """Walk the audit hash chains and report the first broken link."""

    async def _do(rt: Runtime) -> list[Any]:
        return await maintenance.verify_audit(
            rt.ctx, ins=parse_ins_option(ins, rt) if ins else None
        )

    reports = await with_runtime(_do)
    broken = [r for r in reports if not r.ok]
    events = sum(r.events for r in reports)
    for r in broken:
        err.print(f"[red]BROKEN[/red] chain {r.chain}: {r.problem}", highlight=False)
    if broken:
        err.print(f"{len(broken)} of {len(reports)} chain(s) broken")
        raise typer.Exit(2)
    unchained = sum(r.unchained for r in reports)
    tail = ""
    if unchained:
        oldest = min(r.oldest_unchained for r in reports if r.oldest_unchained is not None)
        age = (dt.datetime.now(dt.UTC) - oldest).total_seconds()
        tail = f"; {unchained} not chained yet, the oldest for {age:.1f} s"
    out.print(f"audit trail intact: {len(reports)} chain(s), {events} event(s){tail}")
