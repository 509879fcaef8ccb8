"""Professional portal, around one patient: find them (INS typed or read from a Carte
Vitale file), see the existence test and one's status, declare the patient's consent
(optionally becoming treating doctor), open an emergency access; and "my patients".

Routes stay thin: parse the form, call a service, render or redirect (303 after a change).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from opendmp.domain.actors import AccessMode, CardKind
from opendmp.domain.errors import AccessDenied, InvalidInput, OpenDMPError
from opendmp.domain.identifiers import parse_ins
from opendmp.domain.vitale import MAX_FILE_BYTES, parse_card
from opendmp.services.access.authorisations import AccessState, declare_authorization
from opendmp.services.access.pro_patients import (
    MAX_JUSTIFICATION,
    PatientCard,
    look_up_patient,
    my_patients,
    open_emergency,
)
from opendmp.web.common import (
    Staff,
    ctx_of,
    error_text,
    field,
    format_date,
    language,
    read_form,
    render,
    require_staff,
)
from opendmp.web.pro.context import (
    Dossier,
    dossier_of,
    is_desk_agent,
    open_dossier,
    set_emergency,
    time_text,
)

# Included by ``pro.routes`` under ``/pro``.
router = APIRouter(include_in_schema=False)
DOCTOR = "10"


def home_page(
    request: Request, staff: Staff, *, problem: str | None = None, ins: str = ""
) -> Response:
    return render(
        request,
        "pro/home.html",
        {"problem": problem, "ins": ins},
        binding=staff.binding,
        staff=staff,
        status_code=422 if problem else 200,
    )


@router.post("/recherche")
async def find_patient(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    typed = field(form, "ins")
    try:
        if not typed:
            raise InvalidInput("the INS is required", code="invalid-ins")
        ins = parse_ins(typed, ctx_of(request).default_ins_oid)
    except OpenDMPError as error:
        return home_page(request, staff, problem=error_text(error, language(request)), ins=typed)
    handle = await open_dossier(request, staff, ins)
    return RedirectResponse(f"/pro/dossiers/{handle}", status_code=303)


@router.post("/carte-vitale")
async def read_vitale(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    upload = form.get("card")
    lang = language(request)
    try:
        if not isinstance(upload, UploadFile):
            raise InvalidInput("choose the card file", code="invalid-vitale-card")
        card = parse_card(await upload.read(MAX_FILE_BYTES + 1))
    except OpenDMPError as error:
        return home_page(request, staff, problem=error_text(error, lang))
    people = [
        {
            "role": "pp.card.insured" if index == 0 else "pp.card.beneficiary",
            "name": person.display_name,
            "date": format_date(person.birth_date, lang),
            "ins": person.ins or "",
        }
        for index, person in enumerate(card.people)
    ]
    return render(request, "pro/card.html", {"people": people}, binding=staff.binding, staff=staff)


def _status_view(card: PatientCard, lang: str) -> dict[str, Any]:
    status = card.status
    return {
        "exists": card.exists,
        "active": card.active,
        "record_status": status.record_status.value if status.record_status else None,
        "closed_at": time_text(status.closed_at, lang) if status.closed_at else None,
        "state": status.state.value,
        "treating": status.treating_doctor,
        "may_read": card.may_read,
        "name": (f"{card.birth_name} {card.given_names}" if card.birth_name is not None else None),
        "birth_date": format_date(card.birth_date, lang) if card.birth_date else None,
        "sex": card.sex,
    }


async def dossier_page(
    request: Request,
    staff: Staff,
    dossier: Dossier,
    *,
    problem: str | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    lang = language(request)
    card = await look_up_patient(ctx_of(request), actor=dossier.actor, ins=dossier.ins)
    actor = staff.actor
    cpe = actor.card_kind is CardKind.CPE
    state = card.status.state
    return render(
        request,
        "pro/dossier.html",
        {
            "dossier": dossier,
            "banner": banner(dossier, lang),
            "ins": dossier.ins.value,
            "status": _status_view(card, lang),
            "problem": problem,
            "values": values or {},
            "max_justification": MAX_JUSTIFICATION,
            # Consent is declared by one who is not yet authorised, or who renews it / names
            # themself treating doctor; a blocked professional cannot (the patient's will).
            "offer_consent": card.active and state is not AccessState.INTERDIT,
            "offer_treating": actor.profession == DOCTOR and not card.status.treating_doctor,
            "offer_emergency": card.active and not cpe and state is not AccessState.INTERDIT,
            "offer_regulation": actor.profession == DOCTOR,
            "offer_deposit": card.active,
            "deposited": request.query_params.get("depose") == "1",
        },
        binding=staff.binding,
        staff=staff,
        status_code=status_code,
    )


def banner(dossier: Dossier, lang: str) -> dict[str, str] | None:
    """The emergency banner's wording while an emergency access runs for this patient."""
    if not dossier.emergency or dossier.until is None:
        return None
    return {
        "mode": dossier.mode.value,
        "until": time_text(dossier.until, lang),
    }


@router.get("/dossiers/{handle}")
async def show_dossier(request: Request, handle: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    return await dossier_page(request, staff, dossier)


@router.post("/dossiers/{handle}/consentement")
async def declare_consent(request: Request, handle: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    form = await read_form(request, staff.binding)
    lang = language(request)
    if field(form, "consent") != "yes":
        error = InvalidInput("tick the consent box", code="patient-consent-required")
        return await dossier_page(
            request, staff, dossier, problem=error_text(error, lang), status_code=422
        )
    treating = field(form, "treating") == "yes"
    try:
        await declare_authorization(
            ctx_of(request), actor=staff.actor, ins=dossier.ins, treating_doctor=treating
        )
    except (AccessDenied, InvalidInput) as error:
        return await dossier_page(
            request,
            staff,
            dossier,
            problem=error_text(error, lang),
            status_code=error.http_status,
        )
    done = "traitant" if treating else "oui"
    return RedirectResponse(f"{dossier.base}/documents?consentement={done}", status_code=303)


@router.post("/dossiers/{handle}/urgence")
async def emergency(request: Request, handle: str) -> Response:
    staff, dossier = await dossier_of(request, handle)
    form = await read_form(request, staff.binding)
    lang = language(request)
    justification = field(form, "justification")
    try:
        mode = AccessMode(field(form, "mode"))
        if mode is AccessMode.NORMAL:
            raise ValueError
    except ValueError:
        mode = AccessMode.NORMAL
    try:
        if mode is AccessMode.NORMAL:
            raise InvalidInput("choose an emergency mode", code="invalid-access-mode")
        view = await open_emergency(
            ctx_of(request),
            actor=staff.actor,
            ins=dossier.ins,
            mode=mode,
            justification=justification,
        )
    except (AccessDenied, InvalidInput) as error:
        return await dossier_page(
            request,
            staff,
            dossier,
            problem=error_text(error, lang),
            status_code=error.http_status,
            values={"justification": justification, "mode": mode.value},
        )
    await set_emergency(
        request,
        staff,
        dossier,
        mode=mode,
        justification=view.justification or None,
        until=view.expires_at,
    )
    return RedirectResponse(f"{dossier.base}/documents", status_code=303)


@router.get("/mes-patients")
async def list_my_patients(request: Request) -> Response:
    staff = await require_staff(request)
    if is_desk_agent(staff.actor):
        return RedirectResponse("/accueil", status_code=303)
    lang = language(request)
    found = await my_patients(ctx_of(request), actor=staff.actor)
    rows = [
        {
            "ins": p.ins.value,
            "name": f"{p.birth_name} {p.given_names}",
            "birth_date": format_date(p.birth_date, lang),
            "treating": p.treating_doctor,
            "until": time_text(p.authorized_until, lang) if p.authorized_until else None,
            "last": time_text(p.last_document_at, lang) if p.last_document_at else None,
        }
        for p in found
    ]
    return render(
        request, "pro/my_patients.html", {"rows": rows}, binding=staff.binding, staff=staff
    )
