"""Issue 12 item 6, against a real server (uvicorn with the CLI's options on a loopback
port, real HTTP through httpx), on both databases: ``X-Forwarded-For`` is believed only from
a peer in ``OPENDMP_TRUSTED_PROXIES``. From any other local process it changes nothing, so
the per-address sign-in limit still trips; from the trusted proxy, the forwarded address is
the one counted (docs/security.md, "Forwarded headers")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.blobs import MasterKey
from opendmp.config import load_settings
from opendmp.services.core.context import AuthRules, ServiceContext
from opendmp.storage.models import RateLimit
from tests.conftest import Clock
from tests.live_server import free_port, live_server

PROXY = "127.0.0.2"  # the trusted proxy; tests connect from 127.0.0.1 or from it
LIMIT = 3
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def base_url(engine: AsyncEngine, tmp_path: Path, master_key: MasterKey) -> Iterator[str]:
    settings = load_settings(
        home=tmp_path,
        mode="development",
        host="127.0.0.1",
        port=free_port(),
        cookie_secure=False,
        run_worker_in_process=False,
        trusted_proxies=[PROXY],
    )

    def configure(ctx: ServiceContext) -> None:
        ctx.clock = Clock()  # one fixed minute: the window never rolls over mid-test
        ctx.auth = AuthRules(login_rate_per_address=LIMIT)

    with live_server(settings, engine, tmp_path / "blobs", master_key, configure) as url:
        yield url


def _client(base_url: str, local_address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=local_address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def _attempt(client: httpx.Client, login: str, forwarded_for: str) -> int:
    page = client.get("/patient/connexion")
    assert page.status_code == 200, page.text
    token = _CSRF.search(page.text)
    assert token
    answer = client.post(
        "/patient/connexion",
        data={"csrf_token": token.group(1), "login": login, "password": "faux mot de passe"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return answer.status_code


async def _counted(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(RateLimit.key, RateLimit.count).where(RateLimit.key.like("login:addr:%"))
        )
        return {key.removeprefix("login:addr:"): count for key, count in rows}


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    base_url: str, engine: AsyncEngine
) -> None:
    with _client(base_url, "127.0.0.1") as client:
        statuses = [_attempt(client, f"inconnu{n}", f"203.0.113.{n}") for n in range(LIMIT + 1)]

    assert statuses[:LIMIT] == [401] * LIMIT
    assert statuses[LIMIT] == 429  # a new address per attempt did not reset the limit
    assert await _counted(engine) == {"127.0.0.1": LIMIT + 1}


async def test_the_trusted_proxy_names_the_client_address(
    base_url: str, engine: AsyncEngine
) -> None:
    with _client(base_url, PROXY) as proxy:
        spread = [_attempt(proxy, f"inconnu{n}", f"198.51.100.{n}") for n in range(LIMIT + 1)]
        one = [
            _attempt(proxy, f"autre{n}", "203.0.113.7, 198.51.100.200") for n in range(LIMIT + 1)
        ]

    assert spread == [401] * (LIMIT + 1)  # four clients behind the proxy, one attempt each
    assert one == [401] * LIMIT + [429]  # the client named by the proxy is limited
    counted = await _counted(engine)
    expected = {f"198.51.100.{n}": 1 for n in range(LIMIT + 1)} | {"198.51.100.200": LIMIT + 1}
    assert counted == expected
