"""The patient's control of their record: home (with the emergency notices of
``web.patient.history``, where the access history lives too), the professionals who have
access (remove, block, treating doctors), emergency choices and notifications, the account,
and the record itself (export, close, destruction, reactivation). docs/rules.md §2, §3.3, §3.4, §5.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.domain.records import ClosureReason, RecordStatus
from opendmp.services.access.authorisations import (
    AccessBasis,
    authorize_professional,
    block,
    list_access,
    revoke_authorization,
    set_treating_doctor,
    unblock,
)
from opendmp.services.access.matrix_choices import set_profession_reading, show_matrix_choices
from opendmp.services.access.preferences import (
    set_emergency_choices,
    set_notification_preferences,
    show_preferences,
)
from opendmp.services.accounts.reauthentication import confirm_password
from opendmp.services.documents import export_record
from opendmp.services.records.lifecycle import (
    close_record,
    reactivate_record,
    request_record_destruction,
    show_record,
)
from opendmp.web.common import ctx_of, field, language
from opendmp.web.forms import emergency_choices
from opendmp.web.patient.directory_view import directory_search
from opendmp.web.patient.export import export_archive
from opendmp.web.patient.history import emergency_notices
from opendmp.web.patient.matrix_view import matrix_context
from opendmp.web.patient.session import Signed, page, patient_form, require_full
from opendmp.web.patient.texts import (
    PARIS,
    day,
    profession_label,
    refusal,
    specialty_label,
    when,
)

router = APIRouter(prefix="/patient", include_in_schema=False)
HISTORY_LIMIT = 500


# --- home ----------------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    signed = await require_full(request)
    record = await show_record(ctx_of(request), actor=signed.actor, ins=signed.ins)
    lang = language(request)
    closed = record.status is not RecordStatus.ACTIVE
    notices, through = ([], 0) if closed else await emergency_notices(request, signed)
    return page(
        request,
        "patient/home.html",
        {
            "name": f"{record.given_names} {record.birth_name}",
            "closed": closed,
            "created": day(record.created_at, lang),
            "emergencies": notices,
            "through": through,
        },
        signed=signed,
    )


# --- my professionals ---------------------------------------------------------------------------


def _access_rows(entries: list[Any], lang: str) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        bases = [basis.value for basis in entry.bases]
        rows.append(
            {
                "kind": entry.kind,
                "idnat": entry.idnat,
                "name": entry.name or entry.idnat,
                "profession": profession_label(entry.profession, lang)
                if entry.profession
                else None,
                "specialty": specialty_label(entry.specialty, lang),
                "state": entry.state.value,
                "bases": bases,
                "since": day(entry.granted_at, lang) if entry.granted_at else None,
                "until": day(entry.expires_at, lang) if entry.expires_at else None,
                "blocked": entry.blocked_since is not None,
                "blocked_since": day(entry.blocked_since, lang) if entry.blocked_since else None,
                "emergency_until": when(entry.emergency_expires_at, lang)
                if entry.emergency_expires_at
                else None,
                "removable": AccessBasis.AUTHORIZATION.value in bases
                or AccessBasis.CARE_TEAM.value in bases,
                "treating": AccessBasis.TREATING_DOCTOR.value in bases,
                "doctor": entry.profession == "10",
            }
        )
    return rows


async def _professionals_page(
    request: Request,
    signed: Signed,
    *,
    problem: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    entries = await list_access(ctx_of(request), actor=signed.actor, ins=signed.ins)
    rows = _access_rows(entries, language(request))
    return page(
        request,
        "patient/professionals.html",
        {
            "rows": rows,
            "search": await directory_search(request, rows),
            "problem": problem,
            "values": values or {},
        },
        signed=signed,
        status_code=status,
    )


@router.get("/professionnels")
async def professionals(request: Request) -> Response:
    signed = await require_full(request)
    return await _professionals_page(request, signed)


def _target(form: Any) -> dict[str, str | None]:
    kind = field(form, "kind")
    idnat = field(form, "idnat").replace(" ", "")
    if not idnat:
        raise InvalidInput("an identifier is required", code="identifier-required")
    if kind == "organization":
        return {"professional_idnat": None, "organization_idnat": idnat}
    return {"professional_idnat": idnat, "organization_idnat": None}


@router.post("/professionnels/{what}")
async def change_access(request: Request, what: str) -> Response:
    """``autoriser`` (authorise a professional), ``retirer`` (remove an authorisation),
    ``bloquer``, ``debloquer``,
    ``medecin-traitant`` (``on=1`` names, ``on=0`` removes a treating doctor)."""
    signed = await require_full(request)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    values = {"kind": field(form, "kind"), "idnat": field(form, "idnat")}
    try:
        target = _target(form)
        if what == "autoriser":
            await authorize_professional(
                ctx,
                actor=signed.actor,
                ins=signed.ins,
                professional_idnat=target["professional_idnat"] or "",
            )
            done = "authorized"
        elif what == "retirer":
            await revoke_authorization(ctx, actor=signed.actor, ins=signed.ins, **target)
            done = "revoked"
        elif what == "bloquer":
            await block(ctx, actor=signed.actor, ins=signed.ins, **target)
            done = "blocked"
        elif what == "debloquer":
            await unblock(ctx, actor=signed.actor, ins=signed.ins, **target)
            done = "unblocked"
        elif what == "medecin-traitant":
            on = field(form, "on") == "1"
            await set_treating_doctor(
                ctx,
                actor=signed.actor,
                ins=signed.ins,
                professional_idnat=target["professional_idnat"] or "",
                on=on,
            )
            done = "treating-on" if on else "treating-off"
        else:
            raise InvalidInput("unknown change", code="invalid-input")
    except OpenDMPError as error:
        if error.code in {"record-closed", "record-destroyed", "csrf-failed"}:
            raise
        return await _professionals_page(
            request,
            signed,
            problem=refusal(error, language(request), ctx.now()),
            values=values,
            status=error.http_status if error.http_status >= 400 else 422,
        )
    return RedirectResponse(f"/patient/professionnels?fait={done}", status_code=303)


# --- choices -------------------------------------------------------------------------------------


@router.get("/choix")
async def choices(request: Request) -> Response:
    signed = await require_full(request)
    return await _choices_page(request, signed, matrix_filter=request.query_params.get("metier"))


async def _choices_page(
    request: Request,
    signed: Signed,
    *,
    problem: str | None = None,
    status_code: int = 200,
    matrix_filter: str | None = None,
) -> Response:
    ctx = ctx_of(request)
    found = await show_preferences(ctx, actor=signed.actor, ins=signed.ins)
    matrix = await show_matrix_choices(ctx, actor=signed.actor, ins=signed.ins)
    emergency = found.emergency
    return page(
        request,
        "patient/choices.html",
        {
            "emergency": {
                "allow_regulation": "permit" if emergency.allow_regulation else "deny",
                "allow_break_glass": "permit" if emergency.allow_break_glass else "deny",
                "allow_masked": "permit" if emergency.allow_masked_in_emergency else "deny",
            },
            "notifications": found.notifications,
            "problem": problem,
            **matrix_context(matrix, language(request), matrix_filter or ""),
        },
        signed=signed,
        status_code=status_code,
    )


@router.post("/choix/matrice")
async def set_matrix(request: Request) -> Response:
    """One profession's block of the patient's own matrix (docs/rules.md §3.6): the ticked
    categories stay readable, the others are taken away."""
    signed = await require_full(request)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    readable = [value for value in form.getlist("read") if isinstance(value, str)]
    try:
        await set_profession_reading(
            ctx,
            actor=signed.actor,
            ins=signed.ins,
            profession=field(form, "profession"),
            readable=readable,
        )
    except InvalidInput as error:
        problem = refusal(error, language(request), ctx.now())
        return await _choices_page(request, signed, problem=problem, status_code=422)
    return RedirectResponse("/patient/choix?fait=matrix#matrix-title", status_code=303)


@router.post("/choix/urgence")
async def set_emergency(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    chosen = emergency_choices(form)
    await set_emergency_choices(
        ctx_of(request),
        actor=signed.actor,
        ins=signed.ins,
        allow_regulation=chosen.allow_regulation,
        allow_break_glass=chosen.allow_break_glass,
        allow_masked_in_emergency=chosen.allow_masked_in_emergency,
    )
    return RedirectResponse("/patient/choix?fait=emergency", status_code=303)


@router.post("/choix/notifications")
async def set_notifications(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    await set_notification_preferences(
        ctx_of(request),
        actor=signed.actor,
        ins=signed.ins,
        on_access=field(form, "on_access") == "1",
        on_new_document=field(form, "on_new_document") == "1",
        mask_new_documents=field(form, "mask_new_documents") == "1",
    )
    return RedirectResponse("/patient/choix?fait=notifications", status_code=303)


# --- account and record ---------------------------------------------------------------------------


async def _record_page(
    request: Request, signed: Signed, *, problem: str | None = None, status: int = 200
) -> Response:
    record = await show_record(ctx_of(request), actor=signed.actor, ins=signed.ins)
    lang = language(request)
    return page(
        request,
        "patient/record.html",
        {
            "status": record.status.value,
            "closed": record.status is RecordStatus.CLOSED,
            "closed_at": day(record.closed_at, lang) if record.closed_at else None,
            "destroy_after": day(record.destroy_after, lang) if record.destroy_after else None,
            "destruction_requested": record.destruction_requested_at is not None,
            "problem": problem,
        },
        signed=signed,
        status_code=status,
    )


@router.get("/dossier")
async def record_page(request: Request) -> Response:
    signed = await require_full(request)
    return await _record_page(request, signed)


@router.post("/dossier/export")
async def export(request: Request) -> Response:
    signed = await require_full(request)
    await patient_form(request, signed)
    ctx = ctx_of(request)
    exported = await export_record(ctx, actor=signed.actor, ins=signed.ins)
    archive = await export_archive(exported, base_url=ctx.base_url, lang=language(request))
    stamp = exported.exported_at.astimezone(PARIS).strftime("%Y%m%d")
    return Response(
        archive,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="mon-dmp-{stamp}.zip"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.post("/dossier/fermer")
async def close(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    lang = language(request)
    try:
        if field(form, "confirm") != "yes":
            raise InvalidInput("tick the box", code="close-not-confirmed")
        await confirm_password(
            ctx, session_token=signed.token, password=str(form.get("password") or "")
        )
        await close_record(
            ctx,
            actor=signed.actor,
            ins=signed.ins,
            reason=ClosureReason.PATIENT_REQUEST,
            text=field(form, "text")[:2000] or None,
        )
    except OpenDMPError as error:
        if error.code in {"csrf-failed"}:
            raise
        status = error.http_status if error.http_status >= 400 else 422
        return await _record_page(
            request, signed, problem=refusal(error, lang, ctx.now()), status=status
        )
    return RedirectResponse("/patient/dossier?fait=closed", status_code=303)


@router.post("/dossier/destruction")
async def destruction(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    ctx = ctx_of(request)
    try:
        if field(form, "confirm") != "yes":
            raise InvalidInput("tick the box", code="destruction-not-confirmed")
        await request_record_destruction(ctx, actor=signed.actor, ins=signed.ins)
    except OpenDMPError as error:
        if error.code in {"csrf-failed"}:
            raise
        status = error.http_status if error.http_status >= 400 else 422
        return await _record_page(
            request, signed, problem=refusal(error, language(request), ctx.now()), status=status
        )
    return RedirectResponse("/patient/dossier?fait=destruction", status_code=303)


@router.post("/dossier/reactiver")
async def reactivate(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    await reactivate_record(
        ctx_of(request), actor=signed.actor, ins=signed.ins, emergency=emergency_choices(form)
    )
    return RedirectResponse("/patient?fait=reactivated", status_code=303)
