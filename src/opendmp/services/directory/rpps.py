"""Loading the public RPPS extract of the Annuaire Santé into the directory
(``opendmp directory import``, docs/operations.md, "The professional directory").

The file is the open-data ``PS_LibreAcces_Personne_activite`` extract: UTF-8, one header
line of French column names, ``|`` between fields (and after the last one), one line per
activity of a professional — a professional practising at two sites has two lines. Columns
are found by their header name, so columns added or moved by a later version of the extract
do not matter; ``COLUMNS`` lists the ones read.

The import streams the file (about two million lines: never held whole) in batches of
``BATCH_LINES`` lines, each batch one transaction: professionals are upserted by their
national identifier (``Identification nationale PP``, the IdNat_PS: ``8`` + RPPS), their
sites merged. A *full* extract (the default) then marks inactive — never deletes: blocks
and authorisations name them — the professionals an earlier import listed and this one did
not; a *partial* file only adds and updates. A line that cannot be read is counted and
reported by number and reason (never its content), and skipped. An interrupted import
leaves the batches it committed (run it again: it converges) and marks nobody inactive.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import NewEvent, append
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidIdentifier, InvalidInput
from opendmp.domain.identifiers import parse_idnat_ps
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory.search import family_keys, fold, words_key
from opendmp.storage import models as m

# The columns read, by the extract's header names.
COLUMNS = {
    "id_type": "Type d'identifiant PP",
    "id": "Identifiant PP",
    "idnat": "Identification nationale PP",
    "family": "Nom d'exercice",
    "given": "Prénom d'exercice",
    "profession": "Code profession",
    "specialty": "Code savoir-faire",
    "postal_code": "Code postal (coord. structure)",
    "town": "Libellé commune (coord. structure)",
}
SEPARATOR = b"|"
BATCH_LINES = 2000
# Bad lines kept with their number and reason in the report; the others are counted.
SHOWN_BAD_LINES = 20
# Above this share of bad lines a full extract is suspect (truncated, another file): nobody
# is marked inactive.
MAX_BAD_SHARE = 0.01

Progress = Callable[[int, int], None]


class BadLine(Exception):
    """A line of the extract that cannot be read; its message is the reason."""


@dataclass(frozen=True, slots=True)
class RppsLine:
    """One activity line: who, and where they practise."""

    idnat: str
    family: str
    given: str
    profession: str | None
    specialty: str | None
    town: str | None
    postal_code: str | None


@dataclass
class ImportReport:
    lines: int = 0  # data lines read (the header excluded)
    professionals: int = 0  # distinct professionals listed by the file
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    reactivated: int = 0  # listed again after an extract had dropped them
    inactivated: int = 0
    bad_lines: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    full: bool = True
    inactivation_skipped: bool = False  # full, but too many bad lines to trust it

    def bad(self, number: int, reason: str) -> None:
        self.bad_lines += 1
        if len(self.bad_examples) < SHOWN_BAD_LINES:
            self.bad_examples.append((number, reason))

    def summary(self) -> dict[str, Any]:
        """The counts (the audit event's details)."""
        return {
            "lines": self.lines,
            "professionals": self.professionals,
            "created": self.created,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "reactivated": self.reactivated,
            "inactivated": self.inactivated,
            "bad_lines": self.bad_lines,
            "full": self.full,
            "inactivation_skipped": self.inactivation_skipped,
        }


# --- reading -----------------------------------------------------------------------------


def _cells(raw: bytes) -> list[str]:
    text = raw.decode("utf-8").rstrip("\r\n")
    cells = text.split("|")
    if len(cells) > 1 and cells[-1] == "":
        cells.pop()  # the extract ends every line with a separator
    return [cell.strip() for cell in cells]


def read_header(raw: bytes) -> tuple[dict[str, int], int]:
    """The position of each column of ``COLUMNS`` and the number of columns."""
    try:
        names = _cells(raw.removeprefix(b"\xef\xbb\xbf"))
    except UnicodeDecodeError:
        names = []
    missing = [title for title in COLUMNS.values() if title not in names]
    if missing:
        raise InvalidInput(
            "not an RPPS extract (PS_LibreAcces_Personne_activite, UTF-8, '|'-separated):"
            f" its header lacks the column {missing[0]!r}",
            code="rpps-not-an-extract",
        )
    return {key: names.index(title) for key, title in COLUMNS.items()}, len(names)


def _optional(value: str, longest: int) -> str | None:
    return value[:longest] if value else None


def parse_line(raw: bytes, positions: dict[str, int], width: int) -> RppsLine:
    """One data line, or ``BadLine`` with the reason."""
    try:
        cells = _cells(raw)
    except UnicodeDecodeError:
        raise BadLine("not UTF-8") from None
    if len(cells) != width:
        raise BadLine(f"{len(cells)} fields, the header has {width}")
    value = {key: cells[index] for key, index in positions.items()}
    if value["idnat"] != value["id_type"] + value["id"]:
        raise BadLine("the national identifier is not the type followed by the identifier")
    try:
        idnat = parse_idnat_ps(value["idnat"]).idnat
    except InvalidIdentifier as error:
        raise BadLine(error.message) from None
    if not fold(value["family"]):
        raise BadLine("no family name")
    profession = value["profession"]
    if profession and not (profession.isdigit() and len(profession) <= 8):
        raise BadLine("the profession code is not a TRE_G15 code")
    return RppsLine(
        idnat=idnat,
        family=value["family"][:128],
        given=value["given"][:128],
        profession=profession or None,
        specialty=_optional(value["specialty"], 64),
        town=_optional(value["town"], 128),
        postal_code=_optional(value["postal_code"], 16),
    )


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InvalidInput(
            f"cannot read {path}: {reason.lower()}", code="rpps-file-unreadable"
        ) from None


# --- writing -------------------------------------------------------------------------------


@dataclass
class _Person:
    """A professional's lines in one batch."""

    line: RppsLine
    places: list[str]

    def add(self, line: RppsLine) -> None:
        if self.line.specialty is None and line.specialty:
            self.line = replace(self.line, specialty=line.specialty)
        place = words_key(line.town, line.postal_code)
        if place and place not in self.places:
            self.places.append(place)


def _merged_places(known: str, places: list[str]) -> str:
    merged = known
    for place in places:
        if place not in merged:
            merged += place
    return merged[:512]


@dataclass(frozen=True, slots=True)
class _Run:
    id: uuid.UUID
    now: dt.datetime


def _listed(person: _Person, run: _Run) -> dict[str, Any]:
    line = person.line
    return {
        "family_name": line.family,
        "given_name": line.given,
        "profession": line.profession,
        "specialty": line.specialty,
        "town": line.town,
        "postal_code": line.postal_code,
        **family_keys(line.family),
        "name_key": words_key(line.family, line.given)[:255],
        "place_key": _merged_places("", person.places),
        "active": True,
        "listing_id": run.id,
        "listed_at": run.now,
    }


def _same(row: Any, values: dict[str, Any]) -> bool:
    compared = ("family_name", "given_name", "profession", "specialty", "town", "postal_code")
    return all(getattr(row, name) == values[name] for name in compared) and row.active


async def _write_batch(
    session: AsyncSession, batch: dict[str, _Person], run: _Run, report: ImportReport
) -> None:
    pro = m.Professional
    rows = {
        row.idnat: row
        for row in (
            await session.execute(
                select(
                    pro.id,
                    pro.idnat,
                    pro.listing_id,
                    pro.active,
                    pro.family_name,
                    pro.given_name,
                    pro.profession,
                    pro.specialty,
                    pro.town,
                    pro.postal_code,
                    pro.place_key,
                ).where(pro.idnat.in_(list(batch)))
            )
        ).all()
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for idnat, person in batch.items():
        row = rows.get(idnat)
        values = _listed(person, run)
        if row is None:
            report.created += 1
            report.professionals += 1
            inserts.append(
                {
                    **values,
                    "id": uuid.uuid4(),
                    "idnat": idnat,
                    "card_kind": "CPS",
                    "created_at": run.now,
                }
            )
        elif row.listing_id == run.id:
            # Met in an earlier batch of this import: another site of theirs.
            updates.append(
                {
                    "id": row.id,
                    "place_key": _merged_places(row.place_key, person.places),
                    "specialty": row.specialty or person.line.specialty,
                    "town": row.town or person.line.town,
                    "postal_code": row.postal_code or person.line.postal_code,
                }
            )
        else:
            report.professionals += 1
            if not row.active:
                report.reactivated += 1
            if _same(row, values):
                report.unchanged += 1
            else:
                report.changed += 1
            updates.append({**values, "id": row.id})
    if inserts:
        await session.execute(insert(pro), inserts)
    if updates:
        await session.execute(update(pro), updates)


def _batches(
    handle: BinaryIO, header: bytes, report: ImportReport
) -> Iterator[tuple[dict[str, _Person], int]]:
    """The file's professionals, ``BATCH_LINES`` lines at a time, with the bytes read."""
    positions, width = read_header(header)
    batch: dict[str, _Person] = {}
    read = len(header)
    for number, raw in enumerate(handle, start=2):
        read += len(raw)
        if not raw.strip():
            continue
        report.lines += 1
        try:
            line = parse_line(raw, positions, width)
        except BadLine as bad:
            report.bad(number, str(bad))
            continue
        found = batch.get(line.idnat)
        if found is None:
            place = words_key(line.town, line.postal_code)
            batch[line.idnat] = _Person(line, [place] if place else [])
        else:
            found.add(line)
        if report.lines % BATCH_LINES == 0:
            yield batch, read
            batch = {}
    yield batch, read


async def import_rpps(
    ctx: ServiceContext,
    *,
    actor: Actor,
    path: Path,
    full: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Load an RPPS extract into the directory (module docstring); the report counts what
    happened. Written as one audit event (``directory:rpps:import``) with the counts."""
    report = ImportReport(full=full)
    run = _Run(uuid.uuid4(), ctx.now())
    with _open(path) as handle:
        total = path.stat().st_size
        for batch, read in _batches(handle, handle.readline(), report):
            if batch:
                async with ctx.uow() as uow:
                    await _write_batch(uow.session, batch, run, report)
                    await uow.commit()
            if progress is not None:
                progress(read, total)
    if report.professionals == 0:
        raise InvalidInput(
            f"the extract holds no readable line ({report.bad_lines} bad lines)",
            code="rpps-no-valid-line",
        )
    async with ctx.uow() as uow:
        if full and report.bad_lines > MAX_BAD_SHARE * report.lines:
            report.inactivation_skipped = True
        elif full:
            report.inactivated = await _inactivate_unlisted(uow.session, run)
        await append(
            uow.session,
            NewEvent(
                action=AuditAction.DIRECTORY_IMPORT,
                actor=actor,
                time=ctx.now(),
                details=report.summary(),
            ),
        )
        await uow.commit()
    return report


async def _inactivate_unlisted(session: AsyncSession, run: _Run) -> int:
    """Mark inactive whom an earlier import listed and this full extract did not."""
    pro = m.Professional
    result = await session.execute(
        update(pro)
        .where(pro.listing_id.is_not(None), pro.listing_id != run.id, pro.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
