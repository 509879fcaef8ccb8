"""Finding professionals by name, profession and town in the directory the RPPS extract
fills (``services.directory.rpps``): what the patient portal offers instead of typing an
IdNat_PS (docs/portals.md, "Finding a professional").

The search is indexed on both databases: names and towns are folded once, on import
(``fold``: no accents, no case, letters and digits only), and a query is a few ranges of
the three indexes on the folded family name taken from its first, second and third word
(``family_keys``: "LE GALL" is found by "le" and by "gall") — one range per word of the
query and index, so "jean dupont" finds DUPONT Jean — then filtered on the folded full
name, profession and town. A query needs two letters of a name and returns at most
``RESULT_LIMIT`` professionals: the directory answers a question, it is never listed whole.
Only professionals the last extract listed (and did not drop) are found.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.errors import InvalidInput
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m

RESULT_LIMIT = 20
MIN_NAME_LETTERS = 2
MAX_WORDS = 4


def fold(text: str) -> str:
    """``text`` for searching: accents and case removed, every run of other characters
    (spaces, hyphens, apostrophes) one space. "Lefèvre-D'Arc" → "lefevre d arc"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        c if c.isascii() and c.isalnum() else " "
        for c in decomposed
        if not unicodedata.combining(c)
    )
    return " ".join(kept.split())


def words_key(*parts: str | None) -> str:
    """The folded words of ``parts``, each after a space: ``LIKE '% word%'`` finds a word
    start."""
    folded = " ".join(fold(part) for part in parts if part)
    return f" {folded}" if folded else ""


KEY_COLUMNS = ("family_key", "family_key_2", "family_key_3")


def family_keys(family_name: str) -> dict[str, str]:
    """The three indexed search keys, by column: the folded family name from its first,
    second and third word ("" when it has fewer)."""
    words = fold(family_name).split()
    return {column: " ".join(words[start:])[:128] for start, column in enumerate(KEY_COLUMNS)}


def _after(prefix: str) -> str:
    # The smallest string greater than every string starting with ``prefix`` (ASCII keys).
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, slots=True)
class DirectoryQuery:
    """What a patient typed: a name (family name, or family and given names in any
    order), and optionally a profession (TRE_G15 code) and a town or postal code."""

    name: str
    profession: str | None = None
    town: str | None = None

    def words(self) -> list[str]:
        words = fold(self.name).split()[:MAX_WORDS]
        if sum(len(w) for w in words) < MIN_NAME_LETTERS:
            raise InvalidInput(
                f"type at least {MIN_NAME_LETTERS} letters of a name", code="directory-query-short"
            )
        return words


@dataclass(frozen=True, slots=True)
class DirectoryHit:
    """A professional as the search shows them (the IdNat_PS is what the rules keep)."""

    idnat: str
    family_name: str
    given_name: str
    profession: str | None
    specialty: str | None
    town: str | None
    postal_code: str | None

    @property
    def name(self) -> str:
        return f"{self.family_name} {self.given_name}".strip()


@dataclass(frozen=True, slots=True)
class DirectoryResults:
    hits: list[DirectoryHit]
    more: bool  # more than ``RESULT_LIMIT`` matched: the patient should say more


def _conditions(query: DirectoryQuery) -> list[ColumnElement[bool]]:
    pro = m.Professional
    words = query.words()
    found: list[ColumnElement[bool]] = [
        or_(
            *(
                and_(key >= word, key < _after(word))
                for word in words
                for key in (getattr(pro, column) for column in KEY_COLUMNS)
            )
        ),
        *(pro.name_key.like(f"% {w}%") for w in words),
        pro.listing_id.is_not(None),
        pro.active.is_(True),
    ]
    if query.profession:
        found.append(pro.profession == query.profession)
    for word in fold(query.town or "").split()[:MAX_WORDS]:
        found.append(pro.place_key.like(f"% {word}%"))
    return found


async def search_directory(ctx: ServiceContext, query: DirectoryQuery) -> DirectoryResults:
    """At most ``RESULT_LIMIT`` active professionals matching ``query``, by name.

    The directory is public data (the RPPS extract is open data): reading it touches no
    record, so it is neither a policy decision nor an audit event; the portal only offers
    it to a signed-in holder of a record."""
    pro = m.Professional
    statement = (
        select(
            pro.idnat,
            pro.family_name,
            pro.given_name,
            pro.profession,
            pro.specialty,
            pro.town,
            pro.postal_code,
        )
        .where(*_conditions(query))
        .order_by(pro.family_key, pro.name_key, pro.idnat)
        .limit(RESULT_LIMIT + 1)
    )
    async with ctx.uow() as uow:
        rows = (await uow.session.execute(statement)).all()
    hits = [DirectoryHit(*row) for row in rows[:RESULT_LIMIT]]
    return DirectoryResults(hits, more=len(rows) > RESULT_LIMIT)


async def directory_names(session: AsyncSession, idnats: Iterable[str]) -> dict[str, str]:
    """The directory's names of these professionals (family then given name), by IdNat_PS:
    to name the authors and actors a credential or a document left unnamed."""
    wanted = sorted(set(idnats))
    if not wanted:
        return {}
    rows = await session.execute(
        select(m.Professional.idnat, m.Professional.family_name, m.Professional.given_name).where(
            m.Professional.idnat.in_(wanted)
        )
    )
    return {
        idnat: f"{family} {given}".strip()
        for idnat, family, given in rows
        if family and family != idnat
    }


async def professional_names(ctx: ServiceContext, idnats: Iterable[str]) -> dict[str, str]:
    """``directory_names`` in a transaction of its own (the portals' pages)."""
    async with ctx.uow() as uow:
        return await directory_names(uow.session, idnats)
