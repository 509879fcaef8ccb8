"""The portals' request log lines (opendmp/observability.py): the actor kind of a staff
session and of a patient session, anonymous before sign-in; no login, INS or name."""

from __future__ import annotations

import io

import httpx
from fastapi import FastAPI

from opendmp.services.core.context import ServiceContext
from tests.log_support import log_lines_fixture, request_lines  # noqa: F401 - a fixture
from tests.services.patient_accounts import NEW_PASSWORD, code, enrolled
from tests.web.conftest import post_form, sign_in


async def test_portal_lines_name_the_kind_of_actor_never_who(
    client: httpx.AsyncClient, web_app: FastAPI, ctx: ServiceContext, log_lines: io.StringIO
) -> None:
    await sign_in(client, "desk")
    assert (await client.get("/accueil")).status_code == 200
    account = await enrolled(ctx, step_back=True)
    assert account.secret is not None
    transport = httpx.ASGITransport(app=web_app, client=("192.0.2.11", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as browser:
        signed = await post_form(
            browser,
            "/patient/connexion",
            "/patient/connexion",
            {
                "login": account.login,
                "password": NEW_PASSWORD,
                "code": code(account.secret, ctx.now()),
            },
        )
        assert signed.status_code == 303, signed.text
        assert (await browser.get("/patient")).status_code == 200

    lines = [(x["method"], x["route"], x["actor_kind"]) for x in request_lines(log_lines)]
    assert lines == [
        ("GET", "/pro/connexion", "anonymous"),
        ("POST", "/pro/connexion/demo", "anonymous"),
        ("GET", "/accueil", "professional"),
        ("GET", "/patient/connexion", "anonymous"),
        ("POST", "/patient/connexion", "anonymous"),
        ("GET", "/patient", "patient"),
    ]
    whole = log_lines.getvalue()
    for secret in (account.login, account.ins.value, "FICTIF", NEW_PASSWORD):
        assert secret not in whole
