"""The patient's own matrix (docs/rules.md §3.6): show and change her narrowings.

The patient (or her legal representative) takes document categories away from professions
(``domain.patient_matrix``); the policy and the SQL filter apply them (``facts`` reads them
for the reader). Only what the official matrix allows may be taken away or given back: any
other request is refused whole (``matrix-widening-refused``), nothing changed. Every change
is one audit event listing what was taken away and given back, so the history shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.patient_matrix import Narrowing, check_narrowing, offered_categories
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import Guarded, guarded
from opendmp.storage import models as m


@dataclass(frozen=True, slots=True)
class ProfessionChoice:
    """One profession of the official matrix: what the patient may take away, what she did."""

    profession: str
    offered: tuple[str, ...]  # categories the matrix lets the profession read
    narrowed: frozenset[str]  # those the patient took away (whole profession)


@dataclass(frozen=True, slots=True)
class MatrixChoices:
    professions: tuple[ProfessionChoice, ...]  # in profession code order
    narrowings: tuple[Narrowing, ...]  # every narrowing, specialty ones included

    def narrowed(self, profession: str, category: str) -> bool:
        return Narrowing(profession, None, category) in self.narrowings


def _key(n: Narrowing) -> str:
    return f"{n.profession}/{n.specialty or '*'}/{n.category}"


async def _narrowings(session: AsyncSession, record: m.Record) -> frozenset[Narrowing]:
    n = m.MatrixNarrowing
    rows = await session.execute(
        select(n.profession, n.specialty, n.category).where(n.record_id == record.id)
    )
    return frozenset(Narrowing(p, s or None, c) for p, s, c in rows)


def _choices(matrix: AccessMatrix, narrowings: frozenset[Narrowing]) -> MatrixChoices:
    professions = tuple(
        ProfessionChoice(
            profession,
            offered_categories(matrix, profession),
            frozenset(
                n.category for n in narrowings if n.profession == profession and n.specialty is None
            ),
        )
        for profession in sorted(matrix.professions())
    )
    return MatrixChoices(professions, tuple(sorted(narrowings, key=_key)))


async def show_matrix_choices(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> MatrixChoices:
    """The professions of the official matrix, what each may lose, what the patient chose.
    Whoever may change them may read them (same policy action); audited."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.NARROW_MATRIX,
        audit_action=AuditAction.MATRIX_READ,
        audit_unknown_record=True,
    ) as g:
        choices = _choices(ctx.matrix, await _narrowings(g.session, g.record))
        await g.audit_allowed(AuditAction.MATRIX_READ)
        await g.uow.commit()
        return choices


async def set_matrix_narrowings(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, narrowings: Iterable[Narrowing]
) -> MatrixChoices:
    """Replace the record's narrowings by ``narrowings`` (empty: back to the official
    matrix). Each must narrow what the matrix allows, or nothing changes
    (``matrix-widening-refused``, ``unknown-category``, ``unknown-profession``)."""
    wanted = frozenset(narrowings)
    for narrowing in wanted:
        check_narrowing(ctx.matrix, narrowing)
    return await _replace(ctx, actor=actor, ins=ins, wanted=wanted, scope=lambda _: True)


async def set_profession_reading(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, profession: str, readable: Iterable[str]
) -> MatrixChoices:
    """The portal's form for one profession: it keeps reading the ``readable`` categories of
    those the matrix offers and loses the others (its specialty narrowings are kept). A
    category the matrix does not offer is refused (``matrix-widening-refused``)."""
    if profession not in ctx.matrix.professions():
        raise InvalidInput(
            f"the access matrix has no profession {profession!r}", code="unknown-profession"
        )
    offered = offered_categories(ctx.matrix, profession)
    keep = frozenset(readable)
    if not keep <= set(offered):
        raise InvalidInput(
            "a category the access matrix refuses to this profession cannot be given to it",
            code="matrix-widening-refused",
        )
    wanted = frozenset(Narrowing(profession, None, c) for c in offered if c not in keep)
    return await _replace(
        ctx,
        actor=actor,
        ins=ins,
        wanted=wanted,
        scope=lambda n: n.profession == profession and n.specialty is None,
    )


async def _replace(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    wanted: frozenset[Narrowing],
    scope: Callable[[Narrowing], bool],
) -> MatrixChoices:
    """Make the narrowings within ``scope`` exactly ``wanted``; one audit event."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.NARROW_MATRIX,
        audit_action=AuditAction.MATRIX_SET,
        for_update=True,
        audit_unknown_record=True,
    ) as g:
        every = await _narrowings(g.session, g.record)
        current = frozenset(n for n in every if scope(n))
        added, removed = wanted - current, current - wanted
        await _apply(g, added, removed)
        await g.audit_allowed(
            AuditAction.MATRIX_SET,
            {
                "narrowed": sorted(map(_key, added)),
                "restored": sorted(map(_key, removed)),
                "changed": bool(added or removed),
            },
        )
        await g.uow.commit()
        return _choices(ctx.matrix, (every - removed) | added)


async def _apply(g: Guarded, added: frozenset[Narrowing], removed: frozenset[Narrowing]) -> None:
    n = m.MatrixNarrowing
    for gone in removed:
        await g.session.execute(
            delete(n).where(
                n.record_id == g.record.id,
                n.profession == gone.profession,
                n.specialty == (gone.specialty or ""),
                n.category == gone.category,
            )
        )
    if added:
        await g.session.execute(
            insert(n),
            [
                {
                    "record_id": g.record.id,
                    "profession": new.profession,
                    "specialty": new.specialty or "",
                    "category": new.category,
                    "narrowed_by_kind": g.actor.kind.value,
                    "narrowed_at": g.now,
                }
                for new in sorted(added, key=_key)
            ],
        )
