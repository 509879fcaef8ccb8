"""What is around the portals: the landing page at ``/`` (the four ways in, and in demo mode
the demo identities), the demo mailbox at ``/demo/mails`` (demo mode only, 404 otherwise;
``notify.demo_mailbox``), and the HTML error pages (404, 403, 500…) every path but the APIs'
answers with (docs/portals.md, "Landing page and error pages").
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from opendmp.asgi import LastLine, log_incident
from opendmp.config import Mode
from opendmp.notify.demo_mailbox import list_mails, read_mail
from opendmp.web.common import render, settings_of

router = APIRouter(include_in_schema=False)

# Paths that answer in an API's own format (OperationOutcome, SOAP fault, JSON): everything
# else is a page for a person.
API_PREFIXES = ("/fhir", "/xds", "/auth", "/healthz", "/readyz", "/metrics", "/openapi.json")
DOCS_PREFIXES = ("/docs",)
# Written by ``opendmp demo`` (0600): the demo patients' first credentials.
DEMO_LOGINS_FILE = "demo-patient-logins.json"


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def answers_html(path: str) -> bool:
    """Whether an error at ``path`` is answered with an HTML page (not an API's format)."""
    return not _under(path, API_PREFIXES + DOCS_PREFIXES)


def _demo(request: Request) -> bool:
    return settings_of(request).mode is Mode.DEMO


def _demo_patient_logins(request: Request) -> list[list[str]]:
    path = settings_of(request).home / DEMO_LOGINS_FILE
    if not path.is_file():
        return []
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [list(map(str, row)) for row in rows if isinstance(row, list) and len(row) == 4]


@router.get("/")
async def landing(request: Request) -> Response:
    context: dict[str, Any] = {"demo": None}
    if _demo(request):
        guide: dict[str, Any] = getattr(request.app.state, "demo_guide", {})
        context["demo"] = {
            "staff": request.app.state.demo_staff,
            "patients": _demo_patient_logins(request),
            "people": guide.get("people", []),
        }
    return render(request, "landing.html", context)


@router.get("/demo/mails")
async def demo_mails(request: Request) -> Response:
    if not _demo(request):
        raise StarletteHTTPException(404)
    mails = list_mails(settings_of(request).home)
    return render(request, "demo/mails.html", {"mails": mails})


@router.get("/demo/mails/{mail_id}")
async def demo_mail(request: Request, mail_id: str) -> Response:
    mail = read_mail(settings_of(request).home, mail_id) if _demo(request) else None
    if mail is None:
        raise StarletteHTTPException(404)
    return render(request, "demo/mail.html", {"mail": mail})


def error_page(request: Request, status: int, message_key: str) -> Response:
    """The page of an HTTP error (no route, method not allowed, unexpected error)."""
    return render(
        request,
        "error.html",
        {"message": None, "message_key": message_key, "code": None, "status": status},
        status_code=status,
    )


async def http_error_page(request: Request, exc: StarletteHTTPException) -> Response:
    key = {404: "site.error.404", 405: "site.error.405"}.get(exc.status_code, "errors.generic")
    response = error_page(request, exc.status_code, key)
    response.headers.update(dict(getattr(exc, "headers", None) or {}))
    return response


class PortalUnexpectedErrors(LastLine):
    """ASGI middleware, the last line under the pages: an exception that escaped every
    handler (a defect) becomes the HTML error page with an incident number, logged without
    the exception's message (``asgi.log_incident``)."""

    def applies(self, path: str) -> bool:
        return answers_html(path)

    def answer(self, exc: Exception, scope: Scope) -> Response:
        incident = log_incident(logging.getLogger("opendmp.web"), exc, scope)
        request = Request(scope)
        return render(
            request,
            "error.html",
            {"message": None, "message_key": "site.error.500", "code": incident, "status": 500},
            status_code=500,
        )
