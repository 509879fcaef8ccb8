"""A throwaway PostgreSQL cluster the fault tests may stop and start at will.

The machine's shared PostgreSQL serves everyone else's tests: it is never stopped. This one
lives in a temporary folder, listens on a free loopback port, and is built with Debian's
binaries (``/usr/lib/postgresql/<version>/bin``), run as the ``postgres`` user when the tests
run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL ``bin`` folder holding initdb and pg_ctl, if any."""
    root = Path("/usr/lib/postgresql")
    found = sorted(
        (p / "bin" for p in root.glob("*") if (p / "bin" / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """``start()``, ``stop()`` (immediate: like a crash of the server), ``url``."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if self._as_postgres:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def replicate(self, primary: Cluster) -> None:
        """Make this cluster a streaming replica (hot standby) of ``primary``."""
        if self._as_postgres:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.data), "-R", "-X", "stream", "--no-sync"),
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        """Stop at once, without a checkpoint: what a crash or a killed server leaves."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def log(self) -> Path:
        return self.folder / "server.log"


@contextlib.contextmanager
def throwaway_cluster(bin_dir: Path, *, replica_of: Cluster | None = None) -> Iterator[Cluster]:
    """A new cluster, or a streaming replica of ``replica_of``, started."""
    folder = Path(tempfile.mkdtemp(prefix="opendmp-pg-"))
    cluster = Cluster(bin_dir, folder)
    try:
        if replica_of is None:
            cluster.init()
        else:
            cluster.replicate(replica_of)
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
