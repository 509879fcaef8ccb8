"""The read rules compiled to SQL: which documents of a record a reader may list.

Listing and searching never load every document to filter in Python (docs/architecture.md §5). The
record-level verdict comes from ``policy.decide`` itself (``SEARCH_DOCUMENTS``); the
per-document conditions are compiled from ``policy.read_rules``, the very list ``decide``
evaluates for ``READ_DOCUMENT``. tests/storage/test_document_filter.py holds the two
equal on generated data.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, not_, or_, true

from opendmp.domain.actors import Actor, Professional
from opendmp.domain.matrix import AccessMatrix
from opendmp.domain.patient_matrix import narrowed_types
from opendmp.domain.policy import Action, Facts, decide, read_rules
from opendmp.domain.policy_rules import DocProperty
from opendmp.storage.models import Document


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
    record_facts = replace(facts, document=None)
    if not decide(actor, Action.SEARCH_DOCUMENTS, record_facts).allowed:
        return false()
    readable: frozenset[str] = frozenset()
    narrowed: frozenset[str] = frozenset()
    if isinstance(actor, Professional):
        readable = matrix.readable_types(actor.profession, actor.specialty)
        # Only readable types can be narrowed: the others are refused before (§3.6).
        narrowed = narrowed_types(
            matrix, actor.profession, actor.specialty, record_facts.narrowed_categories
        )

    def has(prop: DocProperty) -> ColumnElement[bool]:
        match prop:
            case DocProperty.TYPE_NOT_READABLE:
                return Document.type_code.not_in(sorted(readable)) if readable else true()
            case DocProperty.NARROWED:
                return Document.type_code.in_(sorted(narrowed)) if narrowed else false()
            case DocProperty.MASKED:
                return Document.masked_by_patient.is_(True)
            case DocProperty.INVISIBLE_TO_PATIENT:
                return Document.invisible_to_patient.is_(True)
            case DocProperty.INVISIBLE_TO_REPRESENTATIVES:
                return Document.invisible_to_representatives.is_(True)
            case DocProperty.DELETED:
                return Document.status == "deleted"
            case DocProperty.SUPERSEDED:
                return Document.status == "superseded"
            case DocProperty.AUTHORED_BY_ACTOR:
                return _same(Document.author_professional_id, actor_professional_id)
            case DocProperty.AUTHORED_BY_ACTORS_ORGANIZATION:
                return _same(Document.author_organization_id, actor_organization_id)

    conditions: list[ColumnElement[bool]] = [Document.record_id == record_id]
    for rule in read_rules(actor, record_facts):
        # "must not have X unless it has one of Y": NOT X OR Y1 OR Y2 …
        conditions.append(or_(not_(has(rule.forbidden)), *(has(p) for p in rule.unless)))
    return and_(*conditions)


def _same(
    column: SQLColumnExpression[uuid.UUID | None], value: uuid.UUID | None
) -> ColumnElement[bool]:
    # A NULL author never matches, and no actor id matches nothing: never compare with NULL.
    if value is None:
        return false()
    return and_(column.is_not(None), column == value)
