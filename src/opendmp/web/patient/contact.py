"""The patient's account page and its e-mail address (``/patient/compte``): the login, the
address, its change (a code sent to the new address, typed here), and the forgotten login
(``/patient/identifiant-oublie``: the login is e-mailed to the account's address; the page
answers the same whether an account has it or not). Services: ``services.accounts.contact``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from opendmp.domain.errors import OpenDMPError
from opendmp.services.accounts.contact import (
    confirm_email_change,
    email_addresses,
    request_email_change,
    request_login_reminder,
)
from opendmp.web.common import client_address, ctx_of, field, language, read_form
from opendmp.web.patient.session import Signed, page, patient_form, require_full
from opendmp.web.patient.texts import refusal

router = APIRouter(prefix="/patient", include_in_schema=False)
ACCOUNT = "/patient/compte"


async def _account_page(
    request: Request, signed: Signed, *, problem: str | None = None, status: int = 200
) -> Response:
    current, pending = await email_addresses(ctx_of(request), session_token=signed.token)
    return page(
        request,
        "patient/account.html",
        {
            "login": signed.info.login,
            "email": current,
            "pending": pending,
            "problem": problem,
        },
        signed=signed,
        status_code=status,
    )


@router.get("/compte")
async def account(request: Request) -> Response:
    return await _account_page(request, await require_full(request))


# One step of the e-mail change: the service call, given the session token, the typed value
# and the client's address.
EmailStep = Callable[..., Awaitable[object]]


async def _email_step(request: Request, step: EmailStep, typed: str, done: str) -> Response:
    """Run ``step`` with the form's ``typed`` field; on success go to ``done``, on refusal show
    the account page again with the reason in the person's language."""
    signed = await require_full(request)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    try:
        await step(
            ctx,
            session_token=signed.token,
            client_address=client_address(request),
            **{typed: field(form, typed)},
        )
    except OpenDMPError as error:
        problem = refusal(error, language(request), ctx.now())
        return await _account_page(request, signed, problem=problem, status=error.http_status)
    return RedirectResponse(f"{ACCOUNT}?fait={done}", status_code=303)


@router.post("/compte/email")
async def change_email(request: Request) -> Response:
    return await _email_step(request, request_email_change, "email", "email-code-sent#email-code")


@router.post("/compte/email/code")
async def confirm_email(request: Request) -> Response:
    return await _email_step(request, confirm_email_change, "code", "email-changed")


# --- forgotten login ---------------------------------------------------------------------------


@router.get("/identifiant-oublie")
async def login_reminder_page(request: Request) -> Response:
    sent = request.query_params.get("envoye") == "1"
    return page(request, "patient/login_reminder.html", {"sent": sent, "email_value": ""})


@router.post("/identifiant-oublie")
async def login_reminder(request: Request) -> Response:
    form = await read_form(request, "")
    ctx = ctx_of(request)
    typed = field(form, "email")
    try:
        await request_login_reminder(ctx, email=typed, client_address=client_address(request))
    except OpenDMPError as error:
        return page(
            request,
            "patient/login_reminder.html",
            {
                "sent": False,
                "email_value": typed[:254],
                "problem": refusal(error, language(request), ctx.now()),
            },
            status_code=error.http_status,
        )
    # The same answer whether an account has this address or not (the service says nothing).
    return RedirectResponse("/patient/identifiant-oublie?envoye=1", status_code=303)
