"""Portal test harness: the real app over ASGI on the test database, demo mode (dev
sign-in on), plain-http cookies, the demo identities in the identity registry; helpers
that read CSRF tokens from the HTML and post forms the way a browser does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime, create_app
from opendmp.config import load_settings
from opendmp.devtools.demo import seed_identity_registry
from opendmp.services.core.context import ServiceContext
from tests.web.browser_support import Shots, screenshot_folder

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _no_opendmp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OPENDMP_") and name != "OPENDMP_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
async def web_app(ctx: ServiceContext, engine: AsyncEngine, tmp_path: Path) -> FastAPI:
    settings = load_settings(
        home=tmp_path,
        mode="demo",
        cookie_secure=False,
        run_worker_in_process=False,
        public_base_url="https://dmp.example.test",
    )
    ctx.base_url = settings.base_url
    await seed_identity_registry(ctx)
    return create_app(settings, Runtime(settings, engine, ctx))


@pytest.fixture
async def client(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app, client=("192.0.2.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
        yield c


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]
) -> httpx.Response:
    """GET ``page``, take its CSRF token, POST ``data`` urlencoded to ``action``."""
    got = await client.get(page)
    assert got.status_code == 200, got.text
    return await client.post(action, data={"csrf_token": csrf_of(got.text), **data})


async def sign_in(client: httpx.AsyncClient, who: str = "desk") -> None:
    page = await client.get("/pro/connexion?next=/accueil")
    assert page.status_code == 200
    response = await client.post(
        "/pro/connexion/demo",
        data={"csrf_token": csrf_of(page.text), "who": who, "next": "/accueil"},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/accueil"


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Iterator[Shots]:
    """The test's screenshots, in ``test-artifacts/screenshots/<test name>/``; the folder is
    printed at the end (``pytest -s`` or the captured output of a failure shows it)."""
    taken = Shots(screenshot_folder(request.node.name))
    yield taken
    taken.report()
