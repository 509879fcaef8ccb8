"""The record's history as IHE BALP-shaped ``AuditEvent`` resources (docs/rules.md §3.3, §5).

``GET /fhir/AuditEvent?patient.identifier=<INS system>|<INS>[&date=ge…][&date=lt…]
[&agent.identifier=urn:oid:1.2.250.1.71.4.2.1|<IdNat_PS>][&_count=n]`` (or ``POST
/fhir/AuditEvent/_search``), scope ``ITI-81`` (IHE RESTful ATNA Retrieve ATNA Audit Event).
Who may read it is ``history.read_history``'s policy: the patient and the treating doctors.

Each trace ``area:subject:action`` becomes one AuditEvent (``id`` = the event's number):

- ``type``/``subtype``/``action`` from the audit vocabulary (``audit/vocabulary.py``, BALP:
  a RESTful interaction is ``audit-event-type#rest`` + ``restful-interaction`` + the IHE
  transaction ``urn:ihe:event-type-code#ITI-…``; deposits are DICOM ``110107`` Import,
  exports ``110106`` Export, lifecycle changes ``110110`` Patient Record, sign-ins ``110114``
  User Authenticated, account security changes ``110137``, key changes ``110113`` Security
  Alert; a code the vocabulary does not know, stored by another version, is ``110110`` with
  ``E``). The trace's own name is always added as a ``subtype`` coding of
  ``urn:opendmp:audit-action``, so nothing is lost.
- ``outcome``: ``0`` success, ``4`` minor failure (a refusal; ``outcomeDesc`` = the policy's
  reason code), ``8`` serious failure (an error).
- ``agent``: the user (``v3-ParticipationType#IRCP``, ``requestor``), identified by IdNat_PS,
  INS (the patient) or login, with ``name``, the profession as ``role`` (TRE_G15) and
  ``purposeOfUse`` the access mode (``v3-ActReason#TREAT`` normal, ``ETREAT`` SAMU
  regulation, ``BTG`` break-glass); the structure they act for as the client
  (DCM ``110153``); OpenDMP as the server (DCM ``110152``).
- ``source``: OpenDMP; ``entity``: the patient (INS) and, when the trace names one, the
  document by its logical id (``urn:opendmp:logical-id``, the ``id`` of its Binary).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from opendmp import __version__
from opendmp.audit.vocabulary import DCM, balp
from opendmp.auth.dependencies import AuthContext, require_scope
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins, parse_idnat_ps, parse_ins_reference
from opendmp.fhir.formats import fhir_response
from opendmp.fhir.identities import (
    IDNAT_PS_SYSTEM,
    STRUCT_IDNAT_SYSTEM,
    Params,
    context,
    ins_reference,
    parse_ins_token,
    search_params,
    searchset,
    single,
)
from opendmp.fhir.mapping import LOGICAL_ID_SYSTEM, fhir_instant
from opendmp.fhir.openapi import (
    COUNT,
    INS_TOKEN,
    SearchParameter,
)
from opendmp.fhir.search_routes import add_search_routes
from opendmp.services.core.context import ServiceContext
from opendmp.services.records.history import MAX_HISTORY, HistoryEntry, read_history

ITI81 = require_scope("ITI-81")
DEFAULT_COUNT = 200

REST = "http://hl7.org/fhir/restful-interaction"
IHE_EVENT = "urn:ihe:event-type-code"
ACTION_SYSTEM = "urn:opendmp:audit-action"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROFESSION_SYSTEM = "urn:oid:1.2.250.1.71.1.2.7"  # TRE_G15 ProfessionSante
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
OUTCOME_CODES = {"success": "0", "denied": "4", "error": "8"}
PURPOSES = {
    "normal": ("TREAT", "treatment"),
    "regulation": ("ETREAT", "Emergency Treatment"),
    "break-glass": ("BTG", "break the glass"),
}

TRANSACTIONS = {
    "ITI-18": "Registry Stored Query",
    "ITI-41": "Provide and Register Document Set-b",
    "ITI-43": "Retrieve Document Set",
    "ITI-57": "Update Document Set",
    "ITI-65": "Provide Document Bundle",
    "ITI-66": "Find Document Lists",
    "ITI-67": "Find Document References",
    "ITI-68": "Retrieve Document",
    "ITI-78": "Mobile Patient Demographics Query",
    "ITI-81": "Retrieve ATNA Audit Event",
    "ITI-108": "Access Consent",
}

_DATE = re.compile(
    r"^(?P<prefix>eq|ge|gt|le|lt)?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?P<time>T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?)?)?$"
)


# --- parameters -----------------------------------------------------------------------------


def _bounds(text: str) -> tuple[str, dt.datetime, dt.datetime]:
    """(prefix, start, end) of a FHIR date parameter ``[prefix]YYYY[-MM[-DD[Thh:mm…tz]]]``:
    the value is the range its precision covers, ``end`` excluded (a dateTime: one second)."""
    match = _DATE.match(text.strip())
    if match is None:
        raise InvalidInput(
            f"date {text!r}: use [ge|gt|le|lt|eq]YYYY-MM-DD or a dateTime with a time zone",
            code="invalid-search",
        )
    prefix = match["prefix"] or "eq"
    try:
        if match["time"]:
            start = dt.datetime.fromisoformat(text.strip().removeprefix(prefix)).astimezone(dt.UTC)
            return prefix, start, start + dt.timedelta(seconds=1)
        year, month, day = int(match["year"]), int(match["month"] or 1), int(match["day"] or 1)
        start = dt.datetime(year, month, day, tzinfo=dt.UTC)
        if match["day"]:
            end = start + dt.timedelta(days=1)
        elif match["month"]:
            end = (start + dt.timedelta(days=32)).replace(day=1)
        else:
            end = start.replace(year=year + 1)
    except (ValueError, OverflowError):
        raise InvalidInput(f"date {text!r} is not a date", code="invalid-search") from None
    return prefix, start, end


def time_range(values: list[str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``since <= time < until`` from the ``date`` parameters (all must hold)."""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    for value in values:
        prefix, start, end = _bounds(value)
        lower = {"eq": start, "ge": start, "gt": end}.get(prefix)
        upper = {"eq": end, "lt": start, "le": end}.get(prefix)
        if lower is not None:
            since = lower if since is None else max(since, lower)
        if upper is not None:
            until = upper if until is None else min(until, upper)
    return since, until


def _professional(value: str | None) -> str | None:
    if value is None:
        return None
    system, separator, idnat = value.partition("|")
    if not separator:
        system, idnat = "", value
    if system and system != IDNAT_PS_SYSTEM:
        raise InvalidInput(
            f"agent.identifier: only IdNat_PS ({IDNAT_PS_SYSTEM}) is searchable",
            code="invalid-search",
        )
    return parse_idnat_ps(idnat).idnat


def _count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit() or int(value) < 1:
        raise InvalidInput("_count must be a positive integer", code="invalid-search")
    return min(int(value), MAX_HISTORY)


# --- the resource ---------------------------------------------------------------------------


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _who(entry: HistoryEntry) -> dict[str, Any]:
    if entry.actor_kind == "professional":
        identifier = {"system": IDNAT_PS_SYSTEM, "value": entry.actor_id}
    elif entry.actor_kind in {"patient", "caregiver"} and "|" in entry.actor_id:
        # A caregiver acts on the patient's behalf under their own INS (docs/rules.md §3.7).
        try:
            ins = parse_ins_reference(entry.actor_id, "")
            identifier = {"system": ins.system, "value": ins.value}
        except InvalidInput:
            identifier = {"system": f"urn:opendmp:{entry.actor_kind}", "value": entry.actor_id}
    else:
        identifier = {"system": f"urn:opendmp:{entry.actor_kind}", "value": entry.actor_id}
    who: dict[str, Any] = {"identifier": identifier}
    if entry.actor_name:
        who["display"] = entry.actor_name
    return who


def audit_event(ctx: ServiceContext, ins: Ins, entry: HistoryEntry) -> dict[str, Any]:
    mapping = balp(entry.action)
    subtype = [_coding(ACTION_SYSTEM, entry.action)]
    if mapping.interaction and entry.transaction is None:  # XDS.b is SOAP, not REST
        subtype.insert(0, _coding(REST, mapping.interaction))
    transaction = entry.transaction if entry.transaction in TRANSACTIONS else mapping.transaction
    if transaction:
        subtype.insert(len(subtype) - 1, _coding(IHE_EVENT, transaction, TRANSACTIONS[transaction]))
    purpose, purpose_display = PURPOSES.get(entry.access_mode, PURPOSES["normal"])
    user: dict[str, Any] = {
        "type": {"coding": [_coding(PARTICIPATION, "IRCP", "information recipient")]},
        "who": _who(entry),
        "requestor": True,
        "purposeOfUse": [{"coding": [_coding(ACT_REASON, purpose, purpose_display)]}],
    }
    if entry.actor_name:
        user["name"] = entry.actor_name
    if entry.actor_profession:
        user["role"] = [{"coding": [_coding(PROFESSION_SYSTEM, entry.actor_profession)]}]
    base = ctx.base_url.rstrip("/")
    agents: list[dict[str, Any]] = [user]
    if entry.actor_organization:
        agents.append(
            {
                "type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
                "who": {
                    "identifier": {"system": STRUCT_IDNAT_SYSTEM, "value": entry.actor_organization}
                },
                "requestor": False,
            }
        )
    agents.append(
        {
            "type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
            "who": {"display": "OpenDMP"},
            "requestor": False,
            "network": {"address": f"{base}/fhir", "type": "5"},
        }
    )
    entities: list[dict[str, Any]] = [
        {
            "what": ins_reference(ins),
            "type": _coding(ENTITY_TYPE, "1", "Person"),
            "role": _coding(OBJECT_ROLE, "1", "Patient"),
        }
    ]
    if entry.target_document_id is not None:
        entities.append(
            {
                "what": {
                    "identifier": {
                        "system": LOGICAL_ID_SYSTEM,
                        "value": str(entry.target_document_id),
                    }
                },
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "3", "Report"),
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.event_id),
        "type": _coding(*mapping.type),
        "subtype": subtype,
        "action": mapping.action,
        "recorded": fhir_instant(entry.time),
        "outcome": OUTCOME_CODES.get(entry.outcome, "8"),
    }
    if entry.reason:
        resource["outcomeDesc"] = entry.reason
    resource["agent"] = agents
    resource["source"] = {
        "site": base,
        "observer": {"display": f"OpenDMP {__version__}"},
        "type": [
            _coding(
                "http://terminology.hl7.org/CodeSystem/security-source-type",
                "4",
                "Application Server",
            )
        ],
    }
    resource["entity"] = entities
    return resource


async def _search(request: Request, auth: AuthContext) -> Response:
    ctx = context(request)
    params: Params = await search_params(request)
    identifier = single(params, "patient.identifier")
    if identifier is None:
        raise InvalidInput("give patient.identifier=<INS system>|<INS>", code="invalid-search")
    ins = parse_ins_token(identifier, parameter="patient.identifier")
    since, until = time_range(params.get("date", []))
    professional = _professional(single(params, "agent.identifier"))
    auth.check_patient(str(ins))
    entries = await read_history(
        ctx,
        actor=auth.actor,
        ins=ins,
        since=since,
        until=until,
        professional_idnat=professional,
        limit=_count(single(params, "_count")),
    )
    events = [audit_event(ctx, ins, entry) for entry in entries]
    return fhir_response(request, searchset(ctx, request, events))


AUDIT_SEARCH: dict[str, SearchParameter] = {
    "patient.identifier": SearchParameter(
        "The INS: <INS system>|<INS>", required=True, schema=INS_TOKEN
    ),
    "date": SearchParameter("ge/gt/le/lt/eq + date or dateTime", repeated=True),
    "agent.identifier": SearchParameter(f"{IDNAT_PS_SYSTEM}|<IdNat_PS>"),
    "_count": SearchParameter(f"at most this many events (capped at {MAX_HISTORY})", schema=COUNT),
}
add_search_routes(
    "AuditEvent",
    AUDIT_SEARCH,
    ITI81,
    _search,
    get=("search_audit_events", "The record's access history (IHE BALP AuditEvents)"),
    post=("search_audit_events_by_post", "The record's access history, by POST"),
)
