"""Objecting to the opening of one's DMP (opt-out opening, docs/rules.md §2):
``/patient/opposition``, open to anyone who holds a notice, without an account.

The form asks only the notice's code and the birth date; it is rate-limited like the
sign-in form (per address, per code). On success the page confirms and offers the proof of
opposition (a PDF, ``/patient/opposition/attestation``, which asks the code and birth date
again: nothing is kept in a session for a visitor without an account).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from opendmp.domain.errors import OpenDMPError
from opendmp.services.records.opt_out import Opposition, oppose, opposition_of
from opendmp.services.records.opt_out_letters import proof_of_opposition
from opendmp.web.common import client_address, ctx_of, field, language, read_form
from opendmp.web.forms import notice_birth_date
from opendmp.web.patient.session import page
from opendmp.web.patient.texts import day, refusal, stamped

router = APIRouter(prefix="/patient", include_in_schema=False)
FORM = "patient/opposition.html"


def _form_page(
    request: Request, *, code: str = "", problem: str | None = None, status: int = 200
) -> Response:
    return page(request, FORM, {"code": code, "problem": problem}, status_code=status)


@router.get("/opposition")
async def opposition_page(request: Request) -> Response:
    return _form_page(request)


@router.post("/opposition")
async def object_to_opening(request: Request) -> Response:
    form = await read_form(request, "")
    code = field(form, "code")
    ctx = ctx_of(request)
    try:
        done = await oppose(
            ctx,
            code=code,
            birth_date=notice_birth_date(form),
            client_address=client_address(request),
        )
    except OpenDMPError as error:
        return _form_page(
            request,
            code=code,
            problem=refusal(error, language(request), ctx.now()),
            status=error.http_status,
        )
    return _done_page(request, done, field(form, "birth_date"))


def _done_page(request: Request, done: Opposition, birth_date: str) -> Response:
    lang = language(request)
    return page(
        request,
        "patient/opposition_done.html",
        {
            "closed": done.record_closed,
            "when": stamped(done.opposed_at, lang),
            "announced": day(done.announced_at, lang),
            "code": done.code,
            "birth_date": birth_date,
        },
    )


@router.post("/opposition/attestation")
async def proof(request: Request) -> Response:
    form = await read_form(request, "")
    ctx = ctx_of(request)
    try:
        done = await opposition_of(
            ctx,
            code=field(form, "code"),
            birth_date=notice_birth_date(form),
            client_address=client_address(request),
        )
    except OpenDMPError as error:
        return _form_page(
            request,
            code=field(form, "code"),
            problem=refusal(error, language(request), ctx.now()),
            status=error.http_status,
        )
    return Response(
        proof_of_opposition(done),
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="attestation-opposition-dmp.pdf"',
            "Cache-Control": "no-store",
        },
    )
