"""The operator's CSV of beneficiaries to announce (``opendmp record announce --file``).

One row per beneficiary, a header row naming the columns (any order; docs/operations.md,
"Opt-out opening"):

``ins`` (matricule INS, or ``OID|value``), ``birth_name``, ``given_names`` (space
separated), ``birth_date`` (YYYY-MM-DD), ``sex`` (F or M), ``email``, ``postal_address``
(lines separated by ``|`` or by line breaks in the quoted cell). An e-mail address or a
postal address is required: the notice goes by e-mail when there is one, else by letter.

A bad row is reported with its line number and skipped; the others are imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins, parse_ins_reference

COLUMNS = ("ins", "birth_name", "given_names", "birth_date", "sex", "email", "postal_address")
REQUIRED = ("ins", "birth_name", "given_names", "birth_date", "sex")
MAX_ROWS = 200_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Beneficiary:
    line: int  # in the file, the header being line 1
    ins: Ins
    birth_name: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    sex: str
    email: str | None
    postal_address: tuple[str, ...]  # the letter's address block; never stored


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    message: str


def read_beneficiaries(
    text: str, *, default_oid: str, today: dt.date
) -> tuple[list[Beneficiary], list[RowProblem]]:
    """The file's good rows and its bad ones (line, reason). A file without the required
    columns is refused as a whole (``InvalidInput`` ``invalid-announce-file``)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvalidInput(
            f"the file's header lacks the column(s) {', '.join(missing)}; expected "
            f"{','.join(COLUMNS)}",
            code="invalid-announce-file",
        )
    good: list[Beneficiary] = []
    bad: list[RowProblem] = []
    line = reader.line_num + 1  # where the next row starts (a quoted cell may span lines)
    for row in reader:  # csv.reader, unlike DictReader, yields blank lines: lines stay true
        if len(good) + len(bad) >= MAX_ROWS:
            raise InvalidInput(
                f"a file holds at most {MAX_ROWS} rows: split it", code="invalid-announce-file"
            )
        cells = {name: value.strip() for name, value in zip(header, row, strict=False)}
        if any(cells.values()):
            try:
                good.append(_beneficiary(line, cells, default_oid=default_oid, today=today))
            except InvalidInput as problem:
                bad.append(RowProblem(line, problem.message))
        line = reader.line_num + 1
    return good, bad


def _beneficiary(
    line: int, cells: dict[str, str], *, default_oid: str, today: dt.date
) -> Beneficiary:
    problems = [f"{name} is empty" for name in REQUIRED if not cells.get(name)]
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-row")
    ins = parse_ins_reference(cells["ins"], default_oid)
    try:
        born = dt.date.fromisoformat(cells["birth_date"])
    except ValueError:
        raise InvalidInput(
            f"birth_date {cells['birth_date']!r} is not YYYY-MM-DD", code="invalid-row"
        ) from None
    if born > today or born.year < 1890:
        problems.append("birth_date is in the future or before 1890")
    sex = cells["sex"].upper()
    if sex not in {"F", "M"}:
        problems.append(f"sex must be F or M, got {cells['sex']!r}")
    email = cells.get("email") or None
    if email and not _EMAIL.match(email):
        problems.append("email is not a valid address")
    address = tuple(
        part.strip() for part in re.split(r"[|\n]", cells.get("postal_address", "")) if part.strip()
    )
    if not email and len(address) < 2:
        problems.append("an email or a postal_address (at least two lines) is required")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-row")
    return Beneficiary(
        line=line,
        ins=ins,
        birth_name=cells["birth_name"],
        given_names=tuple(cells["given_names"].split()),
        birth_date=born,
        sex=sex,
        email=email,
        postal_address=address,
    )
