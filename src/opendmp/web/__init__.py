"""The portals: professional sign-in (``/pro``), admission desk (``/accueil``), online
creation (``/patient/creer``), the patient portal (``/patient``). Server-rendered HTML,
no JavaScript, FR/EN.

``install(app)`` adds the routers, the static files, the language switch and the security
headers; ``app.py`` hands portal errors to :func:`error_response`.
"""

from __future__ import annotations

import urllib.parse

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendmp.domain.errors import OpenDMPError
from opendmp.web import i18n, site
from opendmp.web.common import HERE, SignInRequired, error_text, language, render, safe_next

PORTAL_PREFIXES = ("/accueil", "/patient", "/pro", "/langue", "/static/portal", "/demo")
SIGN_IN_PATH = "/pro/connexion"

# Strict by default: the portals load only their own stylesheet and scripts (one, optional:
# the "Mes choix" filter; no inline script), are never framed, and post forms only to
# themselves.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def is_portal(request: Request) -> bool:
    return _is_portal_path(request.url.path)


def _is_portal_path(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PORTAL_PREFIXES)


async def error_response(request: Request, exc: OpenDMPError) -> Response:
    """The portal's answer to an error: a sign-in redirect, or a readable page (no trace)."""
    if isinstance(exc, SignInRequired):
        # Back to the page after sign-in; a form's target cannot be replayed by a GET.
        back = request.url.path if request.method == "GET" else exc.home_path
        target = urllib.parse.quote(safe_next(back, exc.home_path), safe="/")
        return RedirectResponse(f"{exc.sign_in_path}?next={target}", status_code=303)
    lang = language(request)
    message = error_text(exc, lang)
    # The patient portal words its refusals for patients (``patient.errors.*`` in
    # ``web/locale/*/LC_MESSAGES/patient.po``).
    patient_key = f"patient.errors.{exc.code}"
    if request.url.path.startswith("/patient") and i18n.has(patient_key):
        message = i18n.t(patient_key, lang)
    response = render(
        request,
        "error.html",
        {"message": message, "message_key": None, "code": exc.code, "status": exc.http_status},
        status_code=exc.http_status,
    )
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


def install(app: FastAPI) -> None:
    from opendmp.web.desk.routes import router as desk_router
    from opendmp.web.patient.creation import router as creation_router
    from opendmp.web.patient.portal import routers as patient_routers
    from opendmp.web.pro.routes import router as pro_router

    app.include_router(site.router)
    app.include_router(pro_router)
    app.include_router(desk_router)
    app.include_router(creation_router)
    for patient_router in patient_routers:
        app.include_router(patient_router)
    app.mount("/static/portal", StaticFiles(directory=HERE / "static"), name="portal-static")

    @app.get("/langue", include_in_schema=False)
    async def switch_language(request: Request, lang: str = "fr", next: str = "/") -> Response:
        response = RedirectResponse(safe_next(next, "/accueil"), status_code=303)
        response.set_cookie(
            i18n.COOKIE,
            i18n.language_of(lang),
            max_age=365 * 24 * 3600,
            path="/",
            samesite="lax",
            httponly=True,
        )
        return response

    app.add_middleware(site.PortalUnexpectedErrors)  # inside PortalHeaders: its page gets them
    app.add_middleware(PortalHeaders)


class PortalHeaders:
    """The portals' security and no-store headers, as plain ASGI: the API's requests
    (``/fhir``, ``/xds``…) pass straight through, with no ``BaseHTTPMiddleware`` task group
    and memory streams per request (docs/benchmarks.md, framework floor)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (_is_portal_path(path) or site.answers_html(path)):
            await self.app(scope, receive, send)
            return
        no_store = not path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if no_store:
                    # Pages carry personal data (identities, credentials): never stored.
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, with_headers)
