"""OpenDMP benchmarks: a real ``opendmp serve`` on loopback, loaded by wrk.

Why wrk: it is a C event loop with LuaJIT request scripts, so on this 2-core machine it
spends a few microseconds of CPU per request where an async Python driver would spend
hundreds — the driver must not be the bottleneck, and we measure its CPU to show it.

For each database (SQLite, PostgreSQL) and each dataset size, the runner creates a fresh
OPENDMP_HOME, bulk-loads synthetic records (``opendmp bench seed``), starts the server, runs
the scenarios, and records throughput, latency percentiles, errors, the server's CPU time
per request and its peak RSS. Results go to ``benchmarks/results/*.json``; ``report.py``
turns them into ``docs/benchmarks.md`` with plots.

    python benchmarks/run.py --quick              # make bench: 10 k documents, short runs
    python benchmarks/run.py --sizes 10000,1000000 # make bench-full
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
LUA = ROOT / "lua"
RESULTS = ROOT / "results"
# The code under test: ``python -m opendmp`` with --src first on PYTHONPATH (default: this
# checkout's src/), so that a worktree, or an exported older commit for a BEFORE run, is
# measured rather than whatever the venv's console script points at.
OPENDMP = [sys.executable, "-m", "opendmp"]
SRC = ROOT.parent / "src"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
# Dropped and created by each run: OPENDMP_BENCH_PG_DB gives concurrent runs their own.
PG_BENCH_DB = os.environ.get("OPENDMP_BENCH_PG_DB", "opendmp_bench")
INS_OID = "1.2.250.1.213.1.4.10"
BENCH_AUTHOR = "899700000013"
BENCH_ORG = "1750000010"
UID_PLACEHOLDER = "2.25.9" + "0" * 19  # same length as the ids deposit.lua generates
DOCS_PER_RECORD = 100
SPREAD_100K_RECORDS = 50  # records of two 100 KB documents: retrievals spread over patients


@dataclass
class Scenario:
    name: str
    script: str
    connections: int
    env: dict[str, str] = field(default_factory=dict)
    url_path: str = "/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], env: dict[str, str], **kw: Any) -> str:
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, **kw)
    return done.stdout


async def reset_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    finally:
        await conn.close()


def base_env(home: Path, db: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        OPENDMP_HOME=str(home),
        OPENDMP_MODE="development",
        OPENDMP_DEV_ISSUER="true",
        OPENDMP_PORT=str(port),
        OPENDMP_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        OPENDMP_LOG_LEVEL="WARNING",
        OPENDMP_SMTP_PORT="1",  # no mail server: notifications stay queued, never block
    )
    if db == "postgresql":
        env["OPENDMP_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
        env["OPENDMP_DB_POOL_SIZE"] = "20"
    return env


def seed(env: dict[str, str], documents: int) -> dict[str, float]:
    records = max(1, documents // DOCS_PER_RECORD)
    started = time.perf_counter()
    run([*OPENDMP, "init"], env)
    # Records 0..n-1: 100 documents of 10 KB each; record n: 100 documents of 100 KB (ITI-68
    # on one patient); the next SPREAD_100K_RECORDS: two 100 KB documents each (spread).
    for count, per_record, size in (
        (records, DOCS_PER_RECORD, "10k"),
        (1, DOCS_PER_RECORD, "100k"),
        (SPREAD_100K_RECORDS, 2, "100k"),
    ):
        run(
            [
                *OPENDMP,
                "bench",
                "seed",
                "--records",
                str(count),
                "--docs-per-record",
                str(per_record),
                "--size",
                size,
            ],
            env,
        )
    elapsed = time.perf_counter() - started
    return {
        "records": records + 1 + SPREAD_100K_RECORDS,
        "documents": (records + 1) * DOCS_PER_RECORD + 2 * SPREAD_100K_RECORDS,
        "ten_kb_records": records,
        "seed_seconds": round(elapsed, 1),
    }


def bench_ins(index: int) -> str:
    from opendmp.devtools.bulk_seed import bench_ins as ins

    return ins(index)


async def query_documents(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    from opendmp.storage.db import make_engine

    url = env.get("OPENDMP_DATABASE_URL") or f"sqlite+aiosqlite:///{env['OPENDMP_HOME']}/opendmp.db"
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


def start_server(
    env: dict[str, str], port: int, workers: int
) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*OPENDMP, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = started + 60
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server not ready in 60 s")


def server_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    pids = [proc.pid]
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except FileNotFoundError:
            continue
    return round(peak, 1)


def wrk(scenario: Scenario, port: int, duration: int, env: dict[str, str]) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{scenario.connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / scenario.script),
        f"http://127.0.0.1:{port}{scenario.url_path}",
    ]
    before = os.times()
    out = run(cmd, {**env, **scenario.env, "BENCH_LUA": str(LUA)})
    after = os.times()
    line = next(x for x in out.splitlines() if x.startswith("@@RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("@@RESULT "))
    result["driver_cpu_s"] = round(
        (after.children_user - before.children_user)
        + (after.children_system - before.children_system),
        3,
    )
    return result


def prepare_deposit(folder: Path, size: int, patients: list[str]) -> None:
    """The ITI-65 body in pieces for deposit.lua (see its header)."""
    from opendmp.devtools.bulk_seed import synthetic_cda

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ins_placeholder = bench_ins(599_999_999)
    cda = synthetic_cda(size, now).replace(b"2.25.1", UID_PLACEHOLDER.encode(), 1)
    cda = cda.replace(bench_ins(0).encode(), ins_placeholder.encode())
    positions = []
    for token in (UID_PLACEHOLDER.encode(), ins_placeholder.encode()):
        start = cda.find(token)
        assert start >= 0, token
        positions += [start, start + len(token), cda.rfind(token) + len(token)]
    first = min(positions) // 3 * 3
    last = min(len(cda), math.ceil(max(positions) / 3) * 3)
    (folder / "prefix.b64").write_bytes(base64.b64encode(cda[:first]))
    (folder / "middle.bin").write_bytes(cda[first:last])
    (folder / "suffix.b64").write_bytes(base64.b64encode(cda[last:]))
    (folder / "uid.txt").write_text(UID_PLACEHOLDER)
    (folder / "ins.txt").write_text(ins_placeholder)
    (folder / "patients.txt").write_text("\n".join(patients) + "\n")
    subject = {"identifier": {"system": f"urn:oid:{INS_OID}", "value": "@@INS@@"}}
    when = now.isoformat(timespec="seconds")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "meta": {
            "profile": [
                "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.ProvideBundle"
            ]
        },
        "entry": [
            {
                "fullUrl": "urn:uuid:5c5c1b1e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "List",
                    "extension": [
                        {
                            "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                            "valueIdentifier": {"value": "urn:oid:1.2.250.1.213.1.1.9"},
                        }
                    ],
                    "identifier": [
                        {
                            "use": "usual",
                            "system": "urn:ietf:rfc:3986",
                            "value": "urn:oid:@@UID@@.1",
                        }
                    ],
                    "status": "current",
                    "mode": "working",
                    "code": {
                        "coding": [
                            {
                                "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                "code": "submissionset",
                            }
                        ]
                    },
                    "subject": subject,
                    "date": when,
                    "entry": [
                        {"item": {"reference": "urn:uuid:5c5c1b1e-0000-4000-8000-000000000002"}}
                    ],
                },
                "request": {"method": "POST", "url": "List"},
            },
            {
                "fullUrl": "urn:uuid:5c5c1b1e-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "DocumentReference",
                    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:@@UID@@"},
                    "status": "current",
                    "type": {"coding": [{"system": "http://loinc.org", "code": "11490-0"}]},
                    "category": [
                        {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.1", "code": "10"}]}
                    ],
                    "subject": subject,
                    "content": [
                        {
                            "attachment": {
                                "contentType": "text/xml",
                                "language": "fr-FR",
                                "url": "urn:uuid:5c5c1b1e-0000-4000-8000-000000000003",
                                "title": "Lettre de liaison (banc d'essai)",
                                "creation": when,
                            },
                            "format": {
                                "system": "urn:oid:1.3.6.1.4.1.19376.1.2.3",
                                "code": "urn:ihe:iti:xds-sd:pdf:2008",
                            },
                        }
                    ],
                    "context": {"period": {"start": when, "end": when}},
                },
                "request": {"method": "POST", "url": "DocumentReference"},
            },
            {
                "fullUrl": "urn:uuid:5c5c1b1e-0000-4000-8000-000000000003",
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "text/xml",
                    "data": "@@DATA@@",
                },
                "request": {"method": "POST", "url": "Binary"},
            },
        ],
    }
    head, tail = json.dumps(bundle, ensure_ascii=False).split("@@DATA@@")
    (folder / "head.json").write_text(head)
    (folder / "tail.json").write_text(tail)


def token(env: dict[str, str]) -> str:
    return run(
        [
            *OPENDMP,
            "token",
            "professional",
            "--idnat",
            BENCH_AUTHOR,
            "--profession",
            "10",
            "--specialty",
            "SM54",
            "--organization",
            BENCH_ORG,
            "--ttl",
            "4h",
        ],
        env,
    ).strip()


NOOP = "no-op (/healthz)"


def path_file(work: Path, name: str, paths: list[str]) -> dict[str, str]:
    """Write one path per line for get.lua; the environment that points it there."""
    (work / name).write_text("".join(f"{p}\n" for p in paths))
    return {"BENCH_PATHS": str(work / name)}


def documents_of(env: dict[str, str], patients: list[str], where: str) -> dict[str, list[str]]:
    """Document ids of these patients (``where``: a condition on ``d.size``), by INS."""
    listed = ", ".join(f"'{p}'" for p in patients)  # our own digits: no quoting issue
    rows = asyncio.run(
        query_documents(
            env,
            "SELECT p.ins_value, d.id FROM document d JOIN record r ON r.id = d.record_id "
            f"JOIN patient p ON p.id = r.patient_id WHERE p.ins_value IN ({listed}) AND {where} "
            "ORDER BY d.id",
        )
    )
    found: dict[str, list[str]] = {}
    for ins, doc in rows:
        found.setdefault(str(ins), []).append(str(doc))
    return found


def mhd_scenarios(
    work: Path, env: dict[str, str], records: int, clients: list[int]
) -> list[Scenario]:
    """The issue's MHD workload, each on one patient and spread over many, with the no-op
    request first and last (its mean is the reference of the ratios). Searches and
    retrievals use patients 0 .. n/2-1, deposits the other half, so that the documents
    deposited by one server run do not change the next run's searches; the one-patient
    deposit goes to patient n-1."""
    half = max(1, min(records // 2, 1000))
    readers = [bench_ins(i) for i in range(half)]
    writers = [bench_ins(i) for i in range(half, min(records, 2 * half))] or readers
    small = documents_of(env, readers, "d.size < 50000")
    big_one = documents_of(env, [bench_ins(records)], "d.size > 50000")
    spread = [bench_ins(records + 1 + i) for i in range(SPREAD_100K_RECORDS)]
    big_many = documents_of(env, spread, "d.size > 50000")
    for label, patients in (("one", [bench_ins(records - 1)]), ("many", writers)):
        prepare_deposit(work / f"deposit-{label}", 10 * 1024, patients)
    search = (
        f"/fhir/DocumentReference?status=current&_count=20&patient.identifier=urn:oid:{INS_OID}%7C"
    )
    binary = "/fhir/Binary/"
    raw = {"BENCH_ACCEPT": "*/*"}
    plan = [
        ("search, one patient", path_file(work, "s1", [search + readers[0]])),
        ("search, many patients", path_file(work, "sn", [search + p for p in readers])),
        (
            "retrieve 10 KB, one patient",
            path_file(work, "r1", [binary + d for d in small[readers[0]]]) | raw,
        ),
        (
            "retrieve 10 KB, many patients",
            path_file(work, "rn", [binary + docs[0] for docs in small.values()]) | raw,
        ),
        (
            "retrieve 100 KB, one patient",
            path_file(work, "b1", [binary + d for docs in big_one.values() for d in docs]) | raw,
        ),
        (
            "retrieve 100 KB, many patients",
            path_file(work, "bn", [binary + d for docs in big_many.values() for d in docs]) | raw,
        ),
    ]
    noop = Scenario(NOOP, "get.lua", 0, path_file(work, "noop", ["/healthz"]))
    result: list[Scenario] = []
    for c in clients:
        result.append(Scenario(noop.name, noop.script, c, noop.env))
        result += [
            Scenario(
                f"ITI-67 {name}" if name.startswith("search") else f"ITI-68 {name}", "get.lua", c, e
            )
            for name, e in plan
        ]
        for label, many in (("one patient", "one"), ("many patients", "many")):
            result.append(
                Scenario(
                    f"ITI-65 provide 10 KB, {label}",
                    "deposit.lua",
                    c,
                    {"BENCH_DEPOSIT": str(work / f"deposit-{many}")},
                )
            )
        result.append(Scenario(noop.name, noop.script, c, noop.env))
    return result


def classic_scenarios(
    work: Path, env: dict[str, str], records: int, clients: list[int]
) -> list[Scenario]:
    patients = [bench_ins(i) for i in range(min(records, 2000))]
    for size, label in ((10 * 1024, "10k"), (100 * 1024, "100k")):
        prepare_deposit(work / f"deposit-{label}", size, patients)
    searches = work / "search-paths.txt"
    searches.write_text(
        "".join(
            f"/fhir/DocumentReference?status=current&_count=20&patient.identifier=urn:oid:{INS_OID}%7C{p}\n"
            for p in patients
        )
    )
    existence = work / "existence-paths.txt"
    existence.write_text(
        "".join(f"/fhir/Patient?identifier=urn:oid:{INS_OID}%7C{p}\n" for p in patients)
    )
    big = asyncio.run(query_documents(env, "SELECT id FROM document WHERE size > 50000 LIMIT 100"))
    retrievals = work / "retrieve-paths.txt"
    retrievals.write_text("".join(f"/fhir/Binary/{row[0]}\n" for row in big))
    rows = asyncio.run(
        query_documents(
            env,
            (
                "SELECT p.ins_value, d.id FROM document d JOIN record r ON r.id = d.record_id "
                "JOIN patient p ON p.id = r.patient_id WHERE d.size < 50000 "
                f"ORDER BY p.ins_value LIMIT {3 * 200}"
            ),
        )
    )
    by_patient: dict[str, list[str]] = {}
    for ins, doc in rows:
        by_patient.setdefault(str(ins), []).append(str(doc))
    mixed = work / "mixed.txt"
    mixed.write_text(
        "".join(
            f"{ins} {' '.join(docs[:3])}\n" for ins, docs in by_patient.items() if len(docs) >= 3
        )
    )
    result: list[Scenario] = []
    for c in clients:
        for label in ("10k", "100k"):
            result.append(
                Scenario(
                    f"ITI-65 deposit {label}",
                    "deposit.lua",
                    c,
                    {"BENCH_DEPOSIT": str(work / f"deposit-{label}")},
                )
            )
        result.append(
            Scenario(
                "ITI-67 search (100 documents, _count=20)",
                "get.lua",
                c,
                {"BENCH_PATHS": str(searches)},
            )
        )
        result.append(
            Scenario(
                "ITI-68 retrieve 100k",
                "get.lua",
                c,
                {"BENCH_PATHS": str(retrievals), "BENCH_ACCEPT": "*/*"},
            )
        )
        result.append(
            Scenario("TD0.2 existence test", "get.lua", c, {"BENCH_PATHS": str(existence)})
        )
    result.append(
        Scenario(
            "mixed (search, read 3, deposit 1)",
            "mixed.lua",
            max(clients),
            {
                "BENCH_DEPOSIT": str(work / "deposit-10k"),
                "BENCH_MIXED": str(mixed),
                "BENCH_INS_OID": INS_OID,
            },
        )
    )
    return result


def measure(
    sc: Scenario, port: int, pids: list[int], args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    wrk(sc, port, args.warmup, env)  # warm caches and connection pools
    cpu0 = cpu_seconds(pids)
    res = wrk(sc, port, args.duration, env)
    cpu = cpu_seconds(pids) - cpu0
    res.update(
        scenario=sc.name,
        clients=sc.connections,
        throughput_rps=round(res["requests"] / res["duration_s"], 1),
        server_cpu_ms_per_request=round(1000 * cpu / max(res["requests"], 1), 3),
        driver_cpu_ms_per_request=round(1000 * res["driver_cpu_s"] / max(res["requests"], 1), 3),
        errors=sum(res[f"errors_{k}"] for k in ("status", "connect", "read", "write", "timeout")),
    )
    print(
        f"  {sc.name:45s} c={sc.connections:<3d} {res['throughput_rps']:>8.1f} req/s "
        f"p50 {res['p50_ms']:.1f} p95 {res['p95_ms']:.1f} p99 {res['p99_ms']:.1f} ms "
        f"errors {res['errors']} cpu {res['server_cpu_ms_per_request']:.2f} ms/req",
        flush=True,
    )
    return res


def with_ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result's throughput over the no-op's (mean of its measures at the same number of
    clients, on the same server, in the same run): what compares across noisy runs."""
    for res in results:
        noops = [
            r["throughput_rps"]
            for r in results
            if r["scenario"] == NOOP and r["clients"] == res["clients"]
        ]
        if noops and res["scenario"] != NOOP:
            res["noop_rps"] = round(sum(noops) / len(noops), 1)
            res["ratio_to_noop"] = round(res["throughput_rps"] / res["noop_rps"], 3)
    return results


def serve_and_measure(
    env: dict[str, str], work: Path, dataset: dict[str, Any], workers: int, args: argparse.Namespace
) -> dict[str, Any]:
    port = free_port()
    env = {**env, "OPENDMP_PORT": str(port), "OPENDMP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    print(f"  -- opendmp serve --workers {workers}", flush=True)
    proc, startup = start_server(env, port, workers)
    try:
        env["BENCH_TOKEN"] = token(env)
        records = int(dataset["ten_kb_records"])
        plan = PLANS[args.plan](work / f"w{workers}", env, records, args.clients)
        time.sleep(0.5)  # uvicorn forks its workers after the first one answers
        pids = server_pids(proc)
        out = [
            measure(sc, port, pids, args, env)
            for sc in plan
            if not args.only or sc.name == NOOP or any(o in sc.name for o in args.only)
        ]
        return {
            "database": dataset["database"],
            "documents": dataset["documents"],
            "dataset": dataset,
            "startup_seconds": round(startup, 2),
            "peak_rss_mb": peak_rss_mb(pids),
            "workers": workers,
            "results": with_ratios(out),
        }
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_one(db: str, documents: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Seed one database, then one server per worker count on it."""
    work = Path(tempfile.mkdtemp(prefix=f"opendmp-bench-{db}-"))
    env = base_env(work / "home", db, free_port())
    if db == "postgresql":
        asyncio.run(reset_pg_database())
    print(f"[{db} {documents:,} documents] seeding…", flush=True)
    dataset = seed(env, documents) | {"database": db}
    try:
        runs = []
        for workers in args.workers:
            (work / f"w{workers}").mkdir()
            runs.append(serve_and_measure(env, work, dataset, workers, args))
        return runs
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


PLANS = {
    "mhd": mhd_scenarios,
    "classic": classic_scenarios,
    "all": lambda *a: mhd_scenarios(*a) + classic_scenarios(*a),
}


def code_version() -> str:
    """The commit of the measured src/ (and whether it has uncommitted changes)."""
    try:
        head = run(["git", "-C", str(SRC), "rev-parse", "--short", "HEAD"], dict(os.environ))
        dirty = run(["git", "-C", str(SRC), "status", "--porcelain", "."], dict(os.environ))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return f"{SRC} (not a git checkout)"
    return head.strip() + (" + uncommitted changes" if dirty.strip() else "")


def main() -> None:
    global SRC  # read by base_env and code_version: one value per process
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="10000", help="documents in the database, comma list")
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="server runs, comma list")
    parser.add_argument("--plan", choices=sorted(PLANS), default="all")
    parser.add_argument("--src", default=str(SRC), help="the src/ of the code to measure")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="make bench: 10 k documents, the issue's MHD scenarios, 16 clients, 4 s each",
    )
    parser.add_argument("--only", action="append", help="run scenarios whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the temporary OPENDMP_HOMEs")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.duration, args.warmup = "10000", 4, 1
        args.plan, args.clients = "mhd", "16"
    SRC = Path(args.src).resolve()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (make bench does it)")
    runs = [
        run
        for size in args.sizes.split(",")
        for db in args.databases.split(",")
        for run in bench_one(db, int(size), args)
    ]
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(args.out) if args.out else RESULTS / f"bench-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "code": code_version(),
                "runs": runs,
            },
            indent=2,
        )
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
