"""``directory``: the professional directory, loaded from the public RPPS extract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opendmp.cli.backup import progress_bar
from opendmp.cli.common import operator, out, run, with_runtime
from opendmp.services.directory.rpps import ImportReport

directory_app = typer.Typer(help="The professional directory (RPPS extract).", no_args_is_help=True)


def _print_report(report: ImportReport) -> None:
    for number, reason in report.bad_examples:
        out.print(f"line {number}: {reason}", highlight=False)
    if report.bad_lines > len(report.bad_examples):
        out.print(f"… and {report.bad_lines - len(report.bad_examples)} more bad lines")
    out.print(
        f"{report.lines} lines: {report.professionals} professionals"
        f" ({report.created} new, {report.changed} changed, {report.unchanged} unchanged,"
        f" {report.reactivated} listed again), {report.inactivated} marked inactive,"
        f" {report.bad_lines} bad lines skipped",
        highlight=False,
    )
    if report.inactivation_skipped:
        out.print(
            "too many bad lines for a full extract: nobody was marked inactive", highlight=False
        )


@directory_app.command("import")
@run
async def directory_import(
    file: Annotated[
        Path, typer.Option("--file", help="PS_LibreAcces_Personne_activite extract (UTF-8, '|')")
    ],
    partial: Annotated[
        bool,
        typer.Option("--partial", help="the file is not the whole extract: mark nobody inactive"),
    ] = False,
) -> None:
    """Load the RPPS extract: upsert by national identifier; professionals a full extract
    no longer lists are marked inactive."""
    from opendmp.services.directory.rpps import import_rpps

    with progress_bar("importing the directory") as advance:
        report = await with_runtime(
            lambda rt: import_rpps(
                rt.ctx, actor=operator(), path=file, full=not partial, progress=advance
            )
        )
    _print_report(report)
