"""Turn benchmark results (benchmarks/results/*.json) into docs/benchmarks.md with plots.

python benchmarks/report.py benchmarks/results/bench-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
PLOTS = ROOT / "docs" / "benchmarks"

# (scenario, clients, metric, comparison, target, label) — the targets (issue 13).
TARGETS = [
    (
        "ITI-68 retrieve 10 KB, one",
        16,
        "throughput_rps",
        ">=",
        1000,
        "retrieve 10 KB, one patient /s",
    ),
    ("ITI-68 retrieve 10 KB, many", 16, "throughput_rps", ">=", 1000, "retrieve 10 KB, many /s"),
    (
        "ITI-68 retrieve 100 KB, one",
        16,
        "throughput_rps",
        ">=",
        600,
        "retrieve 100 KB, one patient /s",
    ),
    ("ITI-68 retrieve 100 KB, many", 16, "throughput_rps", ">=", 600, "retrieve 100 KB, many /s"),
    ("ITI-67 search, one", 16, "throughput_rps", ">=", 800, "search, one patient /s"),
    ("ITI-67 search, many", 16, "throughput_rps", ">=", 800, "search, many patients /s"),
    ("ITI-67 search, one", 16, "p99_ms", "<=", 50, "search, one patient p99 ms"),
    ("ITI-67 search, many", 16, "p99_ms", "<=", 50, "search, many patients p99 ms"),
    ("ITI-65 provide 10 KB, many", 16, "throughput_rps", ">=", 600, "provide, many patients /s"),
    ("ITI-65 provide 10 KB, many", 16, "p99_ms", "<=", 80, "provide, many patients p99 ms"),
    ("ITI-65 provide 10 KB, one", 16, "throughput_rps", ">=", 300, "provide, one patient /s"),
    ("ITI-68 retrieve 10 KB, one", 16, "ratio_to_noop", ">=", 0.5, "retrieve 10 KB / no-op"),
    ("ITI-68 retrieve 10 KB, many", 16, "ratio_to_noop", ">=", 0.5, "retrieve 10 KB many / no-op"),
    ("ITI-67 search, one", 16, "ratio_to_noop", ">=", 0.4, "search / no-op"),
    ("ITI-67 search, many", 16, "ratio_to_noop", ">=", 0.4, "search many / no-op"),
    ("ITI-65 provide 10 KB, many", 16, "ratio_to_noop", ">=", 0.3, "provide many / no-op"),
    ("ITI-65 provide 10 KB, one", 16, "ratio_to_noop", ">=", 0.3, "provide one / no-op"),
]


def load(paths: list[Path]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for path in paths:
        data = json.loads(path.read_text())
        for run in data["runs"]:
            run["_file"] = path.name
            run["_machine"] = data.get("machine", {})
            run["_code"] = data.get("code", "?")
            run.setdefault("workers", 1)
            runs.append(run)
    return runs


def find(run: dict[str, Any], scenario: str, clients: int) -> dict[str, Any] | None:
    for res in run["results"]:
        if res["scenario"].startswith(scenario) and res["clients"] == clients:
            return res
    return None


def table(run: dict[str, Any]) -> str:
    lines = [
        f"### {run['database']} — {run['documents']:,} documents "
        f"(startup {run['startup_seconds']} s, peak RSS {run['peak_rss_mb']} MB, "
        f"{run['workers']} worker(s); seeded in {run['dataset']['seed_seconds']} s)",
        "",
        "| scenario | clients | req/s | ÷ no-op | p50 ms | p95 ms | p99 ms | errors "
        "| server CPU ms/req | driver CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run["results"]:
        ratio = f"{r['ratio_to_noop']:.3f}" if "ratio_to_noop" in r else ""
        lines.append(
            f"| {r['scenario']} | {r['clients']} | {r['throughput_rps']:.1f} | {ratio} "
            f"| {r['p50_ms']:.1f} "
            f"| {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} "
            f"| {r['server_cpu_ms_per_request']:.2f} | {r['driver_cpu_ms_per_request']:.3f} |"
        )
    return "\n".join(lines)


def targets(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| target | goal | "
        + " | ".join(f"{r['database']} {r['documents']:,} w{r['workers']}" for r in runs)
        + " |",
        "|---|---|" + "---:|" * len(runs),
    ]
    for scenario, clients, metric, op, goal, label in TARGETS:
        cells = []
        for run in runs:
            res = find(run, scenario, clients)
            if res is None:
                cells.append("—")
                continue
            value = res[metric]
            ok = value >= goal if op == ">=" else value <= goal
            shown = f"{value:.3f}" if metric == "ratio_to_noop" else f"{value:.1f}"
            cells.append(f"{shown} {'✅' if ok else '❌'}")
        lines.append(f"| {label} | {op} {goal} | " + " | ".join(cells) + " |")
    startup = " | ".join(
        f"{r['startup_seconds']} {'✅' if r['startup_seconds'] <= 3 else '❌'}" for r in runs
    )
    lines.append(f"| `opendmp serve` ready (s) | <= 3 | {startup} |")
    rss = " | ".join(
        f"{r['peak_rss_mb']} {'✅' if r['peak_rss_mb'] <= 250 else '❌'}" for r in runs
    )
    lines.append(f"| peak RSS per worker (MB) | <= 250 | {rss} |")
    growth = []
    for db in sorted({r["database"] for r in runs}):
        sized = sorted((r for r in runs if r["database"] == db), key=lambda r: r["documents"])
        if len(sized) >= 2:
            small, large = find(sized[0], "ITI-67 search", 1), find(sized[-1], "ITI-67 search", 1)
            if small and large and small["p50_ms"]:
                ratio = large["p50_ms"] / small["p50_ms"]
                growth.append(f"{db}: {ratio:.2f} {'✅' if ratio <= 1.2 else '❌'}")
    if growth:
        lines.append(
            "| ITI-67 p50 at the largest size / at the smallest (1 client) | <= 1.2 | "
            + "; ".join(growth)
            + " |"
        )
    return "\n".join(lines)


def before_after(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """Throughput and its ratio to the no-op request, before → after, per database and
    number of workers (the ratio is what compares across runs on a shared machine)."""
    lines = [
        "| database | workers | scenario | req/s before → after | ÷ no-op before → after "
        "| p99 ms before → after | server CPU ms/req before → after |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for old in before:
        new = next(
            (
                r
                for r in after
                if (r["database"], r["documents"], r["workers"])
                == (old["database"], old["documents"], old["workers"])
            ),
            None,
        )
        if new is None:
            continue
        seen = set()
        for res in old["results"]:
            if res["scenario"] in seen:
                continue
            seen.add(res["scenario"])
            now = find(new, res["scenario"], res["clients"])
            if now is None:
                continue
            ratio = (
                f"{res['ratio_to_noop']:.3f} → **{now['ratio_to_noop']:.3f}**"
                if "ratio_to_noop" in res and "ratio_to_noop" in now
                else "—"
            )
            lines.append(
                f"| {old['database']} | {old['workers']} | {res['scenario']} "
                f"| {res['throughput_rps']:.0f} → {now['throughput_rps']:.0f} | {ratio} "
                f"| {res['p99_ms']:.0f} → {now['p99_ms']:.0f} "
                f"| {res['server_cpu_ms_per_request']:.1f} → "
                f"{now['server_cpu_ms_per_request']:.1f} |"
            )
    return "\n".join(lines)


def plots(runs: list[dict[str, Any]]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["(plots need matplotlib: `pip install -e '.[bench]'`)"]
    PLOTS.mkdir(parents=True, exist_ok=True)
    made = []
    scenarios = sorted({r["scenario"] for run in runs for r in run["results"]})
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for db in sorted({r["database"] for r in runs}):
        for sc in scenarios:
            points = sorted(
                (run["documents"], res["p50_ms"])
                for run in runs
                if run["database"] == db
                for res in run["results"]
                if res["scenario"] == sc and res["clients"] == 1
            )
            if len(points) >= 1:
                ax.plot(
                    [p[0] for p in points], [p[1] for p in points], marker="o", label=f"{db}: {sc}"
                )
    ax.set_xscale("log")
    ax.set_xlabel("documents in the database")
    ax.set_ylabel("p50 latency, 1 client (ms)")
    ax.set_title("Latency against database size")
    made += _saved(plt, fig, ax, "latency-vs-size", "latency against database size")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    largest = {
        db: max((r for r in runs if r["database"] == db), key=lambda r: r["documents"])
        for db in {r["database"] for r in runs}
    }
    for db, run in sorted(largest.items()):
        for sc in scenarios:
            points = sorted(
                (res["clients"], res["throughput_rps"])
                for res in run["results"]
                if res["scenario"] == sc
            )
            if len({p[0] for p in points}) >= 2:
                ax.plot(
                    [p[0] for p in points], [p[1] for p in points], marker="o", label=f"{db}: {sc}"
                )
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("requests/s")
    ax.set_title("Throughput against clients")
    made += _saved(plt, fig, ax, "throughput-vs-clients", "throughput against clients")
    made += ratio_plot(runs, plt)
    return made


def _saved(plt: Any, fig: Any, ax: Any, name: str, alt: str) -> list[str]:
    """The plot as docs/benchmarks/<name>.png, unless it has no line (a run at 16 clients
    only has no point against size or clients)."""
    made = []
    if ax.lines:
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(PLOTS / f"{name}.png", dpi=110)
        made.append(f"![{alt}](benchmarks/{name}.png)")
    plt.close(fig)
    return made


def ratio_plot(runs: list[dict[str, Any]], plt: Any) -> list[str]:
    """Each scenario's throughput over the no-op's, per database and worker count."""
    series = [r for r in runs if any("ratio_to_noop" in x for x in r["results"])]
    if not series:
        return []
    names = sorted({x["scenario"] for r in series for x in r["results"] if "ratio_to_noop" in x})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(series)
    for i, run in enumerate(series):
        values = [
            next((x["ratio_to_noop"] for x in run["results"] if x["scenario"] == n), 0.0)
            for n in names
        ]
        ax.bar(
            [k + i * width for k in range(len(names))],
            values,
            width,
            label=f"{run['database']}, {run['workers']} worker(s)",
        )
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(names))])
    ax.set_xticklabels([n.replace("ITI-", "") for n in names], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("throughput / no-op throughput")
    ax.set_title("Ratio to the no-op request, same server, same run (16 clients)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOTS / "ratio-to-noop.png", dpi=110)
    return ["![ratio to the no-op request](benchmarks/ratio-to-noop.png)"]


def main() -> None:
    args = sys.argv[1:]
    before: list[dict[str, Any]] = []
    if "--before" in args:  # --before FILE: a run of the code before the change
        at = args.index("--before")
        before = load([Path(args[at + 1])])
        del args[at : at + 2]
    paths = [Path(p) for p in args] or sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    runs = sorted(load(paths), key=lambda r: (r["database"], r["documents"], r["workers"]))
    machine = runs[0]["_machine"] if runs else {}
    intro = DOC.read_text().split("<!-- results -->")[0] if DOC.exists() else "# Benchmarks\n\n"
    body = [
        "<!-- results -->",
        "",
        f"Results from {', '.join(sorted({r['_file'] for r in runs}))} on "
        f"{machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')}.",
        "",
        f"Code measured: {', '.join(sorted({r['_code'] for r in runs}))}.",
        "",
        "## Against the targets",
        "",
        targets(runs),
        "",
        *(
            [
                "## Before → after",
                "",
                f"Before: {', '.join(sorted({r['_file'] for r in before}))} "
                f"(code {', '.join(sorted({r['_code'] for r in before}))}), same runner.",
                "",
                before_after(before, runs),
                "",
            ]
            if before
            else []
        ),
        "## Plots",
        "",
        *plots(runs),
        "",
        "## Every scenario",
        "",
    ]
    body += [table(run) + "\n" for run in runs]
    DOC.write_text(intro + "\n".join(body) + "\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
