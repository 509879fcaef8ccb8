"""The Carte Vitale file (opendmp-vitale/1): strict reading, and the CLI that writes one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import with_ins_key
from opendmp.domain.vitale import FORMAT, CardPerson, VitaleCard, card_json, parse_card

NIR13 = "2800175123456"


def card(**insured: object) -> bytes:
    person = {
        "nir": NIR13,
        "birth_name": "Fictive",
        "given_names": ["Camille"],
        "birth_date": "1980-01-15",
        **insured,
    }
    return json.dumps({"format": FORMAT, "insured": person}).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        json.dumps({"format": "other/1", "insured": {}}).encode(),
        card(nir=NIR13 + "00"),  # wrong key
        card(birth_date="15/01/1980"),
        card(given_names=[]),
        card(birth_rank=0),
        card(colour="blue"),  # unknown member
        card(nir=None),  # the insured's NIR is the card's
        b"{" + b" " * 70_000 + b"}",
    ],
)
def test_a_malformed_card_file_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_card(data)
    assert refused.value.code == "invalid-vitale-card"


def test_a_card_file_gives_the_insured_with_key_and_sex_from_the_nir() -> None:
    read = parse_card(card())
    assert read.insured.ins == with_ins_key(NIR13)
    assert read.insured.sex == "F"
    assert read.insured.birth_name == "FICTIVE"
    assert read.people == (read.insured,)


def test_a_card_file_round_trips() -> None:
    written = VitaleCard(
        CardPerson("FICTIVE", ("Camille",), dt.date(1980, 1, 15), ins=with_ins_key(NIR13)),
        (CardPerson("FICTIVE", ("Lou", "Anne"), dt.date(2015, 4, 2), birth_rank=2),),
        serial="A1B2C3",
    )
    read = parse_card(json.dumps(card_json(written)).encode())
    assert read.beneficiaries[0].ins is None
    assert read.beneficiaries[0].given_names == ("Lou", "Anne")
    assert read.beneficiaries[0].birth_rank == 2
    assert read.serial == "A1B2C3"


def test_the_cli_writes_a_card_the_desk_reads(tmp_path: Path) -> None:
    out = tmp_path / "carte.json"
    result = CliRunner().invoke(
        app,
        [
            "vitale",
            "make",
            "--nir",
            NIR13,
            "--name",
            "FICTIVE Camille",
            "--birth-date",
            "1980-01-15",
            "--beneficiary",
            "FICTIVE Lou;2015-04-02;1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    read = parse_card(out.read_bytes())
    assert [p.display_name for p in read.people] == ["FICTIVE Camille", "FICTIVE Lou"]
    bad = CliRunner().invoke(
        app,
        [
            "vitale",
            "make",
            "--nir",
            "123",
            "--name",
            "X Y",
            "--birth-date",
            "1980-01-15",
            "--out",
            str(out),
        ],
    )
    assert bad.exit_code == 1
