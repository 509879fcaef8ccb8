"""The framework's floor: CPU per request of the middleware stack and the router, in process.

Calls ASGI apps directly (no server, no socket, no HTTP parsing) many times and prints the
microseconds per request of:

- a bare ASGI app that answers the same JSON as ``/healthz`` (the floor of any app);
- OpenDMP's ``/healthz`` through the whole stack (middleware, FastAPI router, the route);
- OpenDMP's answer to an unknown ``/fhir/…`` path (middleware and router, no route code);
- ITI-68's route without a token (middleware, router up to that route, the 401).

The difference between the first two is what the stack costs every request, API or portal.

    python benchmarks/framework_floor.py [--src path/to/src] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"33")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"status":"ok","version":"0.0.0"}'})


def scope_of(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"application/fhir+json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def per_request_us(app: Any, path: str, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(200):  # warm-up
        await app(scope_of(path), receive, send)
    started = time.process_time()
    for _ in range(requests):
        await app(scope_of(path), receive, send)
    elapsed = time.process_time() - started
    assert len(set(statuses)) == 1, set(statuses)
    return 1e6 * elapsed / requests


def opendmp_app(home: Path) -> Any:
    from opendmp.app import create_app
    from opendmp.config import load_settings

    return create_app(load_settings(home=home, mode="development", run_worker_in_process=False))


async def measure(requests: int, home: Path) -> dict[str, float]:
    app = opendmp_app(home)
    return {
        "bare ASGI app": await per_request_us(bare, "/healthz", requests),
        "OpenDMP /healthz (middleware + router + route)": await per_request_us(
            app, "/healthz", requests
        ),
        "OpenDMP unknown /fhir path (middleware + router, 404)": await per_request_us(
            app, "/fhir/Nothing/here/at/all", requests
        ),
        "OpenDMP /fhir/Binary/x without a token (router + auth, 401)": await per_request_us(
            app, "/fhir/Binary/x", requests
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", default=str(ROOT.parent / "src"))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:  # run again with --src first on the path, in a fresh home
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
            env |= {"PYTHONPATH": args.src, "OPENDMP_HOME": home}
            subprocess.run([sys.executable, "-m", "opendmp", "init"], env=env, check=True)
            cmd = [sys.executable, __file__, "--child", "--requests", str(args.requests)]
            subprocess.run(cmd, env=env, check=True)
        return
    import uvloop

    results = uvloop.run(measure(args.requests, Path(os.environ["OPENDMP_HOME"])))
    for name, us in results.items():
        print(f"{name:55s} {us:8.1f} µs CPU/request")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
