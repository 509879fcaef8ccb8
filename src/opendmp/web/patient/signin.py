"""Signing in to the patient portal (docs/architecture.md §9: login + password + TOTP).

``/patient/connexion`` → (first time, with the one-time password) ``/patient/mot-de-passe``
→ ``/patient/double-authentification`` (QR code) → the portal; later sign-ins give the TOTP
code on the sign-in form or on ``/patient/code``. Forgotten password: a code e-mailed
through the outbox (``/patient/mot-de-passe-oublie``). Sign out here or everywhere.

Refusals say what to do next: a wrong login or password (one message for both, as the
service does), a locked account with the time it opens again, an expired one-time password.
"""

from __future__ import annotations

import urllib.parse

import segno
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup

from opendmp.auth.sessions import Stage, logout, logout_everywhere
from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.services.accounts.patient_accounts import (
    LoginResult,
    change_password,
    confirm_totp,
    login,
    request_password_reset,
    reset_password,
    start_totp_enrolment,
    verify_totp,
)
from opendmp.services.accounts.totp import provisioning_uri
from opendmp.web import i18n
from opendmp.web.common import client_address, ctx_of, field, language, read_form
from opendmp.web.patient.session import (
    HOME,
    SIGN_IN,
    STEP_PATHS,
    Signed,
    current_session,
    forget,
    hand_over,
    next_page,
    page,
    patient_form,
    require_full,
    require_stage,
)
from opendmp.web.patient.texts import refusal

router = APIRouter(prefix="/patient", include_in_schema=False)


def _after(result: LoginResult, request: Request, target: str) -> Response:
    """Where a sign-in step leads, with the new session token."""
    path = STEP_PATHS.get(result.stage, target)
    if result.stage is not Stage.FULL and target != HOME:
        path += "?" + urllib.parse.urlencode({"next": target})
    return hand_over(RedirectResponse(path, status_code=303), request, result.session_token)


# --- sign-in ------------------------------------------------------------------------------


def _sign_in_page(
    request: Request, *, login_value: str = "", problem: str | None = None, status: int = 200
) -> Response:
    return page(
        request,
        "patient/signin.html",
        {
            "login_value": login_value,
            "problem": problem,
            "next": next_page(request.query_params.get("next")),
        },
        status_code=status,
    )


@router.get("/connexion")
async def sign_in_page(request: Request) -> Response:
    signed = await current_session(request)
    if signed is not None and signed.info.stage is Stage.FULL:
        return RedirectResponse(HOME, status_code=303)
    return _sign_in_page(request)


@router.post("/connexion")
async def sign_in(request: Request) -> Response:
    form = await read_form(request, "")
    name = field(form, "login")
    code = field(form, "code").replace(" ", "")
    try:
        result = await login(
            ctx_of(request),
            login=name,
            password=str(form.get("password") or ""),
            totp_code=code or None,
            client_address=client_address(request),
        )
    except OpenDMPError as error:
        return _sign_in_page(
            request,
            login_value=name,
            problem=refusal(error, language(request), ctx_of(request).now()),
            status=error.http_status,
        )
    return _after(result, request, next_page(field(form, "next")))


@router.get("/code")
async def totp_page(request: Request) -> Response:
    signed = await require_stage(request, Stage.TOTP)
    return page(
        request,
        "patient/totp.html",
        {"next": next_page(request.query_params.get("next"))},
        signed=signed,
    )


@router.post("/code")
async def totp(request: Request) -> Response:
    signed = await require_stage(request, Stage.TOTP)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    try:
        result = await verify_totp(
            ctx, session_token=signed.token, code=field(form, "code").replace(" ", "")
        )
    except OpenDMPError as error:
        return page(
            request,
            "patient/totp.html",
            {
                "next": next_page(field(form, "next")),
                "problem": refusal(error, language(request), ctx.now()),
            },
            signed=signed,
            status_code=error.http_status,
        )
    return _after(result, request, next_page(field(form, "next")))


# --- the one-time password is replaced --------------------------------------------------------


def _password_page(
    request: Request, signed: Signed, *, problem: str | None = None, status: int = 200
) -> Response:
    return page(
        request,
        "patient/password.html",
        {
            "first_time": signed.info.stage is Stage.PASSWORD_CHANGE,
            "next": next_page(request.query_params.get("next")),
            "problem": problem,
        },
        signed=signed,
        status_code=status,
    )


@router.get("/mot-de-passe")
async def password_page(request: Request) -> Response:
    signed = await require_stage(request, Stage.PASSWORD_CHANGE, Stage.FULL)
    return _password_page(request, signed)


@router.post("/mot-de-passe")
async def password(request: Request) -> Response:
    signed = await require_stage(request, Stage.PASSWORD_CHANGE, Stage.FULL)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    lang = language(request)
    new = str(form.get("new_password") or "")
    if new != str(form.get("new_password_confirm") or ""):
        problem = refusal(InvalidInput("", code="passwords-differ"), lang, ctx.now())
        return _password_page(request, signed, problem=problem, status=422)
    try:
        result = await change_password(
            ctx, session_token=signed.token, old=str(form.get("old_password") or ""), new=new
        )
    except OpenDMPError as error:
        problem = refusal(error, lang, ctx.now())
        return _password_page(request, signed, problem=problem, status=error.http_status)
    if result.stage is Stage.FULL:
        response = RedirectResponse(f"{HOME}/compte?fait=password", status_code=303)
        return hand_over(response, request, result.session_token)
    return _after(result, request, next_page(field(form, "next")))


# --- TOTP enrolment -----------------------------------------------------------------------------


def _qr_svg(uri: str, title: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (segno writes only paths: no script, no
    style, no external reference), escaped title."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, title=title, dark="#000")
    return Markup(svg)  # noqa: S704 (generated by segno from our URI; no markup from input)


def _enrolment_page(
    request: Request,
    signed: Signed,
    *,
    uri: str,
    secret: str,
    problem: str | None = None,
    status: int = 200,
    next_target: str = HOME,
) -> Response:
    lang = language(request)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page(
        request,
        "patient/enrol.html",
        {
            "qr": _qr_svg(uri, i18n.t("patient.totp.qr_title", lang)),
            "secret": secret,
            "secret_grouped": grouped,
            "problem": problem,
            "next": next_target,
        },
        signed=signed,
        status_code=status,
    )


@router.get("/double-authentification")
async def enrolment_page(request: Request) -> Response:
    signed = await require_stage(request, Stage.TOTP_ENROLMENT)
    enrolment = await start_totp_enrolment(ctx_of(request), session_token=signed.token)
    return _enrolment_page(
        request,
        signed,
        uri=enrolment.uri,
        secret=enrolment.secret,
        next_target=next_page(request.query_params.get("next")),
    )


@router.post("/double-authentification")
async def enrol(request: Request) -> Response:
    signed = await require_stage(request, Stage.TOTP_ENROLMENT)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    try:
        result = await confirm_totp(
            ctx, session_token=signed.token, code=field(form, "code").replace(" ", "")
        )
    except OpenDMPError as error:
        # The secret waits on the session; the page shows again the one the person scanned
        # (its value came back in the form only to be displayed: confirming uses the
        # server's copy).
        secret = "".join(ch for ch in field(form, "secret").upper() if ch.isalnum())[:64]
        if not secret:
            return RedirectResponse("/patient/double-authentification", status_code=303)
        return _enrolment_page(
            request,
            signed,
            uri=provisioning_uri(secret, signed.info.login),
            secret=secret,
            problem=refusal(error, language(request), ctx.now()),
            status=error.http_status,
            next_target=next_page(field(form, "next")),
        )
    target = next_page(field(form, "next"))
    separator = "&" if "?" in target else "?"
    response = RedirectResponse(f"{target}{separator}fait=totp", status_code=303)
    return hand_over(response, request, result.session_token)


# --- forgotten password -----------------------------------------------------------------------


@router.get("/mot-de-passe-oublie")
async def reset_request_page(request: Request) -> Response:
    return page(request, "patient/reset_request.html", {"login_value": ""})


@router.post("/mot-de-passe-oublie")
async def reset_request(request: Request) -> Response:
    form = await read_form(request, "")
    ctx = ctx_of(request)
    name = field(form, "login")
    try:
        await request_password_reset(ctx, login=name, client_address=client_address(request))
    except OpenDMPError as error:
        return page(
            request,
            "patient/reset_request.html",
            {"login_value": name, "problem": refusal(error, language(request), ctx.now())},
            status_code=error.http_status,
        )
    # The same answer whether the login exists or not (the service says nothing either).
    query = urllib.parse.urlencode({"identifiant": name})
    return RedirectResponse(f"/patient/mot-de-passe-oublie/code?{query}", status_code=303)


@router.get("/mot-de-passe-oublie/code")
async def reset_page(request: Request) -> Response:
    return page(
        request,
        "patient/reset.html",
        {"login_value": request.query_params.get("identifiant", "")[:64], "sent": True},
    )


@router.post("/mot-de-passe-oublie/code")
async def reset(request: Request) -> Response:
    form = await read_form(request, "")
    ctx = ctx_of(request)
    lang = language(request)
    name = field(form, "login")
    new = str(form.get("new_password") or "")
    try:
        if new != str(form.get("new_password_confirm") or ""):
            raise InvalidInput("", code="passwords-differ")
        await reset_password(
            ctx,
            login=name,
            code=field(form, "code"),
            new_password=new,
            client_address=client_address(request),
        )
    except OpenDMPError as error:
        return page(
            request,
            "patient/reset.html",
            {"login_value": name, "sent": False, "problem": refusal(error, lang, ctx.now())},
            status_code=error.http_status,
        )
    return RedirectResponse(f"{SIGN_IN}?fait=reset", status_code=303)


# --- sign out ---------------------------------------------------------------------------------


@router.post("/deconnexion")
async def sign_out(request: Request) -> Response:
    signed = await current_session(request)
    if signed is not None:
        await patient_form(request, signed)
        await logout(ctx_of(request), session_token=signed.token)
    return forget(RedirectResponse(f"{SIGN_IN}?fait=signed-out", status_code=303), request)


@router.post("/deconnexion-partout")
async def sign_out_everywhere(request: Request) -> Response:
    signed = await require_full(request)
    await patient_form(request, signed)
    await logout_everywhere(ctx_of(request), session_token=signed.token)
    return forget(RedirectResponse(f"{SIGN_IN}?fait=signed-out-all", status_code=303), request)
