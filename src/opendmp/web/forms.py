"""Form fields shared by the desk and online creation: identity, emergency choices, notice."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from markupsafe import Markup, escape
from starlette.datastructures import FormData

from opendmp.domain.errors import AuthenticationFailed, InvalidInput
from opendmp.domain.identifiers import parse_ins
from opendmp.services.records.identity_registry import IdentityClaim, ReferenceIdentity
from opendmp.services.records.lifecycle import EmergencyChoices
from opendmp.web.common import field

IDENTITY_FIELDS = (
    "ins",
    "birth_name",
    "given_names",
    "birth_date",
    "sex",
    "birth_place",
    "vitale_serial",
)
EMERGENCY_FIELDS = ("allow_regulation", "allow_break_glass", "allow_masked")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def values_of(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: field(form, name) for name in names}


def identity_claim(form: FormData, *, require_ins: bool, require_serial: bool) -> IdentityClaim:
    """The identity typed in a form (or carried by a card's hidden fields)."""
    ins = field(form, "ins").replace(" ", "").replace(".", "").upper()
    if require_ins and not ins:
        raise InvalidInput("the INS is required", code="invalid-ins")
    if ins and len(ins) != 15:
        raise InvalidInput("an INS has 15 characters", code="invalid-ins")
    try:
        birth_date = dt.date.fromisoformat(field(form, "birth_date"))
    except ValueError:
        raise InvalidInput("the birth date is not a date", code="invalid-date") from None
    given = tuple(field(form, "given_names").split())
    birth_name = field(form, "birth_name")
    if not birth_name or not given:
        raise InvalidInput(
            "the birth name and at least one given name are required",
            code="invalid-record-request",
        )
    sex = field(form, "sex") or None
    if sex is not None and sex not in {"F", "M"}:
        raise InvalidInput("sex must be F or M", code="invalid-record-request")
    serial = field(form, "vitale_serial")
    if require_serial and not serial:
        raise InvalidInput("the Carte Vitale number is required", code="invalid-record-request")
    return IdentityClaim(
        birth_name=birth_name,
        given_names=given,
        birth_date=birth_date,
        ins_value=ins or None,
        sex=sex,
        birth_place_code=field(form, "birth_place") or None,
        vitale_serial=serial or None,
    )


def emergency_choices(form: FormData) -> EmergencyChoices:
    """Each choice permits unless "deny" was picked (docs/rules.md §3.4: permit by default)."""
    return EmergencyChoices(
        allow_regulation=field(form, "allow_regulation") != "deny",
        allow_break_glass=field(form, "allow_break_glass") != "deny",
        allow_masked_in_emergency=field(form, "allow_masked") != "deny",
    )


def notice_birth_date(form: FormData) -> dt.date:
    """The birth date typed beside an opt-out notice's code; one that is not a date is told
    like a wrong code, since the pair is what is checked (docs/rules.md §2)."""
    try:
        return dt.date.fromisoformat(field(form, "birth_date"))
    except ValueError:
        raise AuthenticationFailed(
            "the birth date is not a date", code="invalid-notice-code"
        ) from None


def identity_json(identity: ReferenceIdentity) -> dict[str, Any]:
    return {
        "ins": identity.ins.value,
        "oid": identity.ins.oid,
        "birth_name": identity.birth_name,
        "given_names": list(identity.given_names),
        "birth_date": identity.birth_date.isoformat(),
        "sex": identity.sex,
        "birth_place_code": identity.birth_place_code,
    }


def identity_from_json(raw: dict[str, Any]) -> ReferenceIdentity:
    return ReferenceIdentity(
        ins=parse_ins(str(raw["ins"]), str(raw["oid"])),
        birth_name=str(raw["birth_name"]),
        given_names=tuple(str(g) for g in raw["given_names"]),
        birth_date=dt.date.fromisoformat(str(raw["birth_date"])),
        sex=str(raw["sex"]),
        birth_place_code=raw.get("birth_place_code"),
    )


def notice_blocks(text: str) -> list[tuple[str, Markup]]:
    """The notice's light Markdown as (``h``/``p``, safe HTML) blocks: headings, paragraphs
    and ``**bold**``. Everything is escaped first; only <strong> is added back."""
    blocks: list[tuple[str, Markup]] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        line = " ".join(chunk.split())
        if not line:
            continue
        kind = "h" if line.startswith("#") else "p"
        line = line.lstrip("#").strip()
        html = _BOLD.sub(r"<strong>\1</strong>", str(escape(line)))
        blocks.append((kind, Markup(html)))  # noqa: S704 (escaped above; only <strong> added)
    return blocks
