"""Blob put/get, filesystem against S3 (moto's server on loopback): ratios, not absolute
claims (moto is a Python test server, not an object store). Figures in docs/benchmarks.md,
"Blob stores".

The filesystem is ``FilesystemBlobStore`` in a temporary folder of ``--dir`` (default: the
current folder, on disk rather than tmpfs: durable writes wait for two fsyncs).
S3 is ``S3BlobStore`` (aiobotocore) against ``moto_server`` run as its own process on a free
127.0.0.1 port, so that the server's CPU is not the client's. With ``--obstore`` (when the
``obstore`` package is importable) the same puts and gets also go through obstore's
``S3Store``, against the same server: the client comparison behind the choice of
aiobotocore (pyproject.toml, docs/architecture.md §7).

Each operation is timed one at a time (sequential, no concurrency), rounds alternating the
stores so that machine noise falls on all alike; the median per operation is reported.

    python benchmarks/blob_stores.py [--rounds 5] [--ops 40] [--obstore]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3

from opendmp.blobs import BlobStore, FilesystemBlobStore
from opendmp.blobs.s3 import S3BlobStore

SIZES = {"10 KB": 10 * 1024, "1 MB": 1024 * 1024}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
REGION = "us-east-1"
RECORD = "3f6d2b9e-1c4a-4e8b-a7d5-6c0f9e2b1a38"


# moto_server, with TCP_NODELAY on its connections: without it, the second small write of
# each response waits for the client's delayed ACK (~40 ms on Linux), a stall of the test
# server's, not of S3, that would swamp every figure.
MOTO_SERVER = """
import sys
import werkzeug.serving
werkzeug.serving.WSGIRequestHandler.disable_nagle_algorithm = True
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", MOTO_SERVER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, endpoint
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.1)


def new_bucket(endpoint: str) -> str:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=name)
    return name


class ObstoreBlobs:
    """Just put and get through obstore's S3Store (the comparison, not a BlobStore)."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        from obstore.store import S3Store

        self.obstore = __import__("obstore")
        self.store = S3Store(
            bucket,
            endpoint=endpoint,
            region=REGION,
            access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    async def put(self, key: str, data: bytes) -> None:
        await self.obstore.put_async(self.store, key, data)

    async def get(self, key: str) -> bytes:
        answer = await self.obstore.get_async(self.store, key)
        return bytes(await answer.bytes_async())

    async def close(self) -> None:
        return None


async def timed(op: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await op()
    return time.perf_counter() - start


async def one_round(
    stores: dict[str, Any], size: int, ops: int, samples: dict[tuple[str, str], list[float]]
) -> None:
    """Per store: ``ops`` puts, then ``ops`` gets; appends each one's wall time, and the
    client process's CPU time per operation (key ``(name, "put cpu")``…), under ``samples``."""
    data = os.urandom(size)
    for name, store in stores.items():
        keys = [f"{RECORD}/{uuid.uuid4().hex}" for _ in range(ops)]
        put = functools.partial(store.put, data=data)
        for op, call in (("put", put), ("get", store.get)):
            cpu = time.process_time()
            for key in keys:
                samples[(name, op)].append(await timed(functools.partial(call, key)))
            samples[(name, f"{op} cpu")].append((time.process_time() - cpu) / ops)


def report(samples: dict[tuple[str, str], list[float]], label: str, names: list[str]) -> None:
    """Median wall time (× the filesystem's) and the client's CPU per operation."""
    base = {op: statistics.median(samples[("filesystem", op)]) for op in ("put", "get")}
    for op in ("put", "get"):
        cells = []
        for name in names:
            median = statistics.median(samples[(name, op)])
            cpu = statistics.median(samples[(name, f"{op} cpu")])
            cells.append(
                f"{median * 1000:.1f} ms (× {median / base[op]:.0f}), CPU {cpu * 1000:.1f} ms"
            )
        print(f"| {op} {label} | " + " | ".join(cells) + " |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ops", type=int, default=40, help="puts then gets per round and size")
    parser.add_argument("--obstore", action="store_true", help="also time obstore's S3Store")
    parser.add_argument(
        "--dir", type=Path, default=Path.cwd(), help="where the filesystem store lives (a disk)"
    )
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    server, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory(prefix="opendmp-bench-blobs-", dir=args.dir) as folder:
            stores: dict[str, Any] = {
                "filesystem": FilesystemBlobStore(Path(folder)),
                "S3 aiobotocore": S3BlobStore(
                    new_bucket(endpoint), "blobs/", endpoint_url=endpoint, region=REGION
                ),
            }
            if args.obstore:
                stores["S3 obstore"] = ObstoreBlobs(endpoint, new_bucket(endpoint))
            names = list(stores)
            print(f"| operation | {' | '.join(names)} |")
            print("|---" * (len(names) + 1) + "|")
            for label, size in SIZES.items():
                samples: dict[tuple[str, str], list[float]] = {
                    (n, op): [] for n in names for op in ("put", "get", "put cpu", "get cpu")
                }
                await one_round(stores, size, 3, {k: [] for k in samples})  # warm-up
                for _ in range(args.rounds):
                    await one_round(stores, size, args.ops, samples)
                report(samples, label, names)
            for store in stores.values():
                blob_store: BlobStore | ObstoreBlobs = store
                await blob_store.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
