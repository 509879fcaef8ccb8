"""``bench``: benchmark datasets."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from opendmp.app import Runtime
from opendmp.cli.common import err, out, run, with_runtime
from opendmp.domain.errors import InvalidInput

bench_app = typer.Typer(help="Benchmark datasets.", no_args_is_help=True)


@bench_app.command("seed")
@run
async def bench_seed(
    records: Annotated[int, typer.Option("--records", min=1, help="records to add")] = 100,
    docs_per_record: Annotated[
        int, typer.Option("--docs-per-record", min=0, help="documents per record")
    ] = 100,
    size: Annotated[str, typer.Option(help="10k, 100k or mixed (1 in 10 is 100k)")] = "10k",
) -> None:
    """Bulk-load synthetic records and encrypted CDA documents (for benchmarks)."""
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    from opendmp.devtools.bulk_seed import SIZES, seed_bulk

    if size not in {*SIZES, "mixed"}:
        raise InvalidInput("--size must be 10k, 100k or mixed", code="invalid-size")
    started = time.perf_counter()

    async def _do(rt: Runtime) -> Any:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            "{task.completed}/{task.total}",
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("records", total=records)
            return await seed_bulk(
                rt.ctx,
                records=records,
                docs_per_record=docs_per_record,
                size=size,
                progress=lambda n: bar.advance(task, n),
            )

    result = await with_runtime(_do)
    elapsed = time.perf_counter() - started
    out.print(
        f"seeded {result.records} record(s) and {result.documents} document(s) "
        f"({result.bytes_written / 1e6:.1f} MB of blobs) in {elapsed:.1f}s "
        f"({result.documents / max(elapsed, 1e-9):.0f} documents/s); first bench INS index "
        f"{result.first_index}"
    )
