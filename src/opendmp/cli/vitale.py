"""``vitale``: test Carte Vitale files for the admission desk."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from opendmp.cli.common import out, run
from opendmp.domain.errors import InvalidInput

vitale_app = typer.Typer(
    help="Test Carte Vitale files for the admission desk.", no_args_is_help=True
)


def _card_person(name: str, birth_date: str, rank: int, ins: str | None, sex: str | None) -> Any:
    from opendmp.domain.vitale import CardPerson, normalise_nir, sex_of_nir

    birth_name, _, given = name.strip().partition(" ")
    if not birth_name or not given.strip():
        raise InvalidInput(f"name {name!r} must be 'BIRTHNAME Given names'", code="invalid-input")
    try:
        born = dt.date.fromisoformat(birth_date.strip())
    except ValueError:
        raise InvalidInput(
            f"birth date {birth_date!r} is not YYYY-MM-DD", code="invalid-input"
        ) from None
    own = normalise_nir(ins) if ins else None
    return CardPerson(
        birth_name=birth_name.upper(),
        given_names=tuple(given.split()),
        birth_date=born,
        birth_rank=rank,
        ins=own,
        sex=sex or (sex_of_nir(own) if own else None),
    )


@vitale_app.command("make")
@run
async def vitale_make(
    nir: Annotated[str, typer.Option(help="NIR of the insured (13 or 15 characters)")],
    name: Annotated[str, typer.Option(help="insured's 'BIRTHNAME Given names'")],
    birth_date: Annotated[str, typer.Option(help="insured's birth date, YYYY-MM-DD")],
    out_file: Annotated[Path, typer.Option("--out", help="card file to write")],
    rank: Annotated[int, typer.Option(min=1, max=9, help="birth rank")] = 1,
    sex: Annotated[str | None, typer.Option(help="F or M (default: from the NIR)")] = None,
    serial: Annotated[str | None, typer.Option(help="card serial number")] = None,
    beneficiary: Annotated[
        list[str] | None,
        typer.Option(help="'BIRTHNAME Given;YYYY-MM-DD[;rank[;INS]]', repeatable"),
    ] = None,
) -> None:
    """Write a test Carte Vitale file (format opendmp-vitale/1, docs/vitale-card.md)."""

    from opendmp.domain.vitale import VitaleCard, card_json, parse_card

    people = []
    for spec in beneficiary or []:
        parts = [p.strip() for p in spec.split(";")]
        if len(parts) < 2:
            raise InvalidInput(
                f"beneficiary {spec!r} must be 'BIRTHNAME Given;YYYY-MM-DD[;rank[;INS]]'",
                code="invalid-input",
            )
        b_rank = int(parts[2]) if len(parts) > 2 and parts[2] else 1
        people.append(
            _card_person(parts[0], parts[1], b_rank, parts[3] if len(parts) > 3 else None, None)
        )
    card = VitaleCard(_card_person(name, birth_date, rank, nir, sex), tuple(people), serial)
    text = json.dumps(card_json(card), ensure_ascii=False, indent=2) + "\n"
    parse_card(text.encode())  # what we write, the desk must read
    out_file.write_text(text, encoding="utf-8")
    out.print(f"wrote card file {out_file} ({1 + len(people)} person(s))")
