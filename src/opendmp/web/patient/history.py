"""The access history as a person reads it, and the emergency notices of the home page
(issue 15; docs/rules.md §3.3, §3.4; docs/portals.md "Access history").

- repeated events are one line with a count (``services.records.history.group_entries``:
  same actor, action, document, mode and outcome within 30 minutes);
- the holder's own page views are hidden unless ``vues=1``;
- the establishment's name, not its FINESS; the document an event is about (title, type);
- every professional's line keeps "report this access" (the latest event of the line);
- emergency lines carry words, an icon and a row style; on a phone the table's rows become
  labelled blocks (CSS only).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from opendmp.domain.actors import AccessMode, Actor
from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.services.documents import read_history, report_access
from opendmp.services.records.emergencies import (
    EmergencyNotice,
    acknowledge_emergencies,
    unacknowledged_emergencies,
)
from opendmp.services.records.history import HistoryGroup, group_entries
from opendmp.web.common import ctx_of, field, language
from opendmp.web.patient.documents import with_done
from opendmp.web.patient.session import Signed, page, patient_form, require_full
from opendmp.web.patient.texts import (
    PARIS,
    action_label,
    profession_label,
    refusal,
    search_bound,
    type_label,
    when,
)

router = APIRouter(prefix="/patient", include_in_schema=False)
HISTORY_LIMIT = 500
MAX_ID_DIGITS = 18
_MODES = frozenset(mode.value for mode in AccessMode)


def _who(group: HistoryGroup, reader: Actor, holder: str) -> str:
    entry = group.latest
    if entry.actor_id == reader.actor_id:
        return "you"
    if entry.actor_kind == "patient" and entry.actor_id == holder:
        return "holder"  # read by a representative: the patient, not their INS
    if entry.actor_kind == "patient":
        return "named"  # another person: a relative answering an invitation (§3.7)
    if entry.actor_kind == "caregiver":
        return "caregiver"  # docs/rules.md §3.7: "X (aidant) on your behalf"
    return entry.actor_kind if entry.actor_kind in {"system", "operator"} else "named"


def _row(group: HistoryGroup, reader: Actor, lang: str, holder: str) -> dict[str, Any]:
    entry = group.latest
    is_pro = entry.actor_kind == "professional"
    document = None
    if entry.document_title is not None:
        document = entry.document_title
        kind = type_label(entry.document_type, lang) if entry.document_type else None
        if kind and kind.casefold() != document.casefold():
            document += f" ({kind})"
    return {
        "id": entry.event_id,
        "when": when(entry.time, lang),
        "since": since if (since := when(group.earliest, lang)) != when(entry.time, lang) else None,
        "iso": entry.time.astimezone(PARIS).isoformat(timespec="minutes"),
        "count": group.count,
        "who": _who(group, reader, holder),
        "name": entry.actor_name or entry.actor_id,
        "profession": profession_label(entry.actor_profession, lang)
        if entry.actor_profession
        else None,
        "organization": entry.organization_name or entry.actor_organization,
        "what": action_label(entry.action, lang),
        "whom": entry.subject_name or entry.subject_idnat,
        "document": document,
        "mode": entry.access_mode if entry.access_mode in _MODES else "normal",
        "denied": entry.outcome not in {"success", "allowed"},
        "emergency": entry.emergency,
        "reportable": is_pro,
    }


@router.get("/historique")
async def history(request: Request) -> Response:
    signed = await require_full(request)
    ctx = ctx_of(request)
    lang = language(request)
    names = ("du", "au", "pro", "vues")
    values = {name: request.query_params.get(name, "").strip()[:64] for name in names}
    problem = None
    try:
        entries = await read_history(
            ctx,
            actor=signed.actor,
            ins=signed.ins,
            since=search_bound(values["du"], end=False),
            until=search_bound(values["au"], end=True),
            professional_idnat=values["pro"] or None,
            limit=HISTORY_LIMIT,
            hide_own_views=values["vues"] != "1",
        )
    except OpenDMPError as error:
        if error.code in {"record-closed", "record-destroyed"}:
            raise
        entries = []
        problem = refusal(error, lang, ctx.now())
    professionals: dict[str, str] = {}
    for entry in entries:
        if entry.actor_kind == "professional":
            professionals.setdefault(entry.actor_id, entry.actor_name or entry.actor_id)
    if values["pro"] and values["pro"] not in professionals:
        professionals[values["pro"]] = values["pro"]
    holder = str(signed.ins)
    rows = [_row(group, signed.actor, lang, holder) for group in group_entries(entries)]
    return page(
        request,
        "patient/history.html",
        {
            "values": values,
            "rows": rows,
            "events": len(entries),
            "professionals": sorted(professionals.items(), key=lambda p: p[1].lower()),
            "limit": HISTORY_LIMIT,
            "emergencies": sum(1 for entry in entries if entry.emergency),
            "problem": problem,
            "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        },
        signed=signed,
        status_code=422 if problem else 200,
    )


def event_id(text: str, code: str) -> int:
    """An event id from a form: digits that fit a 64-bit column (a longer number would make
    PostgreSQL refuse the query), else ``InvalidInput`` with ``code``."""
    if not text.isdigit() or len(text) > MAX_ID_DIGITS:
        raise InvalidInput("no such event", code=code)
    return int(text)


@router.post("/historique/signaler")
async def report(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    await report_access(
        ctx_of(request),
        actor=signed.actor,
        ins=signed.ins,
        event_id=event_id(field(form, "event"), "event-not-found"),
        comment=field(form, "comment"),
    )
    return RedirectResponse(
        with_done(field(form, "retour"), "reported", default="/patient/historique"),
        status_code=303,
    )


# --- emergency notices (home page) -----------------------------------------------------------


def notice_rows(notices: list[EmergencyNotice], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "name": notice.name or notice.professional_idnat,
            "idnat": notice.professional_idnat,
            "profession": profession_label(notice.profession, lang) if notice.profession else None,
            "organization": notice.organization,
            "mode": notice.mode if notice.mode in _MODES else "break-glass",
            "first": when(notice.first, lang),
            "last": when(notice.last, lang),
            "events": notice.events,
        }
        for notice in notices
    ]


async def emergency_notices(request: Request, signed: Signed) -> tuple[list[dict[str, Any]], int]:
    """The home page's emergency notices and the latest event id they show (0: none)."""
    notices = await unacknowledged_emergencies(ctx_of(request), actor=signed.actor, ins=signed.ins)
    through = max((notice.latest_event_id for notice in notices), default=0)
    return notice_rows(notices, language(request)), through


@router.post("/urgences/vu")
async def acknowledge(request: Request) -> Response:
    signed = await require_full(request)
    form = await patient_form(request, signed)
    through = event_id(field(form, "through"), "invalid-acknowledgement")
    await acknowledge_emergencies(
        ctx_of(request), actor=signed.actor, ins=signed.ins, through=through
    )
    return RedirectResponse("/patient?fait=acknowledged", status_code=303)
