"""The patient's portal session: cookie, stages, CSRF, rendering.

The session lives server-side (``services.sessions``); the cookie (``auth.sessions``) holds
only its random token: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` with the ``__Host-``
prefix unless ``settings.cookie_secure`` is off. Every sign-in step that raises the rights
issues a new token (the services promote the session), which the routes hand over here.

A *partial* session (one-time password to change, TOTP to enrol or to type) may only finish
signing in: any other page sends it to its step. CSRF on a signed-in form is the session's
own token (``services.sessions.csrf_token_for``); the forms shown before sign-in use the
portals' signed double-submit token (``web.common``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from starlette.datastructures import FormData

from opendmp.auth.actor_kind import note_actor_kind
from opendmp.auth.sessions import (
    Holder,
    SessionInfo,
    Stage,
    check_csrf,
    clear_session_cookie,
    cookie_name,
    csrf_token_for,
    resolve_session,
    session_cookie,
)
from opendmp.domain.actors import Caregiver, LegalRepresentative, Patient
from opendmp.domain.identifiers import Ins, parse_ins
from opendmp.domain.policy import Action, caregiver_may
from opendmp.web.common import (
    CsrfFailed,
    SignInRequired,
    ctx_of,
    render,
    safe_next,
    settings_of,
)
from opendmp.web.patient import catalogue

HOME = "/patient"
SIGN_IN = "/patient/connexion"
STEP_PATHS = {
    Stage.PASSWORD_CHANGE: "/patient/mot-de-passe",
    Stage.TOTP_ENROLMENT: "/patient/double-authentification",
    Stage.TOTP: "/patient/code",
}
MAX_FORM_FIELD = 16 * 1024


class PatientSignInRequired(SignInRequired):
    """No live patient session, or one that must first finish a sign-in step."""

    home_path = HOME

    def __init__(self, message: str, *, to: str = SIGN_IN) -> None:
        super().__init__(message)
        self.sign_in_path = to


@dataclass(frozen=True, slots=True)
class Signed:
    """A live session and the token that proves it (the cookie's value)."""

    info: SessionInfo
    token: str

    @property
    def actor(self) -> Holder:
        """The patient, a legal representative of the (minor) patient, or a caregiver acting
        for the patient (docs/rules.md §3.7): the services and the policy decide what each
        may see and do."""
        return self.info.actor

    @property
    def representative(self) -> bool:
        return isinstance(self.info.actor, LegalRepresentative)

    @property
    def caregiver(self) -> Caregiver | None:
        actor = self.info.actor
        return actor if isinstance(actor, Caregiver) else None

    @property
    def acting_for_someone(self) -> bool:
        """The session switched to a record it holds a delegation for (switch back shown)."""
        return self.info.acting_for is not None

    @property
    def ins(self) -> Ins:
        actor = self.info.actor
        reference = actor.ins if isinstance(actor, Patient) else actor.patient_ins
        oid, _, value = reference.partition("|")
        return parse_ins(value, oid)

    @property
    def csrf(self) -> str:
        return csrf_token_for(self.info)

    @property
    def session_id(self) -> uuid.UUID:
        return self.info.session_id


def session_token(request: Request) -> str:
    return request.cookies.get(cookie_name(settings_of(request))) or ""


async def current_session(request: Request) -> Signed | None:
    """The live session of this browser at whatever stage, or None."""
    token = session_token(request)
    if not token:
        return None
    info = await resolve_session(ctx_of(request), token)
    if info is None:
        return None
    note_actor_kind(request, info.actor.kind)
    return Signed(info, token)


async def require_stage(request: Request, *stages: Stage) -> Signed:
    """A live session at one of ``stages``; otherwise a redirect (sign-in or its step)."""
    signed = await current_session(request)
    if signed is None:
        raise PatientSignInRequired("please sign in")
    if signed.info.stage not in stages:
        target = HOME if signed.info.stage is Stage.FULL else STEP_PATHS[signed.info.stage]
        raise PatientSignInRequired("finish signing in first", to=target)
    return signed


async def require_full(request: Request) -> Signed:
    return await require_stage(request, Stage.FULL)


async def patient_form(request: Request, signed: Signed) -> FormData:
    """The posted form after the session's CSRF check (403 ``csrf-failed``)."""
    form = await request.form(max_files=0, max_fields=40, max_part_size=MAX_FORM_FIELD)
    check_token(form, signed)
    return form


def check_token(form: FormData, signed: Signed) -> None:
    token = form.get("csrf_token")
    if not check_csrf(signed.info, token if isinstance(token, str) else None):
        raise CsrfFailed("the form's CSRF token is missing or wrong")


def hand_over(response: Response, request: Request, token: str) -> Response:
    """Give the browser a (new) session token."""
    response.headers.append("set-cookie", session_cookie(settings_of(request), token))
    return response


def forget(response: Response, request: Request) -> Response:
    response.headers.append("set-cookie", clear_session_cookie(settings_of(request)))
    return response


def next_page(value: str | None) -> str:
    """A local page of the patient portal to go to after a step (anything else: home)."""
    target = safe_next(value, HOME)
    return target if target == HOME or target.startswith(HOME + "/") else HOME


# The portal's menu: page, wording key, the action the page is for (None: the person's own).
MENU: tuple[tuple[str, str, Action | None], ...] = (
    (HOME, "patient.menu.home", Action.READ_RECORD_STATUS),
    ("/patient/documents", "patient.menu.documents", Action.SEARCH_DOCUMENTS),
    ("/patient/historique", "patient.menu.history", Action.READ_HISTORY),
    ("/patient/professionnels", "patient.menu.professionals", Action.READ_ACCESS_LIST),
    ("/patient/choix", "patient.menu.choices", Action.SET_EMERGENCY_CHOICES),
    ("/patient/aidants", "patient.menu.delegations", Action.MANAGE_DELEGATIONS),
    ("/patient/dossier", "patient.menu.record", Action.CLOSE),
    ("/patient/compte", "patient.menu.account", None),
)


def may(signed: Signed | None, action: Action | str | None) -> bool:
    """Whether to offer ``action`` to this session: a caregiver is offered what the policy's
    ``caregiver_may`` grants for their delegation's rights; everyone else every page (the
    services ask the policy either way: this only spares links that would be refused)."""
    if signed is None or action is None or signed.caregiver is None:
        return True
    acting = signed.info.acting_for
    rights = acting.rights if acting is not None else frozenset()
    return caregiver_may(Action(action), rights)


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    signed: Signed | None = None,
    status_code: int = 200,
) -> Response:
    """Render a patient page: the session's CSRF token in its forms, the portal's menu once
    fully signed in, the confirmation named by ``?fait=`` (known keys only)."""
    done = request.query_params.get("fait", "")
    full: dict[str, Any] = {
        "signed": signed,
        "menu": signed is not None and signed.info.stage is Stage.FULL,
        "done": f"patient.done.{done}" if done in catalogue.DONE_KEYS else None,
        "problem": None,
        **(context or {}),
    }
    if signed is not None:
        full["csrf_token"] = signed.csrf
    full["may"] = lambda action: may(signed, action)
    full["menu_items"] = [(href, key) for href, key, action in MENU if may(signed, action)]
    response = render(request, template, full, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
