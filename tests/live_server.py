"""A real OpenDMP server for a test: uvicorn with the CLI's own options
(``cli.server_options``) on a free loopback port, in a thread with its own event loop and
its own engine on the test database (SQLite file or the session's PostgreSQL schema)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, create_app
from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.cli import server_options
from opendmp.config import Settings
from opendmp.services.core.context import ServiceContext
from opendmp.storage.db import make_engine, make_sessionmaker
from tests.conftest import PG_SCHEMA, PG_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_engine(test_engine: AsyncEngine) -> AsyncEngine:
    if test_engine.dialect.name == "postgresql":
        assert PG_URL
        return make_engine(PG_URL, pool_size=2, schema=PG_SCHEMA)
    return make_engine(test_engine.url.render_as_string(hide_password=False), pool_size=2)


@contextlib.contextmanager
def live_server(
    settings: Settings,
    test_engine: AsyncEngine,
    blob_root: Path,
    master_key: MasterKey,
    configure: Callable[[ServiceContext], None] = lambda _ctx: None,
) -> Iterator[str]:
    """Serve until the block ends; yields the base URL (``settings.host``/``port``)."""
    servers: list[uvicorn.Server] = []
    failed: list[BaseException] = []

    async def main() -> None:
        engine = _server_engine(test_engine)
        ctx = ServiceContext(
            sessions=make_sessionmaker(engine),
            blobs=EncryptedBlobs(FilesystemBlobStore(blob_root)),
            master_key=master_key,
            keyring=Keyring(blob_root.parent / "keys"),
            default_ins_oid="1.2.250.1.213.1.4.10",
        )
        configure(ctx)
        app = create_app(settings, Runtime(settings, engine, ctx))
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **server_options(settings)))
        servers.append(server)
        try:
            await server.serve()
        finally:
            await engine.dispose()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (servers and servers[0].started):
        if failed or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start: {failed!r}")
        time.sleep(0.05)
    try:
        yield f"http://{settings.host}:{settings.port}"
    finally:
        servers[0].should_exit = True
        thread.join(timeout=15)
