"""Online creation of a DMP by an adult (``/patient/creer``), in two steps.

1. Identity (INS traits + Carte Vitale number) checked against the identity registry, age
   ≥ 18 today, existence test, then an 8-digit code is e-mailed to the address given. The
   checked identity is kept server-side in an ``onboarding`` session (cookie), not in the
   form, so step 2 cannot be posted for somebody else.
2. The code, the information notice and the express consent (channel ONLINE, captured by
   the person themself), emergency choices, the password the person chooses. The record is
   created, then the chosen password replaces the generated one; the TOTP is enrolled at
   the first sign-in (patient portal).

Refusals never say which identity trait differs: the form is public.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from opendmp.domain.actors import Patient
from opendmp.domain.errors import Conflict, InvalidInput, OpenDMPError
from opendmp.domain.local_time import paris_date
from opendmp.domain.records import RecordStatus
from opendmp.services.accounts.ratelimit import enforce
from opendmp.services.accounts.web_sessions import (
    ONBOARDING,
    WebSessionInfo,
    end_web_session,
    open_onboarding_session,
    resolve_web_session,
    update_attributes,
)
from opendmp.services.records.identity_registry import verify_identity
from opendmp.services.records.notice import current_notice
from opendmp.services.records.onboarding import (
    OnlineRequest,
    check_email_proof,
    check_existence,
    create_record_online,
    require_adult,
    send_email_proof,
)
from opendmp.web.common import (
    ONBOARDING_COOKIE,
    clear_cookie,
    client_address,
    ctx_of,
    error_text,
    field,
    language,
    read_cookie,
    read_form,
    render,
    set_cookie,
    settings_of,
)
from opendmp.web.forms import (
    IDENTITY_FIELDS,
    emergency_choices,
    identity_claim,
    identity_from_json,
    identity_json,
    notice_blocks,
    values_of,
)

router = APIRouter(prefix="/patient/creer", include_in_schema=False)
IDENTITY_CHECKS_PER_HOUR = 20


def _step1(request: Request, *, values: dict[str, str], problem: str | None) -> Response:
    return render(
        request,
        "patient/create.html",
        {"values": values, "problem": problem},
        status_code=422 if problem else 200,
    )


@router.get("")
async def start(request: Request) -> Response:
    return _step1(request, values={}, problem=None)


@router.post("")
async def check_identity(request: Request) -> Response:
    form = await read_form(request, "")
    ctx = ctx_of(request)
    lang = language(request)
    values = values_of(form, (*IDENTITY_FIELDS, "email"))
    address = client_address(request)
    try:
        if address:
            await enforce(
                ctx,
                f"online-identity:addr:{address}",
                limit=IDENTITY_CHECKS_PER_HOUR,
                window=dt.timedelta(hours=1),
            )
        claim = identity_claim(form, require_ins=True, require_serial=True)
        if not field(form, "email"):
            raise InvalidInput("an e-mail address is required", code="invalid-email")
        identity = await verify_identity(ctx, claim, detailed=False)
        require_adult(identity.birth_date, paris_date(ctx.now()))
        status = await check_existence(ctx, actor=Patient(ins=str(identity.ins)), ins=identity.ins)
        if status is not None:
            raise Conflict(
                "a record exists",
                code="record-exists-closed" if status is RecordStatus.CLOSED else "record-exists",
            )
        code_id = await send_email_proof(
            ctx, email=field(form, "email"), language=lang, client_address=address
        )
    except OpenDMPError as error:
        return _step1(request, values=values, problem=error_text(error, lang))
    token = await open_onboarding_session(
        ctx,
        attributes={
            "identity": identity_json(identity),
            "email": field(form, "email"),
            "code_id": str(code_id),
            "email_verified": False,
        },
        client_address=address,
    )
    response = RedirectResponse("/patient/creer/confirmer", status_code=303)
    set_cookie(response, settings_of(request), ONBOARDING_COOKIE, token, max_age=3600)
    return response


async def _journey(request: Request) -> WebSessionInfo:
    info = await resolve_web_session(
        ctx_of(request), read_cookie(request, ONBOARDING_COOKIE), kind=ONBOARDING
    )
    if info is None or not isinstance(info.attributes.get("identity"), dict):
        raise Conflict("start again", code="journey-expired")
    return info


def _step2(
    request: Request,
    journey: WebSessionInfo,
    *,
    problem: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 422,
    verified: bool | None = None,
) -> Response:
    notice = current_notice()
    attributes: dict[str, Any] = journey.attributes
    return render(
        request,
        "patient/confirm.html",
        {
            "email": attributes.get("email", ""),
            "verified": attributes.get("email_verified") if verified is None else verified,
            "notice": notice,
            "notice_blocks": notice_blocks(notice.text),
            "problem": problem,
            "values": values or {},
        },
        binding=str(journey.session_id),
        status_code=status_code if problem else 200,
    )


@router.get("/confirmer")
async def confirm_page(request: Request) -> Response:
    journey = await _journey(request)
    return _step2(request, journey)


@router.post("/confirmer")
async def confirm(request: Request) -> Response:
    journey = await _journey(request)
    form = await read_form(request, str(journey.session_id))
    ctx = ctx_of(request)
    lang = language(request)
    attributes = journey.attributes
    values = values_of(
        form, ("mobile", "consent", "allow_regulation", "allow_break_glass", "allow_masked")
    )
    verified = bool(attributes.get("email_verified"))
    if not verified:
        try:
            await check_email_proof(
                ctx,
                code_id=uuid.UUID(str(attributes["code_id"])),
                email=str(attributes["email"]),
                code=field(form, "code"),
            )
        except OpenDMPError as error:
            return _step2(
                request, journey, problem=error_text(error, lang), values=values, status_code=401
            )
        await update_attributes(ctx, journey.session_id, set_items={"email_verified": True})
        verified = True
    password = form.get("password")
    confirm_password = form.get("password_confirm")
    if not isinstance(password, str) or password != confirm_password:
        return _step2(
            request,
            journey,
            problem=error_text(InvalidInput("", code="passwords-differ"), lang),
            values=values,
            verified=verified,
        )
    try:
        view = await create_record_online(
            ctx,
            OnlineRequest(
                identity=identity_from_json(attributes["identity"]),
                email=str(attributes["email"]),
                password=password,
                notice_version=field(form, "notice_version"),
                consent_confirmed=field(form, "consent") == "yes",
                mobile=field(form, "mobile") or None,
                emergency=emergency_choices(form),
                client_address=client_address(request),
            ),
        )
    except OpenDMPError as error:
        return _step2(
            request, journey, problem=error_text(error, lang), values=values, verified=verified
        )
    await end_web_session(ctx, read_cookie(request, ONBOARDING_COOKIE))
    login = view.credentials[0] if view.credentials else ""
    response = render(request, "patient/created.html", {"login": login})
    clear_cookie(response, settings_of(request), ONBOARDING_COOKIE)
    return response
