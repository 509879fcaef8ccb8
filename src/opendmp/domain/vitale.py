"""The Carte Vitale file: what the desk's card-reader software hands to OpenDMP.

A real reader talks to the card through the SESAM-Vitale API; OpenDMP takes the result as
a small JSON document (format ``opendmp-vitale/1``, described in ``docs/vitale-card.md``)::

    {
      "format": "opendmp-vitale/1",
      "serial": "0123456789",                      # card serial number, optional
      "insured": {                                 # the insured person (ouvrant droit)
        "nir": "280017512345678",                  # 13 characters, or 15 with the key
        "birth_name": "FICTIVE", "used_name": null,
        "given_names": ["Camille"], "birth_date": "1980-01-15", "birth_rank": 1,
        "sex": "F"                                 # optional: read from the NIR otherwise
      },
      "beneficiaries": [                           # people covered by the card (children…)
        {"nir": null, "ins": null, "birth_name": "FICTIVE", "given_names": ["Lou"],
         "birth_date": "2015-04-02", "birth_rank": 1, "sex": null}
      ]
    }

docs/rules.md §1: the NIR on the card may be the insured parent's, so each person carries their
own ``ins`` (or ``nir``) only when it is known; the identity registry decides the INS.
Parsing is strict (unknown members refused, sizes bounded): the file comes from a desk PC.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import compute_ins_key

FORMAT = "opendmp-vitale/1"
MAX_FILE_BYTES = 64 * 1024
MAX_BENEFICIARIES = 20
_PERSON_MEMBERS = frozenset(
    {"nir", "ins", "birth_name", "used_name", "given_names", "birth_date", "birth_rank", "sex"}
)
_TOP_MEMBERS = frozenset({"format", "serial", "insured", "beneficiaries"})
_NIR = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}(?:[0-9]{2})?$")
_SERIAL = re.compile(r"^[0-9A-Za-z]{1,32}$")


@dataclass(frozen=True, slots=True)
class CardPerson:
    """One person read from the card; ``ins`` is the 15-character NIR with key, if known."""

    birth_name: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    birth_rank: int = 1
    ins: str | None = None
    used_name: str | None = None
    sex: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.birth_name} {' '.join(self.given_names)}".strip()


@dataclass(frozen=True, slots=True)
class VitaleCard:
    insured: CardPerson
    beneficiaries: tuple[CardPerson, ...] = ()
    serial: str | None = None

    @property
    def people(self) -> tuple[CardPerson, ...]:
        """The insured first, then the beneficiaries: what the desk picks from."""
        return (self.insured, *self.beneficiaries)


def normalise_nir(value: str) -> str:
    """A 13- or 15-character NIR, spaces and dots removed, with its key (15 characters)."""
    text = re.sub(r"[\s.]", "", value).upper()
    if not _NIR.match(text):
        raise InvalidInput(
            "a NIR has 13 characters (15 with its key): digits, 2A/2B for Corsica",
            code="invalid-vitale-card",
        )
    if len(text) == 13:
        return f"{text}{compute_ins_key(text):02d}"
    if int(text[13:]) != compute_ins_key(text[:13]):
        raise InvalidInput("the NIR key does not check", code="invalid-vitale-card")
    return text


def sex_of_nir(nir: str) -> str | None:
    """F/M from the first digit of a NIR (1, 3, 7 male; 2, 4, 8 female), else None."""
    return {"1": "M", "3": "M", "7": "M", "2": "F", "4": "F", "8": "F"}.get(nir[:1])


def _text(person: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = person.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"the card lacks {key}", code="invalid-vitale-card")
        return None
    if not isinstance(value, str) or len(value) > 128:
        raise InvalidInput(f"{key} must be a short text", code="invalid-vitale-card")
    return value.strip()


def _person(raw: Any, *, insured: bool) -> CardPerson:
    if not isinstance(raw, dict):
        raise InvalidInput("a person on the card must be an object", code="invalid-vitale-card")
    unknown = set(raw) - _PERSON_MEMBERS
    if unknown:
        raise InvalidInput(
            f"unknown member(s) on the card: {', '.join(sorted(unknown))}",
            code="invalid-vitale-card",
        )
    given = raw.get("given_names")
    if isinstance(given, str):
        given = given.split()
    if (
        not isinstance(given, list)
        or not given
        or not all(isinstance(g, str) and g.strip() and len(g) <= 64 for g in given)
        or len(given) > 8
    ):
        raise InvalidInput("given_names must be a list of names", code="invalid-vitale-card")
    try:
        birth_date = dt.date.fromisoformat(str(raw.get("birth_date")))
    except ValueError:
        raise InvalidInput(
            "birth_date must be a date YYYY-MM-DD", code="invalid-vitale-card"
        ) from None
    rank = raw.get("birth_rank", 1)
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 9:
        raise InvalidInput("birth_rank must be 1 to 9", code="invalid-vitale-card")
    # The person's own INS: "ins" when the reader knows it, else "nir" (for the insured the
    # card's NIR is theirs by definition; a beneficiary's "nir" is theirs only if set).
    own = _text(raw, "ins", required=False) or _text(raw, "nir", required=insured)
    ins = normalise_nir(own) if own else None
    sex = _text(raw, "sex", required=False)
    if sex is not None and sex not in {"F", "M"}:
        raise InvalidInput("sex must be F or M", code="invalid-vitale-card")
    return CardPerson(
        birth_name=str(_text(raw, "birth_name", required=True)).upper(),
        given_names=tuple(g.strip() for g in given),
        birth_date=birth_date,
        birth_rank=rank,
        ins=ins,
        used_name=_text(raw, "used_name", required=False),
        sex=sex or (sex_of_nir(ins) if ins else None),
    )


def parse_card(data: bytes) -> VitaleCard:
    """Read a card file; raise ``InvalidInput`` (``invalid-vitale-card``) saying what is wrong."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput("the card file is too large", code="invalid-vitale-card")
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the card file is not JSON", code="invalid-vitale-card") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InvalidInput(
            f"the card file is not in the {FORMAT} format", code="invalid-vitale-card"
        )
    unknown = set(raw) - _TOP_MEMBERS
    if unknown:
        raise InvalidInput(
            f"unknown member(s) in the card file: {', '.join(sorted(unknown))}",
            code="invalid-vitale-card",
        )
    beneficiaries = raw.get("beneficiaries") or []
    if not isinstance(beneficiaries, list) or len(beneficiaries) > MAX_BENEFICIARIES:
        raise InvalidInput("beneficiaries must be a short list", code="invalid-vitale-card")
    serial = raw.get("serial")
    if serial is not None and (not isinstance(serial, str) or not _SERIAL.match(serial)):
        raise InvalidInput("serial must be letters and digits", code="invalid-vitale-card")
    return VitaleCard(
        insured=_person(raw.get("insured"), insured=True),
        beneficiaries=tuple(_person(b, insured=False) for b in beneficiaries),
        serial=serial,
    )


def _person_json(person: CardPerson, *, insured: bool) -> dict[str, Any]:
    return {
        ("nir" if insured else "ins"): person.ins,
        "birth_name": person.birth_name,
        "used_name": person.used_name,
        "given_names": list(person.given_names),
        "birth_date": person.birth_date.isoformat(),
        "birth_rank": person.birth_rank,
        "sex": person.sex,
    }


def card_json(card: VitaleCard) -> dict[str, Any]:
    """The file content for ``card`` (``opendmp vitale make``); ``parse_card`` reads it back."""
    return {
        "format": FORMAT,
        "serial": card.serial,
        "insured": _person_json(card.insured, insured=True),
        "beneficiaries": [_person_json(b, insured=False) for b in card.beneficiaries],
    }
