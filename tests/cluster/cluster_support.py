"""The pieces of ``make cluster-test`` (tests/cluster/test_cluster.py): a fresh PostgreSQL
database on the local server, ``opendmp serve`` nodes as real processes, and haproxy started
with deploy/haproxy.cfg (docs/deployment.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from opendmp.auth import pki
from opendmp.domain.actors import CardKind
from tests.auth_support import ESTABLISHMENT, GP
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
START_TIMEOUT = 60.0


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, name: str) -> AsyncIterator[str]:
    """Create database ``name`` on the server of ``admin_url`` (SQLAlchemy asyncpg URL),
    yield its URL, drop it at the end."""
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def wait_ready(
    url: str, proc: subprocess.Popen[bytes] | None = None, context: ssl.SSLContext | None = None
) -> None:
    """Until ``url`` answers 200 (a node's /readyz, directly or through haproxy)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process ended with {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1, context=context) as answer,  # noqa: S310 - loopback
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {START_TIMEOUT:.0f}s")


class Node:
    """``opendmp serve`` in a process (and session) of its own, on a loopback port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = env
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "opendmp", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        wait_ready(f"{self.url}/readyz", self.proc)

    def kill(self) -> None:
        """SIGKILL: no shutdown, leases and connections left as a crash leaves them."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def haproxy_config(source: str, *, bind: str, servers: list[Node], folder: Path) -> str:
    """deploy/haproxy.cfg for this machine: its own ``global`` section (no chroot, user,
    daemon or syslog), ``bind`` (this machine's address and files), ``servers`` as the
    backend; the rest as it is."""
    text = re.sub(
        r"^global\n(?:[ \t]+.*\n|\n)*?(?=^\S)",
        f"global\n    maxconn 4096\n    pidfile {folder / 'haproxy.pid'}\n\n",
        source,
        count=1,
        flags=re.M,
    )
    text = re.sub(r"^(\s+)log global\n", "", text, flags=re.M)
    text = re.sub(r"^(\s+)bind .*$", lambda found: found.group(1) + bind, text, count=1, flags=re.M)
    lines = [f"    server {n.name} 127.0.0.1:{n.port} check" for n in servers]
    text = re.sub(r"^\s+server .*\n", "", text, flags=re.M)
    return text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Tls:
    """haproxy's certificate (PEM with its key) and the CA it checks client cards against."""

    server_pem: Path
    client_ca: Path
    context: ssl.SSLContext  # a client's, without a card
    card: ssl.SSLContext  # a client's, presenting the GP's CPS card
    card_pem: bytes  # that card's certificate


@contextlib.contextmanager
def haproxy(servers: list[Node], folder: Path, tls: Tls) -> Iterator[str]:
    """haproxy running deploy/haproxy.cfg in front of ``servers``, TLS with optional client
    certificates on a loopback port; yields its base URL."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    port = free_port()
    config = folder / "haproxy.cfg"
    bind = f"bind 127.0.0.1:{port} ssl crt {tls.server_pem} ca-file {tls.client_ca} verify optional"
    config.write_text(
        haproxy_config(HAPROXY_CONFIG.read_text(), bind=bind, servers=servers, folder=folder)
    )
    checked = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()
    with (folder / "haproxy.log").open("ab") as log:
        proc = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"https://127.0.0.1:{port}"
        wait_ready(f"{url}/readyz", proc, tls.context)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def until(condition: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.2 s until it is true."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s")
        await asyncio.sleep(0.2)


def node_env(settings: dict[str, str]) -> dict[str, str]:
    """The caller's environment (PATH, PYTHONPATH…) without its OpenDMP settings, plus
    ``settings`` (``OPENDMP_*`` names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    return env | settings


def make_tls(folder: Path) -> Tls:
    """The test CA (``opendmp pki init``) in ``folder``, haproxy's certificate, and a client
    context presenting a CPS card of the GP (tests/auth_support.py) issued by that CA."""
    ca = pki.init_authority(folder)
    authority = pki.load_authority(folder)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dmp.test")])
    cert, key = pki.issue(authority, name)
    server_pem = folder / "haproxy-tls.pem"
    server_pem.write_bytes(
        pki.pem(cert)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    card = pki.issue_card_files(
        folder,
        idnat=GP,
        profession="10",
        name="TESTPRO Dominique",
        kind=CardKind.CPS,
        specialty="SM54",
        organization=ESTABLISHMENT,
        organization_name="Centre de test",
    )
    plain, with_card = (_client_context() for _ in range(2))
    with_card.load_cert_chain(card.certificate, card.key)
    return Tls(server_pem, ca.certificate, plain, with_card, card.certificate.read_bytes())


def _client_context() -> ssl.SSLContext:
    # The server's name is not what is tested here (127.0.0.1, a certificate of the test CA
    # made for client authentication): the client certificate's journey is.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
