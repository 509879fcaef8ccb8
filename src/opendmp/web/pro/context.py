"""The patients a signed-in professional has open in the portal, and the access mode of each.

A patient is opened by INS (typed or read from a Carte Vitale file) and gets a random
*handle* kept in the web session's attributes: URLs name the handle, never the INS (URLs
end up in logs and browser histories; DMP data must not).

The access mode is per patient. Opening a break-glass or regulation access re-issues the
session's actor *for that patient only*: the entry keeps the mode, the justification and the
end of the time-boxed access, and every request on that patient until then acts as
``replace(actor, access_mode=…, justification=…)`` — so the mode reaches the policy and is
written on every audit event. After the end, the professional is back to the normal mode.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request

from opendmp.domain.actors import AccessMode, CardKind, Professional
from opendmp.domain.errors import NotFound
from opendmp.domain.identifiers import Ins
from opendmp.services.accounts.web_sessions import update_attributes
from opendmp.web.common import Staff, ctx_of, format_date, require_staff

PATIENTS = "pro_patients"
MAX_OPEN = 30  # a professional's open patients in one session; the oldest is dropped


@dataclass(frozen=True, slots=True)
class Dossier:
    """One patient open in the session, and the actor to use for them now."""

    handle: str
    ins: Ins
    actor: Professional
    mode: AccessMode
    until: dt.datetime | None
    # When the patient was opened in this session: the professional's visit began then
    # ("new since my last visit", services/documents/overview.py).
    opened: dt.datetime | None = None

    @property
    def emergency(self) -> bool:
        return self.mode is not AccessMode.NORMAL

    @property
    def base(self) -> str:
        return f"/pro/dossiers/{self.handle}"


def _entries(staff: Staff) -> dict[str, dict[str, Any]]:
    raw = staff.session.attributes.get(PATIENTS)
    return dict(raw) if isinstance(raw, dict) else {}


async def open_dossier(request: Request, staff: Staff, ins: Ins) -> str:
    """The handle of ``ins`` in this session (a new one unless already open)."""
    entries = _entries(staff)
    for handle, entry in entries.items():
        if entry.get("ins") == ins.value and entry.get("oid") == ins.oid:
            return handle
    handle = secrets.token_urlsafe(9)
    entries[handle] = {
        "ins": ins.value,
        "oid": ins.oid,
        "opened": ctx_of(request).now().isoformat(),
    }
    if len(entries) > MAX_OPEN:
        oldest = sorted(entries, key=lambda h: str(entries[h].get("opened", "")))
        for stale in oldest[: len(entries) - MAX_OPEN]:
            entries.pop(stale)
    await update_attributes(
        ctx_of(request), staff.session.session_id, set_items={PATIENTS: entries}
    )
    return handle


async def _save(request: Request, staff: Staff, entries: dict[str, dict[str, Any]]) -> None:
    await update_attributes(
        ctx_of(request), staff.session.session_id, set_items={PATIENTS: entries}
    )


async def set_emergency(
    request: Request,
    staff: Staff,
    dossier: Dossier,
    *,
    mode: AccessMode,
    justification: str | None,
    until: dt.datetime,
) -> None:
    entries = _entries(staff)
    entry = dict(entries.get(dossier.handle, {}))
    entry.update(mode=mode.value, justification=justification, until=until.isoformat())
    entries[dossier.handle] = entry
    await update_attributes(
        ctx_of(request), staff.session.session_id, set_items={PATIENTS: entries}
    )


async def dossier_of(request: Request, handle: str) -> tuple[Staff, Dossier]:
    staff = await require_staff(request)
    entry = _entries(staff).get(handle)
    if not isinstance(entry, dict):
        raise NotFound("this patient is not open in your session", code="dossier-not-found")
    ins = Ins(str(entry["ins"]), str(entry["oid"]))
    mode, until, actor = AccessMode.NORMAL, None, staff.actor
    if entry.get("mode") and entry.get("until"):
        ends = dt.datetime.fromisoformat(str(entry["until"]))
        if ctx_of(request).now() < ends:
            mode, until = AccessMode(str(entry["mode"])), ends
            actor = replace(
                staff.actor, access_mode=mode, justification=entry.get("justification") or None
            )
    opened = None
    if entry.get("opened"):
        opened = dt.datetime.fromisoformat(str(entry["opened"]))
    return staff, Dossier(handle, ins, actor, mode, until, opened)


def is_desk_agent(actor: Professional) -> bool:
    return actor.card_kind is CardKind.CPE and actor.profession is None


def time_text(value: dt.datetime, lang: str) -> str:
    """A time as the professional reads it (Paris time)."""
    from zoneinfo import ZoneInfo

    local = value.astimezone(ZoneInfo("Europe/Paris"))
    return f"{format_date(local.date(), lang)} {local:%H:%M}"
