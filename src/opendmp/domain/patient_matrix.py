"""The patient's own matrix (docs/rules.md §3.6): she narrows what a profession may read.

The official matrix (``domain.matrix``) says which document types a profession [+ specialty]
may read; the patient may take whole *categories* of documents away from a profession (no
mental-health documents for pharmacists), never give one more than the matrix does. A
category is a set of document types: the sensitive ones named here (mental health,
genetics), the others by the type's class (TRE_A03), and ``other`` for a type OpenDMP does
not know (an official matrix loaded as-is may name some). A narrowing names a profession
and, optionally, a specialty (the matrix is keyed the same way): without one it binds the
whole profession.

Narrowing only removes: the types a reader loses are the matrix's readable types whose
category the patient took away (``narrowed_types``), so a narrowing can never widen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opendmp.domain.codes import DOCUMENT_TYPES
from opendmp.domain.errors import InvalidInput
from opendmp.domain.matrix import AccessMatrix

# Sensitive types with a category of their own, whatever their class.
_SENSITIVE: dict[str, str] = {
    "68599-0": "mental-health",  # synthèse psychiatrique
    "51969-4": "genetics",  # CR de génétique moléculaire
}
_BY_CLASS: dict[str, str] = {
    "10": "reports",
    "11": "syntheses",
    "31": "imaging",
    "42": "prescriptions",
    "43": "dispensations",
    "44": "care-plans",
    "52": "certificates",
    "60": "reimbursement",
    "90": "patient-documents",
    "95": "management",
}
OTHER = "other"
# In the order the portal shows them: the sensitive ones first.
CATEGORIES: tuple[str, ...] = ("mental-health", "genetics", *_BY_CLASS.values(), OTHER)


def category_of(type_code: str) -> str:
    """The category of a document type (``other`` for a type OpenDMP does not know)."""
    sensitive = _SENSITIVE.get(type_code)
    if sensitive is not None:
        return sensitive
    known = DOCUMENT_TYPES.get(type_code)
    if known is None:
        return OTHER
    return _BY_CLASS.get(known.class_code, OTHER)


@dataclass(frozen=True, slots=True, order=True)
class Narrowing:
    """The patient takes ``category`` away from ``profession`` [+ ``specialty``]."""

    profession: str
    specialty: str | None
    category: str

    def binds(self, profession: str | None, specialty: str | None) -> bool:
        return profession == self.profession and self.specialty in (None, specialty)


def narrowed_categories(
    narrowings: Iterable[Narrowing], profession: str | None, specialty: str | None
) -> frozenset[str]:
    """The categories the patient took away from this reader."""
    return frozenset(n.category for n in narrowings if n.binds(profession, specialty))


def narrowed_types(
    matrix: AccessMatrix, profession: str | None, specialty: str | None, categories: frozenset[str]
) -> frozenset[str]:
    """The types the matrix lets this reader read but the patient's narrowing takes away."""
    if not categories:
        return frozenset()
    readable = matrix.readable_types(profession, specialty)
    return frozenset(t for t in readable if category_of(t) in categories)


def offered_categories(
    matrix: AccessMatrix, profession: str, specialty: str | None = None
) -> tuple[str, ...]:
    """The categories the patient may take away: those the matrix lets the reader read."""
    readable = {category_of(t) for t in matrix.readable_types(profession, specialty)}
    return tuple(c for c in CATEGORIES if c in readable)


def check_narrowing(matrix: AccessMatrix, narrowing: Narrowing) -> None:
    """Refuse what is not a narrowing of the matrix (an unknown profession or category, or a
    category the matrix already refuses: taking it away or giving it back would widen)."""
    if narrowing.category not in CATEGORIES:
        raise InvalidInput(
            f"unknown document category {narrowing.category!r}", code="unknown-category"
        )
    if narrowing.profession not in matrix.professions():
        raise InvalidInput(
            f"the access matrix has no profession {narrowing.profession!r}",
            code="unknown-profession",
        )
    offered = offered_categories(matrix, narrowing.profession, narrowing.specialty)
    if narrowing.category not in offered:
        raise InvalidInput(
            "the access matrix already refuses this category to this profession: "
            "the patient may only narrow what it allows, never widen it",
            code="matrix-widening-refused",
        )
