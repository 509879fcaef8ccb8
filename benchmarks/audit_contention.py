"""Audit contention: concurrent reads of ONE patient against a no-op request, same server.

Every read writes its audit event (docs/security.md, "The audit trail"). This measures what
that costs when many clients read the same record at once — the case a per-record lock on
the read path serialises — next to reads spread over many records and to ``/healthz`` (the
no-op reference, measured in the same run: the ratio is what compares across runs on a noisy
machine). It runs the checkout it lives in (``python -m opendmp`` with ``src/`` first on the
path), on loopback, loaded by wrk with the scripts of ``benchmarks/lua``.

    python benchmarks/audit_contention.py                       # SQLite and PostgreSQL
    python benchmarks/audit_contention.py --databases sqlite --clients 16 --duration 10

Prints one line per scenario and writes ``benchmarks/results/audit-contention-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
RUN_SRC = SRC  # the sources the server runs (--src: e.g. an export of the commit before)
sys.path[:0] = [str(SRC), str(HERE)]

import run  # noqa: E402 - benchmarks/run.py, beside this file

run.PG_BENCH_DB = "opendmp_bench_audit"  # its own database: other benchmarks may run at once

LUA = HERE / "lua"
INS_OID = "1.2.250.1.213.1.4.10"
RECORDS = 20
DOCS_PER_RECORD = 100


def opendmp(*args: str) -> list[str]:
    return [sys.executable, "-m", "opendmp", *args]


def environment(home: Path, database: str, port: int, workers: int) -> dict[str, str]:
    env = run.base_env(home, database, port)
    env.update(PYTHONPATH=str(RUN_SRC), BENCH_LUA=str(LUA))
    if database == "postgresql":
        env["OPENDMP_DB_POOL_SIZE"] = str(10 * workers)
    return env


def call(cmd: list[str], env: dict[str, str]) -> str:
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


async def fresh_pg_database() -> None:
    await run.reset_pg_database()


async def rows(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    return await run.query_documents(env, sql)  # this checkout's storage: src/ comes first


def serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        opendmp("serve", "--port", str(port), "--workers", str(workers)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server was not ready in 60 s")


def load(
    port: int, env: dict[str, str], paths: list[str], clients: int, seconds: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("".join(f"{p}\n" for p in paths))
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s"]
    cmd += ["-s", str(LUA / "get.lua"), f"http://127.0.0.1:{port}/"]
    out = call(cmd, {**env, "BENCH_PATHS": listing.name, "BENCH_ACCEPT": "*/*"})
    Path(listing.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("@@RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("@@RESULT "))
    result["rps"] = round(result["requests"] / result["duration_s"], 1)
    return result


def plan(env: dict[str, str]) -> dict[str, list[str]]:
    one = asyncio.run(
        rows(
            env,
            "SELECT d.id FROM document d JOIN record r ON r.id = d.record_id "
            "JOIN patient p ON p.id = r.patient_id "
            "WHERE p.ins_value = (SELECT MIN(ins_value) FROM patient)",
        )
    )
    spread = asyncio.run(
        rows(env, "SELECT MIN(CAST(d.id AS TEXT)) FROM document d GROUP BY d.record_id")
    )
    ins = asyncio.run(rows(env, "SELECT MIN(ins_value) FROM patient"))[0][0]
    return {
        "no-op /healthz": ["/healthz"],
        "ITI-68 retrieve 10k, one patient": [f"/fhir/Binary/{r[0]}" for r in one],
        "ITI-68 retrieve 10k, many patients": [f"/fhir/Binary/{r[0]}" for r in spread],
        "ITI-67 search, one patient": [
            f"/fhir/DocumentReference?status=current&_count=20"
            f"&patient.identifier=urn:oid:{INS_OID}%7C{ins}"
        ],
    }


def bench(database: str, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"opendmp-audit-{database}-"))
    port = 20000 + os.getpid() % 20000
    env = environment(work / "home", database, port, args.workers)
    if database == "postgresql":
        asyncio.run(fresh_pg_database())
    call(opendmp("init"), env)
    seed = ["bench", "seed", "--records", str(RECORDS), "--docs-per-record", str(DOCS_PER_RECORD)]
    call(opendmp(*seed, "--size", "10k"), env)
    proc = serve(env, port, args.workers)
    results: dict[str, Any] = {}
    try:
        env["BENCH_TOKEN"] = call(
            opendmp(
                "token",
                "professional",
                "--idnat",
                "899700000013",
                "--profession",
                "10",
                "--specialty",
                "SM54",
                "--organization",
                "1750000010",
                "--ttl",
                "4h",
            ),
            env,
        ).strip()
        for name, paths in plan(env).items():
            load(port, env, paths, args.clients, 2)  # warm up
            res = load(port, env, paths, args.clients, args.duration)
            results[name] = res
        noop = results["no-op /healthz"]["rps"]
        for name, res in results.items():
            res["ratio_to_noop"] = round(res["rps"] / noop, 3)
            print(
                f"{database:10s} w={args.workers} c={args.clients} {name:38s} "
                f"{res['rps']:>8.1f}/s  ×{res['ratio_to_noop']:.3f}  p50 {res['p50_ms']:.1f} "
                f"p99 {res['p99_ms']:.1f} ms  errors {res['errors_status']}",
                flush=True,
            )
        return {"database": database, "workers": args.workers, "results": results}
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--label", default="", help="a word saved with the results")
    parser.add_argument("--src", type=Path, default=SRC, help="the sources the server runs")
    args = parser.parse_args()
    global RUN_SRC
    RUN_SRC = args.src
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    runs = [bench(db, args) for db in args.databases.split(",")]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = HERE / "results" / f"audit-contention-{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"when": stamp, "label": args.label, "runs": runs}, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
