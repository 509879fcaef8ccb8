"""Professional web sign-in (shared by the desk and the professional portal).

Two ways in: the card certificate the browser presents (CPS/CPE, verified by
``auth.dependencies``), and — only where the development issuer is on (demo, development)
— a page listing the demo professionals and the demo desk agent. Either opens a
server-side session (``web_session``, ``subject_kind = "professional"``) whose attributes
hold the actor.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from opendmp.auth.dependencies import Authenticator
from opendmp.domain.actors import Professional
from opendmp.domain.errors import NotFound, Unauthenticated
from opendmp.services.accounts.web_sessions import end_web_session, open_staff_session
from opendmp.web.common import (
    STAFF_COOKIE,
    clear_cookie,
    client_address,
    ctx_of,
    field,
    optional_staff,
    read_cookie,
    read_form,
    render,
    require_staff,
    safe_next,
    set_cookie,
    settings_of,
)
from opendmp.web.pro import documents, overview, patients
from opendmp.web.pro.patients import home_page

router = APIRouter(prefix="/pro", include_in_schema=False)


def _demo_staff(request: Request) -> list[tuple[str, Professional, str]]:
    """The demo's staff (app.py sets them only where the development issuer is on)."""
    staff: list[tuple[str, Professional, str]] = request.app.state.demo_staff
    return staff


def _dev_enabled(request: Request) -> bool:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.dev is not None


def is_desk_agent(actor: Professional) -> bool:
    """A CPE holder without a profession: their portal is the admission desk."""
    return actor.card_kind.value == "CPE" and actor.profession is None


def _home_of(actor: Professional) -> str:
    return "/accueil" if is_desk_agent(actor) else "/pro"


async def _signed_in(request: Request, actor: Professional, method: str, target: str) -> Response:
    ctx = ctx_of(request)
    token = await open_staff_session(
        ctx, actor=actor, method=method, client_address=client_address(request)
    )
    # Without a page to go back to, each lands on their own portal (desk or professionals).
    response = RedirectResponse(safe_next(target, _home_of(actor)), status_code=303)
    set_cookie(
        response,
        settings_of(request),
        STAFF_COOKIE,
        token,
        max_age=int(ctx.auth.session_absolute.total_seconds()),
    )
    return response


@router.get("/connexion")
async def sign_in_page(request: Request, next: str = "") -> Response:
    settings = settings_of(request)
    return render(
        request,
        "pro/signin.html",
        {
            "next": safe_next(next, ""),
            "demo": _demo_staff(request),
            "card": settings.client_ca_file is not None,
        },
    )


@router.post("/connexion/demo")
async def sign_in_demo(request: Request) -> Response:
    form = await read_form(request, "")
    if not _dev_enabled(request):
        raise NotFound("demo sign-in is off", code="dev-sign-in-off")
    key = field(form, "who")
    actor = next((a for k, a, _ in _demo_staff(request) if k == key), None)
    if actor is None:
        raise NotFound("unknown demo identity", code="not-found")
    return await _signed_in(request, actor, "demo", field(form, "next"))


@router.post("/connexion/carte")
async def sign_in_card(request: Request) -> Response:
    form = await read_form(request, "")
    authenticator: Authenticator = request.app.state.authenticator
    auth = await authenticator.authenticate(request)
    if auth.mechanism != "certificate" or not isinstance(auth.actor, Professional):
        raise Unauthenticated("sign in with a card certificate", code="authentication-required")
    return await _signed_in(request, auth.actor, "card", field(form, "next"))


@router.post("/deconnexion")
async def sign_out(request: Request) -> Response:
    staff = await optional_staff(request)
    if staff is not None:
        await read_form(request, staff.binding)
    await end_web_session(ctx_of(request), read_cookie(request, STAFF_COOKIE))
    response = RedirectResponse("/pro/connexion", status_code=303)
    clear_cookie(response, settings_of(request), STAFF_COOKIE)
    return response


@router.get("")
async def home(request: Request) -> Response:
    staff = await require_staff(request)
    if is_desk_agent(staff.actor):
        return RedirectResponse("/accueil", status_code=303)
    return home_page(request, staff)


# The portal's pages around a patient live beside this module.
router.include_router(patients.router)
router.include_router(documents.router)
router.include_router(overview.router)
