"""The read rules compiled to SQL: which documents of a record a reader may list.

Listing and searching never load every document to filter in Python (docs/architecture.md §5). The
record-level verdict comes from ``policy.decide`` itself (``SEARCH_DOCUMENTS``); the
per-document conditions are compiled from ``policy.read_rules``, the very list ``decide``
evaluates for ``READ_DOCUMENT``. tests/storage/test_document_filter.py holds the two
equal on generated data.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    SQLColumnExpression,
    and_,
    bindparam,
    false,
    not_,
    or_,
    true,
)

from opendmp.domain.actors import Actor, Professional
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.patient_matrix import narrowed_types
from opendmp.domain.policy import Action, Facts, decide, read_rules
from opendmp.domain.policy_rules import DocProperty, DocumentRule
from opendmp.storage.models import Document

Operand = Any  # a value, or a bind parameter standing for one
_DOCUMENT = Document.metadata.tables[
    "document"
].c  # Core columns: a statement made of them skips the ORM layer


def readable_documents(
    *,
    record_id: uuid.UUID,
    actor: Actor,
    facts: Facts,
    matrix: AccessMatrix,
    actor_professional_id: uuid.UUID | None,
    actor_organization_id: uuid.UUID | None,
) -> ColumnElement[bool]:
    """A WHERE condition selecting the documents of ``record_id`` that ``actor`` may read.

    ``facts`` are the record-level facts (its ``document`` is ignored); the ids are the
    actor's professional and organisation rows, None when they have none.
    """
    found = _readers(actor, facts, matrix)
    if found is None:
        return false()
    rules, readable, narrowed = found
    return _compiled(
        rules,
        record_id=record_id,
        readable=sorted(readable) if readable else None,
        narrowed=sorted(narrowed) if narrowed else None,
        professional_id=actor_professional_id,
        organization_id=actor_organization_id,
    )


@dataclass(frozen=True, slots=True)
class BoundFilter:
    """The access filter as a condition with bind parameters, and this request's values."""

    # The condition's shape (the rules, and which values are present): equal keys, the
    # same SQL, so a statement built from ``condition`` can be cached under ``key``.
    key: tuple[Any, ...] | None
    condition: ColumnElement[bool]
    values: dict[str, Any]


def bound_readable_documents(
    *,
    record_id: uuid.UUID,
    actor: Actor,
    facts: Facts,
    matrix: AccessMatrix,
    actor_professional_id: uuid.UUID | None,
    actor_organization_id: uuid.UUID | None,
) -> BoundFilter:
    """``readable_documents``, built once per shape with bind parameters (building the
    condition cost more than running it: docs/benchmarks.md, "The search page")."""
    found = _readers(actor, facts, matrix)
    if found is None:
        return BoundFilter(None, false(), {})
    rules, readable, narrowed = found
    values: dict[str, Any] = {
        "rf_record_id": record_id,
        "rf_readable": _sorted(readable) if readable else None,
        "rf_narrowed": _sorted(narrowed) if narrowed else None,
        "rf_professional_id": actor_professional_id,
        "rf_organization_id": actor_organization_id,
    }
    present = {name: value for name, value in values.items() if value is not None}
    key = (rules, tuple(present))
    return BoundFilter(key, _bound(*key), present)


def _readers(
    actor: Actor, facts: Facts, matrix: AccessMatrix
) -> tuple[tuple[DocumentRule, ...], frozenset[str], frozenset[str]] | None:
    """The rules and the type lists they read, or None when the reader may list nothing."""
    record_facts = replace(facts, document=None)
    if not decide(actor, Action.SEARCH_DOCUMENTS, record_facts).allowed:
        return None
    readable: frozenset[str] = frozenset()
    narrowed: frozenset[str] = frozenset()
    if isinstance(actor, Professional):
        readable = matrix.readable_types(actor.profession, actor.specialty)
        # Only readable types can be narrowed: the others are refused before (§3.6).
        narrowed = narrowed_types(
            matrix, actor.profession, actor.specialty, record_facts.narrowed_categories
        )
    return read_rules(actor, record_facts), readable, narrowed


@functools.lru_cache(maxsize=64)
def _sorted(types: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(types))


_EXPANDING = frozenset({"rf_readable", "rf_narrowed"})


@functools.lru_cache(maxsize=256)
def _bound(rules: tuple[DocumentRule, ...], present: tuple[str, ...]) -> ColumnElement[bool]:
    def param(name: str) -> BindParameter[Any] | None:
        return bindparam(name, expanding=name in _EXPANDING) if name in present else None

    return _compiled(
        rules,
        record_id=param("rf_record_id"),
        readable=param("rf_readable"),
        narrowed=param("rf_narrowed"),
        professional_id=param("rf_professional_id"),
        organization_id=param("rf_organization_id"),
    )


def _compiled(
    rules: tuple[DocumentRule, ...],
    *,
    record_id: Operand,
    readable: Operand | None,
    narrowed: Operand | None,
    professional_id: Operand | None,
    organization_id: Operand | None,
) -> ColumnElement[bool]:
    """The rules as SQL; None stands for an empty list or no id."""

    def has(prop: DocProperty) -> ColumnElement[bool]:
        match prop:
            case DocProperty.TYPE_NOT_READABLE:
                return _DOCUMENT.type_code.not_in(readable) if readable is not None else true()
            case DocProperty.NARROWED:
                return _DOCUMENT.type_code.in_(narrowed) if narrowed is not None else false()
            case DocProperty.MASKED:
                return _DOCUMENT.masked_by_patient.is_(True)
            case DocProperty.INVISIBLE_TO_PATIENT:
                return _DOCUMENT.invisible_to_patient.is_(True)
            case DocProperty.INVISIBLE_TO_REPRESENTATIVES:
                return _DOCUMENT.invisible_to_representatives.is_(True)
            case DocProperty.DELETED:
                return _DOCUMENT.status == "deleted"
            case DocProperty.SUPERSEDED:
                return _DOCUMENT.status == "superseded"
            case DocProperty.AUTHORED_BY_ACTOR:
                return _same(_DOCUMENT.author_professional_id, professional_id)
            case DocProperty.AUTHORED_BY_ACTORS_ORGANIZATION:
                return _same(_DOCUMENT.author_organization_id, organization_id)

    conditions: list[ColumnElement[bool]] = [_DOCUMENT.record_id == record_id]
    for rule in rules:
        # "must not have X unless it has one of Y": NOT X OR Y1 OR Y2 …
        conditions.append(or_(not_(has(rule.forbidden)), *(has(p) for p in rule.unless)))
    return and_(*conditions)


def _same(
    column: SQLColumnExpression[uuid.UUID | None], value: Operand | None
) -> ColumnElement[bool]:
    # A NULL author never matches, and no actor id matches nothing: never compare with NULL.
    if value is None:
        return false()
    return and_(column.is_not(None), column == value)
