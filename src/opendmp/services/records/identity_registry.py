"""Identity check against the reference identities (INSi in production, a local table here).

docs/rules.md §1: the record's key is the person's INS with its identity traits as the INSi
service returns them. Before a record is created, the identity typed at a desk or online
is compared with the registry's: a mismatch stops the creation with a clear message.

Names are compared without accents, case, hyphens or apostrophes (``Léa-Marie`` =
``LEA MARIE``): the Carte Vitale and the keyboard both lose accents, the registry keeps them.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins, parse_ins
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m


@dataclass(frozen=True, slots=True)
class ReferenceIdentity:
    """An identity as the registry holds it (the INS traits)."""

    ins: Ins
    birth_name: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    sex: str
    birth_place_code: str | None = None
    vitale_serial: str | None = None

    @property
    def first_given_name(self) -> str:
        return self.given_names[0]


@dataclass(frozen=True, slots=True)
class IdentityClaim:
    """What the desk or the person typed (or the card gave). ``ins`` may be unknown."""

    birth_name: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    ins_value: str | None = None
    sex: str | None = None
    birth_place_code: str | None = None
    vitale_serial: str | None = None


class IdentityMismatch(InvalidInput):
    """The claimed identity is not the registry's; ``traits`` names what differs (desk)."""

    code = "identity-mismatch"
    http_status = 422

    def __init__(self, message: str, *, traits: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.traits = traits


def fold(text: str | None) -> str:
    """Upper case, no accents, hyphens/apostrophes as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    for sep in "-'’`":
        bare = bare.replace(sep, " ")
    return " ".join(bare.upper().split())


def _reference(row: m.IdentityRegistryEntry) -> ReferenceIdentity:
    return ReferenceIdentity(
        ins=parse_ins(row.ins_value, row.ins_oid),
        birth_name=row.birth_name,
        given_names=tuple(row.given_names.split()),
        birth_date=row.birth_date,
        sex=row.sex,
        birth_place_code=row.birth_place_code,
        vitale_serial=row.vitale_serial,
    )


def _differences(claim: IdentityClaim, ref: ReferenceIdentity) -> tuple[str, ...]:
    problems: list[str] = []
    if fold(claim.birth_name) != fold(ref.birth_name):
        problems.append("birth-name")
    # The first given name must match; further given names, when typed, must be the
    # registry's in the same order (a card often carries only the first).
    typed = fold(" ".join(claim.given_names)).split()
    known = fold(" ".join(ref.given_names)).split()
    if not typed or typed != known[: len(typed)]:
        problems.append("given-names")
    if claim.birth_date != ref.birth_date:
        problems.append("birth-date")
    if claim.sex and claim.sex != ref.sex:
        problems.append("sex")
    if (
        claim.birth_place_code
        and ref.birth_place_code
        and claim.birth_place_code.strip().upper() != ref.birth_place_code.upper()
    ):
        problems.append("birth-place")
    return tuple(problems)


async def verify_identity(
    ctx: ServiceContext, claim: IdentityClaim, *, detailed: bool = True
) -> ReferenceIdentity:
    """The registry's identity for ``claim``, or ``IdentityMismatch``.

    With an INS, the registry entry of that INS must carry the same traits. Without one
    (a child on a parent's card), birth name, first given name and birth date must point
    to exactly one person. ``detailed=False`` (online, anonymous) says only *that* the
    identity does not match, not which trait: the answer must not help guess a stranger's.
    """
    async with ctx.uow() as uow:
        if claim.ins_value:
            ins_value = "".join(claim.ins_value.split()).replace(".", "").upper()
            rows: Iterable[m.IdentityRegistryEntry] = (
                await uow.session.execute(
                    select(m.IdentityRegistryEntry).where(
                        m.IdentityRegistryEntry.ins_value == ins_value
                    )
                )
            ).scalars()
        else:
            rows = (
                await uow.session.execute(
                    select(m.IdentityRegistryEntry).where(
                        m.IdentityRegistryEntry.birth_date == claim.birth_date
                    )
                )
            ).scalars()
        candidates = [_reference(row) for row in rows]
    generic = (
        "this identity does not match the national identity registry (INSi): check the "
        "birth name, the given names, the birth date and the INS"
    )
    if claim.ins_value:
        if not candidates:
            raise IdentityMismatch(
                "this INS is not known to the identity registry" if detailed else generic,
                traits=("ins",) if detailed else (),
            )
        ref = candidates[0]
        differences = _differences(claim, ref)
        if differences:
            raise IdentityMismatch(
                f"the identity differs from the registry on: {', '.join(differences)}"
                if detailed
                else generic,
                traits=differences if detailed else (),
            )
    else:
        matches = [c for c in candidates if not _differences(claim, c)]
        if len(matches) != 1:
            raise IdentityMismatch(
                "no single person of the identity registry has these traits: type the INS"
                if detailed
                else generic,
                traits=("ins",) if detailed else (),
            )
        ref = matches[0]
    if claim.vitale_serial is not None and (
        ref.vitale_serial is None or fold(claim.vitale_serial) != fold(ref.vitale_serial)
    ):
        raise IdentityMismatch(
            "the Carte Vitale number does not match this identity" if detailed else generic,
            traits=("vitale-serial",) if detailed else (),
        )
    return ref


async def register_identities(ctx: ServiceContext, people: Iterable[ReferenceIdentity]) -> int:
    """Add or refresh registry entries (demo and tests); returns how many were added."""
    now = ctx.now()
    added = 0
    async with ctx.uow() as uow:
        for person in people:
            row = (
                await uow.session.execute(
                    select(m.IdentityRegistryEntry).where(
                        m.IdentityRegistryEntry.ins_value == person.ins.value
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = m.IdentityRegistryEntry(id=uuid.uuid4(), ins_value=person.ins.value)
                uow.session.add(row)
                added += 1
            row.ins_oid = person.ins.oid
            row.birth_name = person.birth_name.upper()
            row.given_names = " ".join(person.given_names)
            row.birth_date = person.birth_date
            row.sex = person.sex
            row.birth_place_code = person.birth_place_code
            row.vitale_serial = person.vitale_serial
            row.updated_at = now
        await uow.commit()
    return added
