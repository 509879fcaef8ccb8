"""The record-id rule (docs/database.md): every statement on a per-record table names the
record it is about, so that PostgreSQL prunes the table's hash partitions to one and the
schema can later be distributed by record id (Citus) without a redesign.

The few statements that are global by nature carry a marker comment naming their reason,
``/* global: <reason> */``, from :func:`global_query`; ``GLOBAL_QUERIES`` is the one list of
those reasons. The test suite checks every statement it issues against this rule
(tests/record_scope.py).
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.sql.selectable import HasPrefixes

# The tables hash-partitioned by record id on PostgreSQL (migration 0011).
PARTITIONED_TABLES = (
    "audit_event",
    "authorization",
    "consent",
    "delegation",
    "document",
    "emergency_access",
    "matrix_narrowing",
    "representative",
    "submission_set",
    "treating_doctor",
)
# How many hash partitions each of them has (migration 0011; a change needs a migration).
PARTITIONS = 16

# Reasons a statement may read or write per-record tables without naming one record.
GLOBAL_QUERIES: dict[str, str] = {
    "directory": "a professional's records: authorisations, blocks, treating-doctor links",
    "audit-verify": "events without a chain head, across every chain",
    "backup": "a backup's snapshot, its verification and restore: the whole database",
    "audit-sequencer": "the sequencer's work list: the chains holding unchained events",
    "migration": "schema migrations copying whole tables (migration 0011)",
    "delegation": "an invitation found by its one-time code; the records a caregiver acts for",
    "document-lookup": "the record of a document addressed by its id, entryUUID or uniqueId",
}

S = TypeVar("S", bound=HasPrefixes)


def global_query(statement: S, reason: str) -> S:
    """``statement`` marked as global for ``reason`` (one of ``GLOBAL_QUERIES``)."""
    if reason not in GLOBAL_QUERIES:
        raise ValueError(f"not an allowed global query: {reason}")
    return statement.prefix_with(f"/* global: {reason} */")


def global_marker(reason: str) -> str:
    """The marker comment of a global raw SQL statement (``text()``)."""
    if reason not in GLOBAL_QUERIES:
        raise ValueError(f"not an allowed global query: {reason}")
    return f"/* global: {reason} */"
