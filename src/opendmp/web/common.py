"""What every portal page shares: templates, language, cookies, CSRF, staff sessions.

Templates are Jinja2 with autoescape on and ``StrictUndefined`` (a typo in a template is
an error in the tests, not an empty string on a patient's page). Forms are plain HTML and
work without JavaScript; the portals ship none.

CSRF: patient portal forms use the session's own token (``services.sessions``). The forms
that have no patient session — professional sign-in, the desk, online creation — use a
signed double-submit token: a random nonce in the ``opendmp_csrf`` cookie (HttpOnly,
SameSite=Strict) and, in the form, an HMAC over that nonce and the id of the session the
form belongs to (``""`` before sign-in), keyed from the master key
(``services.web_sessions.csrf_token``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from opendmp.auth.actor_kind import note_actor_kind
from opendmp.config import Settings
from opendmp.domain.actors import Professional
from opendmp.domain.errors import AccessDenied, OpenDMPError, Unauthenticated
from opendmp.services.accounts.web_sessions import (
    PROFESSIONAL,
    WebSessionInfo,
    csrf_token,
    csrf_valid,
    resolve_web_session,
)
from opendmp.services.core.context import ServiceContext
from opendmp.web import i18n

HERE = Path(__file__).parent
CSRF_FIELD = "csrf_token"
CSRF_COOKIE = "opendmp_csrf"
STAFF_COOKIE = "opendmp_staff"
ONBOARDING_COOKIE = "opendmp_onboarding"
MAX_FORM_PART = 64 * 1024

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)
_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> markupsafe.Markup:
    """Plain text, escaped, with its http(s) addresses made links (the demo mailbox)."""
    parts: list[str] = []
    last = 0
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(".,;:)")
        parts += [markupsafe.escape(text[last : found.start()]), _link(url)]
        last = found.start() + len(url)
    parts.append(markupsafe.escape(text[last:]))
    return markupsafe.Markup("").join(parts)


def _link(url: str) -> markupsafe.Markup:
    return markupsafe.Markup('<a href="{0}">{0}</a>').format(url)


_env.filters["linkify"] = linkify


class SignInRequired(Unauthenticated):
    """No live staff session: the portal answers with a redirect to the sign-in page.

    ``sign_in_path`` is where to go, ``home_path`` where to come back after a refused POST
    (a form's target cannot be replayed by a GET); the patient portal overrides both.
    """

    code = "not-signed-in"
    sign_in_path = "/pro/connexion"
    home_path = "/accueil"


class CsrfFailed(AccessDenied):
    code = "csrf-failed"


def ctx_of(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.runtime.ctx
    return ctx


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def language(request: Request) -> i18n.Lang:
    return i18n.language_of(request.cookies.get(i18n.COOKIE))


# --- cookies ------------------------------------------------------------------------------


def cookie_name(settings: Settings, base: str) -> str:
    # __Host-: only from a secure origin, no Domain attribute, so no sibling sub-domain can
    # plant the cookie (same rule as the patient session cookie, auth.sessions).
    return f"__Host-{base}" if settings.cookie_secure else base


def set_cookie(
    response: Response, settings: Settings, base: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=max_age,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, settings: Settings, base: str) -> None:
    set_cookie(response, settings, base, "", max_age=0)


def read_cookie(request: Request, base: str) -> str | None:
    return request.cookies.get(cookie_name(settings_of(request), base))


# --- CSRF ---------------------------------------------------------------------------------


def _nonce(request: Request) -> str:
    existing = read_cookie(request, CSRF_COOKIE)
    if existing:
        return existing
    fresh: str | None = getattr(request.state, "new_csrf_nonce", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(24)
        request.state.new_csrf_nonce = fresh
    return fresh


def form_csrf_token(request: Request, binding: str) -> str:
    return csrf_token(ctx_of(request), _nonce(request), binding)


def check_csrf(request: Request, form: FormData, binding: str) -> None:
    token = form.get(CSRF_FIELD)
    if not csrf_valid(
        ctx_of(request),
        read_cookie(request, CSRF_COOKIE),
        binding,
        token if isinstance(token, str) else None,
    ):
        raise CsrfFailed("the form's CSRF token is missing or wrong")


async def read_form(request: Request, binding: str) -> FormData:
    """The posted form, after the CSRF check (403 ``csrf-failed``)."""
    form = await request.form(max_files=1, max_fields=60, max_part_size=MAX_FORM_PART)
    check_csrf(request, form, binding)
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- staff sessions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Staff:
    session: WebSessionInfo
    actor: Professional

    @property
    def binding(self) -> str:
        return str(self.session.session_id)


async def optional_staff(request: Request) -> Staff | None:
    info = await resolve_web_session(
        ctx_of(request), read_cookie(request, STAFF_COOKIE), kind=PROFESSIONAL
    )
    if info is None or info.actor is None:
        return None
    note_actor_kind(request, info.actor.kind)
    return Staff(info, info.actor)


async def require_staff(request: Request) -> Staff:
    staff = await optional_staff(request)
    if staff is None:
        raise SignInRequired("please sign in")
    return staff


# --- rendering ----------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    binding: str = "",
    staff: Staff | None = None,
    status_code: int = 200,
) -> Response:
    lang = language(request)

    def tr(key: str, **params: object) -> str:
        return i18n.t(key, lang, **params)

    full: dict[str, Any] = {
        "lang": lang,
        "t": tr,
        "csrf_field": CSRF_FIELD,
        "csrf_token": form_csrf_token(request, binding),
        "staff": staff,
        "path": request.url.path,
        "problem": None,
        "notice_line": None,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    fresh = getattr(request.state, "new_csrf_nonce", None)
    if fresh:
        set_cookie(response, settings_of(request), CSRF_COOKIE, fresh, max_age=12 * 3600)
    return response


def error_text(exc: OpenDMPError, lang: str) -> str:
    """A person-readable message for an error, in the page's language: the wording of its
    code (``errors.<code>``), else of its family (``errors.invalid-input``), else a generic
    sentence. The service's own message is developer English and is never appended."""
    key = f"errors.{exc.code}"
    if i18n.has(key):
        text = i18n.t(key, lang)
    elif exc.code.startswith("invalid-"):
        text = i18n.t("errors.invalid-input", lang)
    else:
        text = i18n.t("errors.generic", lang)
    traits: tuple[str, ...] = getattr(exc, "traits", ())
    if traits:
        names = ", ".join(i18n.t(f"trait.{trait}", lang) for trait in traits)
        text += " " + i18n.t("errors.identity-differences", lang, traits=names)
    return text


def format_date(value: dt.date, lang: str) -> str:
    return f"{value:%d/%m/%Y}" if lang == "fr" else value.isoformat()


def safe_next(target: str | None, default: str = "/accueil") -> str:
    """A local path to go back to; anything else (``//evil``, ``https://…``) is refused."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc:
        return default
    return target
