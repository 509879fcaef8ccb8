"""Caregivers and a minor's second legal representative (docs/rules.md §3.7; docs/portals.md
"Caregivers"): the patient invites, sees and revokes; the invited person answers with their
own account, then switches to the record they may act for and back.

- ``/patient/aidants``: the record's delegations (revoke), the invitation forms, and the
  records the signed-in person may act for (switch);
- ``/patient/invitation/{code}``: the link of the e-mail; signed in, read and answer it;
- ``/patient/agir-pour``, ``/patient/agir-pour/moi``: switch the session and back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from opendmp.domain.actors import Patient
from opendmp.domain.codes import REPRESENTATIVE_RELATIONS
from opendmp.domain.delegations import Right
from opendmp.domain.errors import InvalidInput, NotFound, OpenDMPError
from opendmp.domain.local_time import paris_date
from opendmp.services.access.delegations import (
    CaregiverInvitation,
    DelegationView,
    act_as_self,
    act_for,
    answer_invitation,
    find_invitation,
    held_delegations,
    invite_caregiver,
    invite_representative,
    list_delegations,
    revoke_delegation,
)
from opendmp.services.records.lifecycle import show_record
from opendmp.services.records.onboarding import age_on
from opendmp.web.common import ctx_of, field, language
from opendmp.web.patient.session import (
    Signed,
    current_session,
    page,
    patient_form,
    require_full,
)
from opendmp.web.patient.texts import day, refusal

router = APIRouter(prefix="/patient", include_in_schema=False)
PAGE = "/patient/aidants"
ADULT_AGE = 18
# Errors a page shows as its own problem; anything else goes to the error page.
_PASS_THROUGH = {"record-closed", "record-destroyed", "csrf-failed", "not-signed-in"}


def _row(view: DelegationView, lang: str) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "kind": view.kind.value,
        "state": view.state.value,
        "live": view.live,
        "rights": sorted(right.value for right in view.rights),
        "from": day(view.starts_on, lang) if view.starts_on else None,
        "to": day(view.ends_on, lang) if view.ends_on else None,
        "email": view.email,
        "relation": view.relation,
        "who": view.caregiver_name,
        "until": day(view.invitation_expires_at, lang),
        "revocable": view.state.value in {"pending", "accepted"},
    }


async def _page(
    request: Request,
    signed: Signed,
    *,
    problem: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    ctx = ctx_of(request)
    lang = language(request)
    views = await list_delegations(ctx, actor=signed.actor, ins=signed.ins)
    record = await show_record(ctx, actor=signed.actor, ins=signed.ins)
    today = paris_date(ctx.now())
    held = (
        []
        if signed.representative
        else await held_delegations(ctx, account_id=signed.info.account_id)
    )
    return page(
        request,
        "patient/delegations.html",
        {
            "rows": [_row(view, lang) for view in views],
            "held": [
                {
                    "id": str(h.id),
                    "kind": h.kind.value,
                    "name": h.patient_name,
                    "rights": sorted(right.value for right in h.rights),
                    "to": day(h.ends_on, lang) if h.ends_on else None,
                }
                for h in held
            ],
            "minor": age_on(record.birth_date, today) < ADULT_AGE,
            "relations": sorted(REPRESENTATIVE_RELATIONS),
            "all_rights": [right.value for right in Right],
            "today": today.isoformat(),
            "values": values or {"rights": [right.value for right in Right]},
            "problem": problem,
        },
        signed=signed,
        status_code=status,
    )


@router.get("/aidants")
async def delegations(request: Request) -> Response:
    signed = await require_full(request)
    return await _page(request, signed)


def _delegation_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such delegation", code="delegation-not-found") from None


def _date(value: str, code: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("a date is not valid (YYYY-MM-DD)", code=code) from None


@router.post("/aidants/inviter")
async def invite(request: Request) -> Response:
    """Invite a caregiver (``role=caregiver``: rights and dates) or a minor's second legal
    representative (``role=representative``: the relation)."""
    signed = await require_full(request)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    lang = language(request)
    rights = tuple(value for value in form.getlist("rights") if isinstance(value, str))
    values: dict[str, Any] = {
        name: field(form, name) for name in ("email", "rep-email", "from", "to", "relation")
    }
    values["rights"] = rights
    try:
        if field(form, "role") == "representative":
            await invite_representative(
                ctx,
                actor=signed.actor,
                ins=signed.ins,
                email=values["rep-email"],
                relation=values["relation"],
                language=lang,
            )
        else:
            invitation = CaregiverInvitation(
                email=values["email"],
                rights=rights,
                starts_on=_date(values["from"], "invalid-delegation-start"),
                ends_on=_date(values["to"], "invalid-delegation-end"),
            )
            await invite_caregiver(
                ctx, actor=signed.actor, ins=signed.ins, invitation=invitation, language=lang
            )
    except OpenDMPError as error:
        if error.code in _PASS_THROUGH:
            raise
        status = error.http_status if error.http_status >= 400 else 422
        return await _page(
            request, signed, problem=refusal(error, lang, ctx.now()), values=values, status=status
        )
    return RedirectResponse(f"{PAGE}?fait=invited", status_code=303)


@router.post("/aidants/{delegation_id}/revoquer")
async def revoke(request: Request, delegation_id: str) -> Response:
    signed = await require_full(request)
    await patient_form(request, signed)
    await revoke_delegation(
        ctx_of(request),
        actor=signed.actor,
        ins=signed.ins,
        delegation_id=_delegation_id(delegation_id),
    )
    return RedirectResponse(f"{PAGE}?fait=delegation-revoked", status_code=303)


# --- the invited person ---------------------------------------------------------------------------


def _invitation_context(found: Any, lang: str) -> dict[str, Any]:
    return {"invitation": _row(found.delegation, lang), "patient_name": found.patient_name}


@router.get("/invitation/{code}")
async def invitation(request: Request, code: str) -> Response:
    """Signed in with one's own account: the invitation and its answer; otherwise how to
    sign in or create an account first (then this link again)."""
    signed = await current_session(request)
    here = f"/patient/invitation/{code}"
    if signed is None or signed.info.stage.value != "full":
        return page(request, "patient/invitation.html", {"here": here, "invitation": None})
    ctx = ctx_of(request)
    lang = language(request)
    actor = signed.actor
    if not isinstance(actor, Patient):
        problem = refusal(_own_account_needed(), lang, ctx.now())
        return page(
            request,
            "patient/invitation.html",
            {"here": here, "invitation": None, "problem": problem},
            signed=signed,
            status_code=403,
        )
    try:
        found = await find_invitation(ctx, actor=actor, code=code)
    except OpenDMPError as error:
        if error.code in _PASS_THROUGH:
            raise
        return page(
            request,
            "patient/invitation.html",
            {"here": here, "invitation": None, "problem": refusal(error, lang, ctx.now())},
            signed=signed,
            status_code=error.http_status if error.http_status >= 400 else 422,
        )
    return page(
        request,
        "patient/invitation.html",
        {"here": here, **_invitation_context(found, lang)},
        signed=signed,
    )


def _own_account_needed() -> OpenDMPError:
    return InvalidInput("answer with your own account", code="own-account-needed")


@router.post("/invitation/{code}")
async def answer(request: Request, code: str) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    actor = signed.actor
    if not isinstance(actor, Patient):
        raise _own_account_needed()
    accept = field(form, "answer") == "accept"
    await answer_invitation(
        ctx_of(request),
        actor=actor,
        account_id=signed.info.account_id,
        code=code,
        accept=accept,
    )
    done = "invitation-accepted" if accept else "invitation-refused"
    return RedirectResponse(f"{PAGE}?fait={done}", status_code=303)


# --- switching -------------------------------------------------------------------------------


@router.post("/agir-pour")
async def switch(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    delegation_id = _delegation_id(field(form, "delegation"))
    await act_for(ctx_of(request), session_token=signed.token, delegation_id=delegation_id)
    return RedirectResponse("/patient", status_code=303)


@router.post("/agir-pour/moi")
async def switch_back(request: Request) -> Response:
    signed = await require_full(request)
    await patient_form(request, signed)
    await act_as_self(ctx_of(request), session_token=signed.token)
    return RedirectResponse(PAGE, status_code=303)
